"""The concrete model: networks of expanded layers, each with its resolved precision, and model size."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from accelsim.spec.workload import WorkloadSpec
from accelsim.spec.layers import LayerSpec
from accelsim.spec.precision import NETWORK_GROUPS, NETWORKS, PRESETS, LayerPrecision

BIAS_BITS = 32  # biases are not quantized (paper, Sec. 3.2)


@dataclass(frozen=True, slots=True)
class ModelLayer:
    network: str
    spec: LayerSpec
    precision: LayerPrecision

    @property
    def name(self) -> str:
        return self.spec.name or self.spec.kind  # type: ignore[attr-defined]

    @property
    def kind(self) -> str:
        return self.spec.kind  # type: ignore[attr-defined]

    @property
    def weight_params(self) -> int:
        return sum(r * c for r, c in self.spec.weights().values())

    @property
    def bias_params(self) -> int:
        return self.spec.bias_params()

    @property
    def params(self) -> int:
        return self.weight_params + self.bias_params

    def bias_tensors(self) -> dict[str, int]:
        """FP32 bias vectors by name -> parameters: a recurrent direction's b_ih and b_hh (gates x hidden each), any
        other layer's b (a linear's output, a norm's scale and shift). They sum to :attr:`bias_params`."""
        spec = self.spec
        if spec.recurrent and self.bias_params:
            return {f"{d}b_{w}": spec.gates * spec.hidden for d in spec.direction_names() for w in ("ih", "hh")}  # type: ignore[attr-defined]
        return {"b": self.bias_params} if self.bias_params else {}

    @property
    def state_elements(self) -> int:
        """Recurrent state per hypothesis (an LSTM's h and c, a GRU's h, of every direction); 0 for a layer without state."""
        spec = self.spec
        return spec.directions * spec.states * spec.hidden if spec.recurrent else 0  # type: ignore[attr-defined]

    def weight_count(self, name: str) -> int:
        """Parameters of one weight matrix."""
        rows, cols = self.spec.weights()[name]
        return rows * cols

    @property
    def stored_bytes(self) -> float:
        return (self.weight_params * self.precision.weight_bits / 8 + self.bias_params * BIAS_BITS / 8
                + self.precision.codebook_stored_bits() / 8)


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    layers: tuple[ModelLayer, ...]

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def stored_bytes(self) -> float:
        return sum(l.stored_bytes for l in self.layers)

    @property
    def fp32_bytes(self) -> float:
        return self.params * 4.0

    def layer(self, name: str) -> ModelLayer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(name)


@dataclass(frozen=True, eq=False)
class Model:
    vocab: int
    networks: dict[str, Network]
    lstm_quant: str = "outer"
    presets: dict[str, str] = field(default_factory=dict)  # network -> preset name, for reports
    quantize: str = "separate"  # activation quantizers: "fused" into their producer's epilogue, or "separate" ops
    lstm_input_projection: str = "batched"  # encoder LSTMs: input projection "batched" over all frames, or "per_step"
    fetch_biases: bool = True  # FP32 biases cross the link with their layer
    copy_states: bool = True  # the host copies each surviving hypothesis's recurrent state per iteration
    prefetch_next: bool = False  # the link brings in the next iteration's first weights during the host's search
    eager: bool = False  # the runtime calls one kernel per element-wise operation (runtime.kernels: eager)
    lstm_kernel: str = "per_step"  # encoder LSTM steps as kernels of their own, or one persistent kernel
    decode_on: str = "host"  # where the search runs: the host, or the device (greedy)
    greedy_loop: str = "frame"  # greedy on the device: one program per joint evaluation, or per emitted label

    @cached_property
    def key(self) -> tuple:
        """The content that lowering depends on (hashable): later stages memoize by it."""
        return (self.vocab, self.lstm_quant, self.quantize, self.lstm_input_projection, self.fetch_biases,
                self.copy_states, self.prefetch_next, self.eager, self.lstm_kernel, self.decode_on, self.greedy_loop,
                tuple(self.networks.items()), tuple(self.presets.items()))

    @cached_property
    def _hash(self) -> int:
        return hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Model) and self._hash == other._hash and self.key == other.key)

    @property
    def params(self) -> int:
        return sum(n.params for n in self.networks.values())

    @property
    def stored_bytes(self) -> float:
        return sum(n.stored_bytes for n in self.networks.values())

    @property
    def fp32_bytes(self) -> float:
        return sum(n.fp32_bytes for n in self.networks.values())


def preset_for(spec: WorkloadSpec, network: str) -> str:
    """Which preset a network gets: its own entry, else its group's (rnnt, lms), else the default."""
    chosen = spec.precision.networks
    if network in chosen:
        return chosen[network]
    for group, members in NETWORK_GROUPS.items():
        if len(members) > 1 and network in members and group in chosen:
            return chosen[group]
    return spec.precision.default


def build_model(spec: WorkloadSpec, with_lms: bool | None = None) -> Model:
    """Expand stacks, resolve each layer's precision. LMs are included when decoding fuses them
    (or when ``with_lms`` says so explicitly)."""
    if with_lms is None:
        with_lms = spec.decoding.lm_fusion
    networks: dict[str, Network] = {}
    presets: dict[str, str] = {}
    for net_name in NETWORKS:
        net_spec = getattr(spec.model, net_name)
        if net_spec is None or (net_name in NETWORK_GROUPS["lms"] and not with_lms):
            continue
        preset_name = preset_for(spec, net_name)
        preset = PRESETS[preset_name]
        presets[net_name] = preset_name
        layers: list[ModelLayer] = []
        seen: dict[str, int] = {}
        for layer_spec in net_spec.layers:
            for concrete in layer_spec.expand():
                position = seen.get(concrete.kind, 0)  # type: ignore[attr-defined]
                seen[concrete.kind] = position + 1  # type: ignore[attr-defined]
                layers.append(ModelLayer(net_name, concrete, preset(net_name, concrete.kind, position)))  # type: ignore[attr-defined]
        for override in spec.precision.layers:
            if override.network != net_name:
                continue
            changes = override.model_dump(exclude={"network", "layer"}, exclude_none=True)
            layers = [replace(l, precision=replace(l.precision, **changes)) if l.name == override.layer else l for l in layers]
        networks[net_name] = Network(net_name, tuple(layers))
    run = spec.runtime
    return Model(spec.model.vocab, networks, spec.precision.lstm_quant, presets, spec.precision.quantize,
                 run.lstm_input_projection, run.fetch_biases, run.copy_states, run.prefetch_next_iteration,
                 run.kernels == "eager", run.lstm_kernel, run.decode_on, run.greedy_loop)


def model_size(model: Model) -> dict:
    """Stored size in MB (10^6 bytes) and compression vs FP32, per network and in total."""
    networks = {
        name: {
            "precision": model.presets.get(name, ""),
            "params_M": net.params / 1e6,
            "size_MB": net.stored_bytes / 1e6,
            "fp32_MB": net.fp32_bytes / 1e6,
            "compression": net.fp32_bytes / net.stored_bytes,
        }
        for name, net in model.networks.items()
    }
    return {
        "total_MB": model.stored_bytes / 1e6,
        "fp32_MB": model.fp32_bytes / 1e6,
        "compression": model.fp32_bytes / model.stored_bytes,
        "params_M": model.params / 1e6,
        "networks": networks,
    }


def layer_sizes(model: Model) -> list[dict]:
    """One row per layer: its weights' bits and quantizer (a codebook's k-bit indices), the parameters kept in FP32
    (biases, norms), its codebook's bytes and its stored size: which tensors stay at which precision."""
    return [{"network": l.network, "layer": l.name, "kind": l.kind, "weight_params": l.weight_params,
             "fp32_params": l.bias_params, "weight_bits": l.precision.weight_bits,
             "weight_quantizer": l.precision.weight_quantizer,
             "codebook_bytes": l.precision.codebook_stored_bits() / 8, "size_MB": l.stored_bytes / 1e6}
            for net in model.networks.values() for l in net.layers]
