"""Schema of a workload YAML: an RNN-T with optional external LMs, its precision, and the decoding search."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field, field_validator, model_validator

from accelsim.spec.base import FrameShift, Strict, Text
from accelsim.spec.limits import MAX_FRAMES, show, show_names
from accelsim.spec.layers import LAYER_KINDS
from accelsim.spec.precision import BITS, CODEBOOK_QUANTIZERS, PRESETS, QUANTIZERS, NETWORK_GROUPS
from accelsim.spec.serving import ServingSpec

Frames = Annotated[int, Field(gt=0, le=MAX_FRAMES)]
"""Encoder frames of one utterance: 1 to 100,000 (MAX_FRAMES)."""


def _not_bool(value: object) -> object:
    """``true`` equals 1, so a Literal of bit widths would take it: refuse it first."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number of bits, one of {list(BITS)}, got {value!r}")
    return value


Bits = Annotated[Literal[BITS], BeforeValidator(_not_bool)]  # type: ignore[valid-type]

Layer = Annotated[Union[tuple(LAYER_KINDS.values())], Field(discriminator="kind")]  # type: ignore[valid-type]


class NetworkSpec(Strict):
    """A network: an ordered list of layers, each feeding the next."""

    layers: list[Layer] = Field(min_length=1, max_length=1_000,
                                description="Layers in order (at most 1,000); see accelsim/spec/layers.py for kinds.")


class ModelSpec(Strict):
    """The RNN-T (encoder, prediction, joint) and the external LMs of density-ratio fusion."""

    vocab: int = Field(ge=2, le=65_536, description="Output symbols of the joint network, blank included: 2 (blank and one "
                       "label) to 65,536.")
    encoder: NetworkSpec = Field(description="Acoustic encoder: runs once over all frames of the utterance.")
    prediction: NetworkSpec = Field(description="Prediction network: runs once per new label prefix during decoding.")
    joint: NetworkSpec = Field(description="Joint network: combines encoder and prediction outputs for every active hypothesis.")
    lm_ext: NetworkSpec | None = Field(None, description="External LM (LM_EXT); needed when decoding.lm_fusion is true.")
    lm_src: NetworkSpec | None = Field(None, description="Source-domain LM (LM_SRC); needed when decoding.lm_fusion is true.")


class LayerPrecisionSpec(Strict):
    """Overrides the preset for one layer; unset fields keep the preset's value."""

    network: Literal["encoder", "prediction", "joint", "lm_ext", "lm_src"] = Field(description="Network of the layer.")
    layer: Text = Field(description="Layer name after stacks are expanded, e.g. 'blstm1'.")
    weight_bits: Bits | None = Field(None, description="Weight bits (default: the preset's).")
    act_bits: Bits | None = Field(None, description="Activation (input) bits (default: the preset's).")
    weight_quantizer: Literal[QUANTIZERS] | None = Field(
        None, description="Weight quantizer (default: the preset's); LUT or GQ store k-bit indices into a per-layer "
                          "codebook of learned centroids.")  # type: ignore[valid-type]
    act_quantizer: Literal[QUANTIZERS] | None = Field(None, description="Activation quantizer (default: the preset's).")  # type: ignore[valid-type]
    codebook_bits: int | None = Field(None, ge=2, le=16, description="Bits of one codebook centroid with a LUT/GQ weight "
                                      "quantizer (default 8: int8 centroids with a per-layer scale); 2 to 16.")

    @field_validator("act_quantizer")
    @classmethod
    def _uniform_activations(cls, value: str | None) -> str | None:
        if value in CODEBOOK_QUANTIZERS:
            raise ValueError(f"{value} is a weight codebook (learned offline); activations take none, FIX, MAX, SAWB or PACT")
        return value


class PrecisionSpec(Strict):
    """Per-layer weight/activation bits and quantizers, from presets with optional overrides."""

    default: Text = Field("fp32", description="Preset for every network not named in `networks`.")
    networks: dict[Text, Text] = Field(
        default_factory=dict,
        description="Preset per network or group: encoder, prediction, joint, lm_ext, lm_src, rnnt (= the first three), lms.",
    )
    lstm_quant: Literal["inner", "outer"] = Field(
        "outer", description="Where LSTM activations are quantized (Sec. 3.4): at the cell inputs or once at the cell output."
    )
    quantize: Literal["fused", "separate"] = Field(
        "fused", description="How the compiled program runs activation quantizers: 'fused' into the epilogue of the op "
                             "that produces the tensor (its element-wise work on the SFU, no op of its own, no dispatch), as "
                             "accelerator compilers do; 'separate': each quantizer is its own dispatched op.")
    layers: list[LayerPrecisionSpec] = Field(default_factory=list, description="Per-layer overrides.")

    @field_validator("default")
    @classmethod
    def _known_default(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown precision preset {show(value)}; expected one of {sorted(PRESETS)}")
        return value

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, value: dict[str, str]) -> dict[str, str]:
        for net, preset in value.items():
            if net not in NETWORK_GROUPS:
                raise ValueError(f"unknown network {show(net)}; expected one of {sorted(NETWORK_GROUPS)}")
            if preset not in PRESETS:
                raise ValueError(f"unknown precision preset {show(preset)} for {net}; expected one of {sorted(PRESETS)}")
        return value


class EmissionSpec(Strict):
    """Synthetic joint-network posteriors the search model decodes (see accelsim/workload/search.py)."""

    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of every random stream of the search model; 0 to 2,147,483,647.")
    label_rate: float = Field(0.25, gt=0, le=1, description="Reference labels per encoder frame; more than 0, at most 1.")
    confidence: float = Field(0.9, gt=0, lt=1, description="Posterior mass on the expected symbol at each step; between 0 and 1.")
    off_track: float = Field(0.5, gt=0, lt=1, description="Posterior mass on blank for a hypothesis that left the reference; "
                                                           "between 0 and 1.")
    noise_seed: int | None = Field(None, ge=0, le=2**31 - 1,
                                   description="Seed of the pool of noise the posteriors draw from (default: seed); 0 to "
                                               "2,147,483,647. The utterances of a test set share the pool of the base seed, "
                                               "each with its own reference and its own draws from it.")


class FusionSpec(Strict):
    """Density-ratio fusion weights of Eq. 1: S = log P(y|x) + mu log P_ext - lam log P_src + rho |y|."""

    mu: float = Field(0.7, ge=-1000, le=1000, description="Weight of the external LM score; -1,000 to 1,000.")
    lam: float = Field(0.5, ge=-1000, le=1000, description="Weight of the source-domain LM score; -1,000 to 1,000.")
    rho: float = Field(0.2, ge=-1000, le=1000, description="Length reward per label; -1,000 to 1,000.")


class DecodingSpec(Strict):
    """How the transducer is decoded: alignment-length synchronous beam search (ALSD), or greedy."""

    search: Literal["alsd", "greedy"] = Field(
        "alsd", description="'alsd': the beam search of Saon et al. (beam, LM fusion); 'greedy': one hypothesis, the "
                            "top symbol at each step, at most max_symbols labels per frame (beam 1, no LM fusion).")
    max_symbols: int = Field(30, gt=0, le=1000, description="Greedy search: most labels emitted per encoder frame (the "
                                                            "MLPerf reference decoder's bound is 30); at most 1,000.")
    beam: int = Field(16, gt=0, le=1024, description="Beam width: hypotheses kept per iteration; at most 1,024.")
    lm_fusion: bool = Field(True, description="Evaluate LM_EXT and LM_SRC and fuse their scores (Eq. 1).")
    fusion: FusionSpec = Field(FusionSpec(), description="Score fusion weights (Eq. 1), used with lm_fusion.")
    emission: EmissionSpec = Field(EmissionSpec(), description="Synthetic posteriors the search model decodes.")
    u_max: int | None = Field(None, gt=0, le=MAX_FRAMES,
                              description="Most labels a hypothesis may emit (default: 2 x reference + 10); at most 100,000.")
    early_stop: bool = Field(True, description="End the search once no unfinished hypothesis scores above the best finished one.")
    trace: Text | None = Field(None, description="JSON Lines step trace of a real decoder to replay instead of the search "
                              "model (a relative path in a workload file is relative to that file).")


class RuntimeSpec(Strict):
    """How the software stack on the machine runs the model: choices of a runtime, not of the model or the chip."""

    lstm_input_projection: Literal["batched", "per_step"] = Field(
        "batched", description="How an encoder LSTM's input projection runs: 'batched' once over all frames (one matmul of "
                               "T rows, W_ih fetched once), then only W_hh per recurrent step; 'per_step' one fused LSTM cell "
                               "per time step (input and recurrent weights fetched together at every step), as a runtime "
                               "that runs the cell as one kernel per step does.")
    fetch_biases: bool = Field(
        True, description="Biases (FP32 whatever the precision) cross the link with their layer's weights; false leaves them "
                          "out of every fetch (an ablation: they are always counted in the model size).")
    copy_states: bool = Field(
        True, description="The host search copies each surviving hypothesis's recurrent state (h and c of every LSTM of the "
                          "prediction network and the LMs, FP32) every decode iteration, at hw.host.memory_bandwidth; false "
                          "leaves the copy out (an ablation).")
    kernels: Literal["fused", "eager"] = Field(
        "fused", description="How many kernels the runtime calls per op: 'fused', one (an inference runtime that fuses "
                             "each op's element-wise work into one kernel); 'eager', one per element-wise operation "
                             "(numpy, PyTorch eager: a layer norm is nine calls, an LSTM cell eight), each paying the "
                             "device's per-call overhead.")
    lstm_kernel: Literal["per_step", "persistent"] = Field(
        "per_step", description="How a GPU runs an encoder LSTM's recurrent steps: 'per_step', each step its own kernels "
                                "(the recurrent matmul streams its weights from L2 or DRAM every step); 'persistent', "
                                "one kernel for all the steps of a layer that keeps the recurrent weights in the SMs' "
                                "registers and shared memory while they fit, the cell fused in, a grid-wide barrier "
                                "between steps (on other devices each step is one op with its cell fused in).")
    decode_on: Literal["host", "device"] = Field(
        "host", description="Where the search runs: 'host', the host ranks the scores the device sends it each "
                            "iteration (the paper's setting); 'device', as kernels on the accelerator (greedy search "
                            "only): the top-1 fused into the joint's last matmul, the hypotheses' states gathered on "
                            "the device, only a flag per hypothesis back to the host that drives the loop.")
    greedy_loop: Literal["frame", "label"] = Field(
        "frame", description="Greedy decoding on the device: 'frame', the host drives one decode iteration (one joint "
                             "evaluation and its flags) at a time; 'label', label-looping: one program per emitted "
                             "label runs the prediction network once, then loops over the frames on the device until a "
                             "label comes out, with one flag back to the host per label.")
    prefetch_next_iteration: bool = Field(
        False, description="While the host fuses, sorts and merges the scores of a decode iteration, the idle link "
                           "brings in the first weights the next iteration will use, as much as the free scratchpad "
                           "(coprocessor.weight_fraction of every core, less pinned weights) holds; the next iteration "
                           "fetches only the rest.")


class UtteranceSpec(Strict):
    frames: int = Field(gt=0, le=MAX_FRAMES, description="Encoder frames of the utterance; at most 100,000 (33 minutes at 20 ms).")
    frame_shift: FrameShift = Field(description="Audio time per encoder frame, e.g. '20 ms'; 1 us to 10 s.")


class TestSetSpec(Strict):
    """Many utterances instead of one: a list of lengths, or a seeded normal distribution of lengths.

    Utterance i decodes with emission seed ``decoding.emission.seed + i`` (its reference and its draws) from the
    noise pool of the base seed (``noise_seed``, see EmissionSpec); results report the aggregate
    RTF (total processing time / total audio) and per-utterance percentiles.
    """

    __test__ = False  # not a pytest test class

    distribution: Literal["normal", "lognormal"] = Field(
        "normal", description="How count lengths are drawn: 'normal', of mean_frames and std_frames, clipped to "
                              "[min_frames, max_frames]; 'lognormal', of that mean and standard deviation, and a draw "
                              "outside [min_frames, max_frames] is drawn again (a data set selected by length, such as "
                              "LibriSpeech dev-clean's utterances of at most 15 s).")
    lengths: list[Frames] | None = Field(None, min_length=1, max_length=100_000,
                                         description="Encoder frames of each utterance (at most 100,000 utterances of at most "
                                                     "100,000 frames).")
    count: int | None = Field(None, gt=0, le=100_000, description="Number of utterances to draw; at most 100,000.")
    mean_frames: float | None = Field(None, gt=0, le=MAX_FRAMES,
                                     description="Mean length of the drawn utterances, in frames; at most 100,000.")
    std_frames: float = Field(0.0, ge=0, le=MAX_FRAMES,
                             description="Standard deviation of the drawn lengths, in frames; at most 100,000.")
    min_frames: int = Field(10, gt=0, le=MAX_FRAMES,
                            description="Drawn lengths are clipped to at least this many frames; at most 100,000.")
    max_frames: int | None = Field(None, gt=0, le=MAX_FRAMES,
                                   description="Drawn lengths are clipped to at most this many frames; at most 100,000.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the length draw; 0 to 2,147,483,647.")

    @model_validator(mode="after")
    def _one_way(self) -> "TestSetSpec":
        if (self.lengths is None) == (self.count is None):
            raise ValueError("give either lengths or count (with mean_frames), not both or neither")
        if self.count is not None and self.mean_frames is None:
            raise ValueError("count needs mean_frames (and optionally std_frames)")
        if self.max_frames is not None and self.max_frames < self.min_frames:
            raise ValueError(f"max_frames {self.max_frames} is below min_frames {self.min_frames}")
        if self.distribution == "lognormal" and self.count is not None and not self.std_frames:
            raise ValueError("distribution 'lognormal' needs std_frames greater than 0")
        return self


class StreamingSpec(Strict):
    """Chunked (causal) execution: the encoder runs on each chunk of frames as its audio arrives, and the decoder
    runs on each chunk's frames as soon as the encoder has them."""

    chunk_frames: Frames = Field(description="Encoder frames per chunk; 1 to 100,000.")
    left_context: int = Field(0, ge=0, le=MAX_FRAMES,
                              description="Past encoder frames each chunk's self-attention also attends to (cached keys "
                                          "and values, not recomputed); recurrent encoders carry their state instead; "
                                          "0 to 100,000.")
    look_ahead: int = Field(0, ge=0, le=MAX_FRAMES,
                            description="Future encoder frames a chunk waits for before it runs; a Conformer encoder "
                                        "computes them with the chunk (and again with the next); 0 to 100,000.")


class WorkloadSpec(Strict):
    """What `accelsim run` simulates: a model, its precision and how it is decoded."""

    name: Text = Field(description="A short name for reports.")
    description: Text = Field("", description="Free text.")
    utterance: UtteranceSpec = Field(description="The utterance simulated: its length in frames and the audio time per frame.")
    test_set: TestSetSpec | None = Field(None, description="Many utterances instead of `utterance.frames` (same frame shift).")
    model: ModelSpec = Field(description="The networks, layer by layer.")
    precision: PrecisionSpec = Field(PrecisionSpec(), description="Per-network presets and per-layer overrides of bits and quantizers.")
    decoding: DecodingSpec = Field(DecodingSpec(), description="The beam search and the synthetic posteriors it decodes.")
    runtime: RuntimeSpec = Field(RuntimeSpec(), description="How the runtime executes the model (LSTM steps, bias fetches, "
                                                            "host state copies).")
    streaming: StreamingSpec | None = Field(None, description="Chunked, causal execution with per-chunk latencies "
                                            "(default: none, the encoder runs once over the whole utterance).")
    serving: ServingSpec | None = Field(None, description="Many streams served on one machine (`accelsim serve`, `accelsim capacity`); "
                                                          "see accelsim/spec/serving.py.")

    @model_validator(mode="after")
    def _streams_causally(self) -> "WorkloadSpec":
        if self.streaming is None:
            return self
        for i, layer in enumerate(self.model.encoder.layers):
            if layer.recurrent and layer.directions == 2:
                raise ValueError(f"streaming: model.encoder.layers.{i} is a bidirectional {layer.kind[1:].upper()}, whose backward "
                                 "direction starts from the last frame of the utterance: it cannot stream (use a "
                                 "unidirectional kind, or a Conformer encoder, or drop streaming)")
        if self.test_set is not None:
            raise ValueError("streaming: simulates one utterance; drop test_set (or streaming)")
        if self.decoding.trace:
            raise ValueError("streaming: a recorded decoder trace has no chunk boundaries; drop decoding.trace")
        return self

    @model_validator(mode="after")
    def _test_set_seeds_fit(self) -> "WorkloadSpec":
        if self.test_set is not None:
            count = self.test_set.count if self.test_set.count is not None else len(self.test_set.lengths or ())
            if self.decoding.emission.seed + count - 1 > 2**31 - 1:
                raise ValueError("decoding.emission.seed: utterance i of the test set decodes with seed + i, which must "
                                 "stay at most 2,147,483,647; lower the seed")
        return self

    @model_validator(mode="after")
    def _greedy_search(self) -> "WorkloadSpec":
        dec, run = self.decoding, self.runtime
        if dec.search == "greedy" and (dec.beam != 1 or dec.lm_fusion or dec.trace):
            raise ValueError("decoding.search 'greedy' keeps one hypothesis without LM fusion and records its own "
                             "trace: set decoding.beam 1 and decoding.lm_fusion false, and drop decoding.trace")
        if run.decode_on == "device" and dec.search != "greedy":
            raise ValueError("runtime.decode_on 'device' runs the greedy search as kernels; set decoding.search 'greedy' "
                             "(the beam search runs on the host)")
        if run.greedy_loop == "label" and run.decode_on != "device":
            raise ValueError("runtime.greedy_loop 'label' loops over frames on the device: set runtime.decode_on 'device'")
        return self

    @model_validator(mode="after")
    def _lms_present(self) -> "WorkloadSpec":
        if self.decoding.lm_fusion and (self.model.lm_ext is None or self.model.lm_src is None):
            raise ValueError("decoding.lm_fusion is true but model.lm_ext or model.lm_src is missing")
        return self

    @model_validator(mode="after")
    def _shapes_chain(self) -> "WorkloadSpec":
        """Each layer takes what the previous one gives; the joint multiplies two outputs of its width."""
        widths: dict[str, int] = {}
        for net_name in ("encoder", "prediction", "joint", "lm_ext", "lm_src"):
            net = getattr(self.model, net_name)
            if net is None:
                continue
            width: int | None = None
            for i, layer in enumerate(net.layers):
                needed = getattr(layer, "input", None)
                if needed is None and layer.kind in ("log_softmax", "multiplicative_joint", "additive_joint"):
                    needed = layer.dim
                if width is not None and needed is not None and needed != width:
                    raise ValueError(f"model.{net_name}.layers.{i}: takes {needed} inputs but the layer before gives {width}")
                width = layer.output_size()
            widths[net_name] = width or 0
        joint = self.model.joint.layers[0]
        for net_name in ("encoder", "prediction"):
            width = joint.dim if joint.kind in ("multiplicative_joint", "additive_joint") else \
                getattr(joint, net_name) if joint.kind == "concat_joint" else None
            if width is not None and widths[net_name] != width:
                raise ValueError(f"model.joint.layers.0: combines width {width} from model.{net_name}, but it gives "
                                 f"{widths[net_name]}")
        return self

    @model_validator(mode="after")
    def _layer_names_differ(self) -> "WorkloadSpec":
        """A name is a layer's identity in precision overrides, per-layer reports and pinned weights: two
        layers of one network with one name would silently share all three."""
        for net_name in ("encoder", "prediction", "joint", "lm_ext", "lm_src"):
            net = getattr(self.model, net_name)
            first: dict[str, int] = {}
            for i, layer in enumerate(net.layers if net else []):
                for name in (l.name for l in layer.expand()):
                    if name in first:
                        raise ValueError(f"model.{net_name}.layers.{i}: the name {show(name)} is already that of "
                                         f"layers.{first[name]}; the layers of a network need different names (a "
                                         "stack's are name1..nameN, an unnamed layer's is its kind): set `name:`")
                    first[name] = i
        return self

    @model_validator(mode="after")
    def _encoder_only_layers(self) -> "WorkloadSpec":
        for net_name in ("prediction", "joint", "lm_ext", "lm_src"):
            net = getattr(self.model, net_name)
            for i, layer in enumerate(net.layers if net else []):
                if layer.encoder_only or layer.stacking != 1:  # frames are stacked only on the way into the encoder
                    raise ValueError(f"model.{net_name}.layers.{i}: a {layer.kind} layer runs over a whole sequence and "
                                     "belongs in model.encoder only")
        return self

    @model_validator(mode="after")
    def _overrides_name_layers(self) -> "WorkloadSpec":
        for i, override in enumerate(self.precision.layers):
            net = getattr(self.model, override.network)
            names = [l.name for layer in (net.layers if net else []) for l in layer.expand()]
            if override.layer not in names:
                raise ValueError(
                    f"precision.layers.{i}: no layer {show(override.layer)} in network {override.network!r}; "
                    f"its layers are {show_names(names)}"
                )
        return self

