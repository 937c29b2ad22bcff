"""Lowering: a model and a decode step trace become one operator DAG.

The encoder becomes a sequence DAG (input projections batched over all frames, then T dependent
recurrent steps per layer and direction, or with ``runtime.lstm_input_projection: per_step`` T fused cells
that each fetch input and recurrent weights; the two directions are independent chains; layer l+1 waits
for both directions of layer l). Each ALSD iteration becomes a small DAG: the prediction network and
LMs for the new label prefixes only, the joint network for every active hypothesis, scores to the
host, host-side fusion, top-k and merging, and the selections back to the coprocessor.

Each layer kind has one lowering function, registered by kind. No hardware knowledge lives here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable

from accelsim.graph.ir import GraphBuilder, Op, content_key
from accelsim.memo import memoize
from accelsim.workload.model import Model, ModelLayer, Network
from accelsim.spec.precision import QUANTIZER_PASSES
from accelsim.spec.workload import StreamingSpec
from accelsim.workload.search import DecodeTrace, StepRecord
from accelsim.workload.streaming import Chunk, chunk_of_iteration, plan_chunks

#: Element-wise work of one LSTM cell per hidden unit: add input and recurrent pre-activations (4),
#: sigmoid for i, f, o (3), tanh for g (1), c = f*c + i*g (3), tanh(c) (1), h = o*tanh(c) (1).
LSTM_CELL_OPS = 13
#: ... of one GRU cell: add pre-activations (3), sigmoid for r, z (2), r * (W_hn h + b_hn) (1), tanh for n (1),
#: h = (1 - z) * n + z * h (3).
GRU_CELL_OPS = 10
CELL_OPS = {"lstm": LSTM_CELL_OPS, "blstm": LSTM_CELL_OPS, "gru": GRU_CELL_OPS, "bgru": GRU_CELL_OPS}
#: ... of which special functions per hidden unit: an LSTM's 3 sigmoids and 2 tanh, a GRU's 2 sigmoids and 1 tanh.
CELL_SPECIAL = {"lstm": (("sigmoid", 3), ("tanh", 2)), "gru": (("sigmoid", 2), ("tanh", 1))}
#: Kernels an eager runtime calls per cell. LSTM: sigmoid of i and f (one call: they are adjacent), sigmoid of o, tanh
#: of g, c *= f, i * g, c += i * g, tanh(c), o * tanh(c). GRU: sigmoid of r and z, r * (W_hn h + b_hn), the add, tanh
#: of n, 1 - z, (1 - z) * n, z * h, the sum.
CELL_KERNELS = {"lstm": 8, "gru": 8}
#: Array views an eager runtime takes per cell: one per gate, and the sigmoid gates' joint slice as input and output.
#: GRU: the same pattern assumed (the reference runtime, accelsim/measure/reference.py, runs no GRU).
CELL_VIEWS = {"lstm": 4 + 2, "gru": 3 + 2}
#: log-softmax per class: exponentiate, accumulate, subtract the log of the sum.
LOG_SOFTMAX_OPS = 3
#: ... in an eager runtime: max, subtract, exp, sum, log, subtract.
LOG_SOFTMAX_KERNELS = 6
#: Wire formats of the decoding loop (the data, not the machine): bytes per score shipped to the host
#: (FP32 log-probabilities) and per selection sent back (a label and a parent index, int32 each).
SCORE_BYTES = 4
SELECTION_BYTES = 8
#: Acoustic features cross the link in FP16.
FEATURE_BYTES = 2
#: Assumption: the host keeps each hypothesis's recurrent state (h and c) in FP32, as the networks' framework does.
STATE_BYTES = 4


@dataclass(frozen=True)
class Ctx:
    """Where a layer is being lowered: a whole sequence (encoder) or one decode step of ``rows`` rows."""

    component: str
    region_prefix: str
    lstm_quant: str
    quantize: str = "separate"  # activation quantizers fused into their producer, or separate ops
    frames: int = 0  # sequence mode when > 0
    steps: int = 0  # sequence mode: recurrent steps lowered (default: one per frame; fewer only to measure a step)
    rows: int = 0  # step mode: batch rows (new prefixes, active hypotheses)
    tag: str = ""  # name prefix, e.g. "it12."
    input_quantized: bool = False
    keys: int = 0  # sequence mode: attention keys per query (0: every frame; a streaming chunk: left + chunk + look-ahead)
    projection: str = "batched"  # sequence mode: LSTM input projection batched over frames, or "per_step" (fused cell)
    biases: bool = True  # FP32 biases are fetched with their layer's weights
    eager: bool = False  # the runtime calls one kernel per element-wise operation (runtime.kernels: eager)
    persistent: bool = False  # sequence mode: an LSTM's steps are one persistent kernel (runtime.lstm_kernel)

    def kernels(self, count: int) -> int:
        """Kernel calls of an op that an eager runtime makes in ``count`` calls (a fused one in one)."""
        return count if self.eager else 1

    def eager_only(self, count: int) -> int:
        """Work only an eager runtime does (the array views it takes between calls, a bias added in a pass of its own,
        a loop broadcasting an operand): ``count``; a fused kernel indexes in place and adds in its epilogue: 0."""
        return count if self.eager else 0

    def gather(self, count: int) -> tuple[tuple[str, int], ...]:
        """The special evaluations of ``count`` elements an eager runtime rearranges (materialises) first."""
        return (("gather", count),) if count and self.eager else ()

    @property
    def sequence(self) -> bool:
        return self.frames > 0


#: Op kinds whose epilogue a quantizer can be fused into: they write their output through the SFU.
FUSES_INTO = ("matmul", "sfu", "gather", "quantize")

Lowering = Callable[[GraphBuilder, ModelLayer, Ctx, list[int]], tuple[list[int], Ctx]]
LOWERINGS: dict[str, Lowering] = {}


def register_lowering(kind: str):
    def add(fn: Lowering) -> Lowering:
        LOWERINGS[kind] = fn
        return fn

    return add


def _quant(b: GraphBuilder, name: str, ctx: Ctx, region: str, quantizer: str, bits: int, elements: int,
           calls: int, deps: list[int], lane: int = 0, lanes: int = 1, step: int = -1) -> list[int]:
    """A quantizer op, when the tensor is really quantized (integer bits and a quantizer kind).

    With ``quantize: fused`` the quantizer is the epilogue of the one op on the coprocessor that produces the
    tensor: its element-wise work (passes included) joins that op on the SFU, and no op of its own is
    dispatched. A tensor with no such producer (the features after the launch, or the concatenated outputs of
    two directions) keeps a separate quantizer op.
    """
    if quantizer == "none" or bits >= 16:
        return deps
    if ctx.quantize == "fused" and len(deps) == 1 and b.ops[deps[0]].unit == "core" and b.ops[deps[0]].kind in FUSES_INTO:
        producer = b.ops[deps[0]]
        b.ops[deps[0]] = replace(producer, epilogue=producer.epilogue + elements * QUANTIZER_PASSES[quantizer],
                                 calls=producer.calls + calls)
        return deps
    return [b.add(name, "quantize", "core", ctx.component, region, deps, lane=lane, lanes=lanes,
                  elements=elements, calls=calls, quantizer=quantizer, passes=QUANTIZER_PASSES[quantizer],
                  act_bits=bits, step=step)]


def _biases(ctx: Ctx, layer: ModelLayer, *names: str) -> tuple[tuple[str, int], ...]:
    """The layer's FP32 bias vectors ``names`` as (tensor, parameters), when the runtime fetches biases."""
    if not ctx.biases:
        return ()
    have = layer.bias_tensors()
    return tuple((f"{layer.network}.{layer.name}.{n}", have[n]) for n in names if n in have)


def _times(special: tuple[tuple[str, int], ...], count: int) -> tuple[tuple[str, int], ...]:
    return tuple((name, n * count) for name, n in special)


def _region(ctx: Ctx, layer: ModelLayer) -> str:
    return f"{ctx.region_prefix}.{layer.name}" if ctx.sequence else ctx.region_prefix


@register_lowering("lstm")
@register_lowering("blstm")
@register_lowering("gru")
@register_lowering("bgru")
def lower_recurrent(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    spec, p = layer.spec, layer.precision
    hid, width = spec.hidden, spec.input  # type: ignore[attr-defined]
    gates, cell_ops = spec.gates * hid, CELL_OPS[layer.kind]  # type: ignore[attr-defined]
    family = layer.kind.removeprefix("b")  # lstm or gru
    cell_special, cell_kernels = CELL_SPECIAL[family], CELL_KERNELS[family]
    dirs = spec.direction_names()  # type: ignore[attr-defined]
    region = _region(ctx, layer)
    base = f"{ctx.tag}{layer.network}.{layer.name}"
    inner = ctx.lstm_quant == "inner"
    rows = ctx.frames if ctx.sequence else ctx.rows
    # Outer quantization quantizes a layer input once, where it is produced; only a network input that
    # nobody quantized yet needs its own quantizer. Inner quantization quantizes it in every direction.
    shared_in = inputs
    if not inner and not ctx.input_quantized:
        shared_in = _quant(b, f"{base}.quant_in", ctx, region, p.act_quantizer, p.act_bits, rows * width,
                           rows, inputs)
    outputs: list[int] = []
    for lane, d in enumerate(dirs):
        lanes = len(dirs) if ctx.sequence else 1
        name = f"{base}.{d}" if d else f"{base}."
        dir_in = shared_in
        if inner:
            dir_in = _quant(b, f"{name}quant_in", ctx, region, p.act_quantizer, p.act_bits, rows * width, rows,
                            inputs, lane, lanes)
        w_ih = (f"{layer.network}.{layer.name}.{d}W_ih", layer.weight_count(f"{d}W_ih"))
        w_hh = (f"{layer.network}.{layer.name}.{d}W_hh", layer.weight_count(f"{d}W_hh"))
        common = dict(lane=lane, lanes=lanes, weight_bits=p.weight_bits, act_bits=p.act_bits)
        if not ctx.sequence:
            # One decode step: the new prefixes' inputs and their parents' cached states in one matmul.
            last = _quant(b, f"{name}quant_h", ctx, region, p.hidden_quantizer, p.act_bits, rows * hid, 1,
                          dir_in, lane, lanes) if inner else dir_in
            mm = b.add(f"{name}gates", "matmul", "core", ctx.component, region, last, m=rows, k=width + hid,
                       n=gates, weights=(w_ih, w_hh), biases=_biases(ctx, layer, f"{d}b_ih", f"{d}b_hh"), **common)
            cell = b.add(f"{name}cell", "sfu", "core", ctx.component, region, [mm], lane=lane, lanes=lanes,
                         elements=rows * hid * cell_ops, special=_times(cell_special, rows * hid),
                         kernels=ctx.kernels(cell_kernels), views=ctx.eager_only(CELL_VIEWS[family]))
            out = [cell] if inner else _quant(b, f"{name}quant_out", ctx, region, p.hidden_quantizer, p.act_bits,
                                              rows * hid, 1, [cell], lane, lanes)
            outputs += out
            continue
        per_step = ctx.projection == "per_step"
        if per_step:  # no batched projection: every step's fused cell multiplies [x_t, h_{t-1}] by [W_ih, W_hh]
            prev = list(dir_in)
        else:  # the projection, then the bias added (eager: two kernels)
            prev = [b.add(f"{name}proj", "matmul", "core", ctx.component, region, dir_in, m=rows, k=width, n=gates,
                          weights=(w_ih,), biases=_biases(ctx, layer, f"{d}b_ih"), kernels=ctx.kernels(2), **common)]
        for t in range(ctx.steps or rows):
            step = f"{name}t{t}."
            if inner:
                prev = _quant(b, f"{step}quant_h", ctx, region, p.hidden_quantizer, p.act_bits, hid, 1, prev,
                              lane, lanes, t)
            if ctx.persistent:  # a step of one persistent kernel: the recurrent matmul with the cell fused in
                weights = (w_ih, w_hh) if per_step else (w_hh,)
                names = (f"{d}b_ih", f"{d}b_hh") if per_step else (f"{d}b_hh",)
                prev = [b.add(f"{step}gates", "matmul", "core", ctx.component, region, prev, m=1,
                              k=(width if per_step else 0) + hid, n=gates, weights=weights,
                              biases=_biases(ctx, layer, *names), step=t, resident=True, special=_times(cell_special, hid),
                              epilogue=hid * (cell_ops - sum(n for _, n in cell_special)), **common)]  # specials apart
            elif per_step:  # the same kernel at every step (h_{-1} = 0 is multiplied like any other state); eager: x_t
                # (a view of the sequence's row) copied beside h_{t-1} ([x_t, h_{t-1}]), the matmul, the bias added
                prev = [b.add(f"{step}gates", "matmul", "core", ctx.component, region, prev, m=1, k=width + hid,
                              n=gates, weights=(w_ih, w_hh), biases=_biases(ctx, layer, f"{d}b_ih", f"{d}b_hh"),
                              step=t, kernels=ctx.kernels(3), views=ctx.eager_only(1), **common)]
            elif t > 0:  # h_{-1} = 0: the first step has no recurrent matmul; eager: the matmul (of h_{t-1}, a view of
                # the output sequence's row), the projection's row (a view) added
                prev = [b.add(f"{step}rec", "matmul", "core", ctx.component, region, prev, m=1, k=hid, n=gates,
                              weights=(w_hh,), biases=_biases(ctx, layer, f"{d}b_hh"), step=t, kernels=ctx.kernels(2),
                              views=ctx.eager_only(2), **common)]
            if not ctx.persistent:  # eager, per step: the cell writes h_t into a view (of [x_t, h_t] or of the output
                # sequence's row); per step, h_t is also copied out of [x_t, h_t] (a view) into the output sequence
                prev = [b.add(f"{step}cell", "sfu", "core", ctx.component, region, prev, lane=lane, lanes=lanes,
                              elements=hid * cell_ops, special=_times(cell_special, hid), step=t,
                              kernels=ctx.kernels(cell_kernels + per_step),
                              views=ctx.eager_only(CELL_VIEWS[family] + 1 + per_step))]
            if not inner:
                prev = _quant(b, f"{step}quant_out", ctx, region, p.hidden_quantizer, p.act_bits, hid, 1, prev,
                              lane, lanes, t)
        outputs += prev
    quantized = not inner and p.hidden_quantizer != "none" and p.act_bits < 16
    return outputs, replace(ctx, input_quantized=quantized)


@register_lowering("linear")
def lower_linear(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    spec, p = layer.spec, layer.precision
    rows = ctx.frames if ctx.sequence else ctx.rows
    region = _region(ctx, layer)
    name = f"{ctx.tag}{layer.network}.{layer.name}"
    deps = inputs
    if not ctx.input_quantized:
        deps = _quant(b, f"{name}.quant_in", ctx, region, p.act_quantizer, p.act_bits, rows * spec.input, 1, inputs)  # type: ignore[attr-defined]
    out = b.add(f"{name}.matmul", "matmul", "core", ctx.component, region, deps, m=rows, k=spec.input,  # type: ignore[attr-defined]
                n=spec.output, weights=((f"{layer.network}.{layer.name}.W", layer.weight_count("W")),),  # type: ignore[attr-defined]
                biases=_biases(ctx, layer, "b"), weight_bits=p.weight_bits, act_bits=p.act_bits, kernels=ctx.kernels(2))
    return [out], replace(ctx, input_quantized=False)


@register_lowering("embedding")
def lower_embedding(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    rows = ctx.frames if ctx.sequence else ctx.rows
    name = f"{ctx.tag}{layer.network}.{layer.name}"
    out = b.add(f"{name}.gather", "gather", "core", ctx.component, _region(ctx, layer), inputs,
                elements=rows * layer.spec.dim, weight_bits=layer.precision.weight_bits,  # type: ignore[attr-defined]
                weights=((f"{layer.network}.{layer.name}.table", layer.weight_count("table")),))
    return [out], replace(ctx, input_quantized=False)


@register_lowering("multiplicative_joint")
@register_lowering("additive_joint")
def lower_joint_combine(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    rows = ctx.frames if ctx.sequence else ctx.rows
    out = b.add(f"{ctx.tag}{layer.network}.{layer.name}.{'sum' if layer.kind == 'additive_joint' else 'product'}", "sfu",
                "core", ctx.component, _region(ctx, layer), inputs, elements=rows * layer.spec.dim)  # type: ignore[attr-defined]
    return [out], replace(ctx, input_quantized=False)


@register_lowering("stack_frames")
def lower_stack_frames(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """No op (a view of its input): the layers after it run over 1/factor of the frames (and, when only some steps
    are lowered to measure one, 1/factor of the steps)."""
    factor = layer.spec.factor  # type: ignore[attr-defined]
    _encoder_rows(layer, ctx)
    return inputs, replace(ctx, frames=-(-ctx.frames // factor), steps=-(-ctx.steps // factor) if ctx.steps else 0)


@register_lowering("concat_joint")
def lower_concat_joint(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """No op: the encoder's and the prediction network's outputs are written side by side into the buffer the next
    layer reads, which waits for both."""
    return inputs, replace(ctx, input_quantized=False)


@register_lowering("log_softmax")
def lower_log_softmax(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    rows = ctx.frames if ctx.sequence else ctx.rows
    out = b.add(f"{ctx.tag}{layer.network}.{layer.name}.sfu", "sfu", "core", ctx.component, _region(ctx, layer),
                inputs, elements=rows * layer.spec.dim * LOG_SOFTMAX_OPS,  # type: ignore[attr-defined]
                special=(("exp", rows * layer.spec.dim),), kernels=ctx.kernels(LOG_SOFTMAX_KERNELS))  # type: ignore[attr-defined]
    return [out], replace(ctx, input_quantized=False)


# ---------------------------------------------------------------- Conformer encoders
#
# Everything but the attention scores is batched over the frames (projections, FFNs, pointwise and depthwise
# convolutions); the scores are T x T per head (chunk x context when streaming) and have no weights. Element-wise work
# per element, on the SFU: layer norm 5 (mean, variance, normalise, scale, shift), swish 2 (sigmoid, product),
# GLU 2, softmax 5 (add the position scores, scale, exponentiate, accumulate, divide), ReLU 1, residual 1 (2 with the
# FFN's half step). Batch norm is folded into the depthwise convolution at inference (its parameters still count).
# An eager runtime (runtime.kernels: eager) calls one kernel per element-wise operation, and materialises what a fused
# one only indexes: the im2col patches of the subsampling convolutions, the relative shift of the position scores,
# the heads' contexts put back side by side (each a "gather" of that many elements).


@dataclass(frozen=True)
class Pointwise:
    """An element-wise function: operations per element, special functions per element, the kernels an eager
    runtime calls for it, and, where an eager runtime's passes over the data differ, how many it makes per element
    (``passes``; 0: ``ops``), of which how many broadcast an operand along the rows and how many reduce along them."""

    ops: int
    special: tuple[tuple[str, int], ...] = ()
    kernels: int = 1
    passes: int = 0
    broadcast: int = 0
    reduce: int = 0

    def __add__(self, then: "Pointwise") -> "Pointwise":
        """This function, then ``then``, on the same elements."""
        passes = (self.passes or self.ops) + (then.passes or then.ops) if self.passes or then.passes else 0
        return Pointwise(self.ops + then.ops, self.special + then.special, self.kernels + then.kernels, passes,
                         self.broadcast + then.broadcast, self.reduce + then.reduce)


#: Fused: mean, variance, normalise, scale, shift. Eager: nine calls, seven over every element: mean and mean square
#: (reductions), subtract the mean, divide by the deviation, gain and shift (a column or a row broadcast), the square
#: (the epsilon and the square root are per row).
LAYER_NORM = Pointwise(5, (), 9, passes=7, broadcast=4, reduce=2)
SWISH = Pointwise(2, (("sigmoid", 1),), 2)
GLU = Pointwise(2, (("sigmoid", 1),), 2)
#: add the position scores, scale, then max, subtract, exponentiate, sum, divide (eager: seven calls, of which the
#: max and the sum reduce along the rows, the subtraction and the division broadcast their results back)
SOFTMAX = Pointwise(5, (("exp", 1),), 7, passes=7, broadcast=2, reduce=2)
#: The batch norm the inference folds into the depthwise convolution (no work); eager, a scale and a shift by a row
#: of channels.
BATCH_NORM = Pointwise(0, (), 2, passes=2, broadcast=2)
RELU = Pointwise(1, (), 1)
#: A residual add (2 with the FFN's half step).
RESIDUAL, HALF_STEP_RESIDUAL = Pointwise(1, (), 1), Pointwise(2, (), 2)
LAYER_NORM_OPS, SOFTMAX_OPS = LAYER_NORM.ops, SOFTMAX.ops  # the per-element counts tests check by hand


def _encoder_rows(layer: ModelLayer, ctx: Ctx) -> int:
    if not ctx.sequence:
        raise ValueError(f"layer {layer.network}.{layer.name} ({layer.kind}) runs in the encoder only")
    return ctx.frames


def _weight(layer: ModelLayer, name: str) -> tuple[str, int]:
    return (f"{layer.network}.{layer.name}.{name}", layer.weight_count(name))


def _dense(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, region: str, name: str, deps: list[int], m: int, k: int,
           n: int, weights: tuple[str, ...], quantized: bool = False, fp32: bool = False, kernels: int = 1,
           gather: int = 0, added: int | None = None) -> list[int]:
    """A matmul, its input quantized first unless it already is; no ``weights``: two activations multiplied.
    ``fp32``: it also fetches the layer's FP32 parameters (biases, norms), as the first matmul of a module does.
    ``kernels``: the calls an eager runtime makes for it; ``gather``: elements it rearranges first; ``added``:
    elements of a vector it adds in a pass of its own, broadcast along the rows (default: with weights, its bias
    over its output) (both eager only: a fused kernel indexes in place and adds in its epilogue)."""
    p = layer.precision
    base = f"{ctx.tag}{layer.network}.{layer.name}.{name}"
    if not quantized:
        deps = _quant(b, f"{base}.quant_in", ctx, region, p.act_quantizer, p.act_bits, m * k, 1, deps)
    added = ctx.eager_only((m * n if weights else 0) if added is None else added)
    return [b.add(base, "matmul", "core", ctx.component, region, deps, m=m, k=k, n=n,
                  weights=tuple(_weight(layer, w) for w in weights), biases=_biases(ctx, layer, "b") if fp32 else (),
                  weight_bits=p.weight_bits if weights else p.act_bits, act_bits=p.act_bits, kernels=ctx.kernels(kernels),
                  special=ctx.gather(gather), epilogue=added, broadcast=added)]


def _sfu(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, region: str, name: str, deps: list[int], count: int,
         fn: Pointwise = RELU) -> list[int]:
    """``count`` elements of ``fn``."""
    return [b.add(f"{ctx.tag}{layer.network}.{layer.name}.{name}", "sfu", "core", ctx.component, region, deps,
                  special=_times(fn.special, count), kernels=ctx.kernels(fn.kernels), **_work_of(fn, count, ctx))]


def _work_of(fn: Pointwise, count: int, ctx: Ctx) -> dict[str, int]:
    """The element-wise work of ``count`` elements of ``fn``, as the runtime runs it (eager: its passes)."""
    if not (ctx.eager and fn.passes):
        return {"elements": count * fn.ops}
    return {"elements": count * fn.passes, "broadcast": count * fn.broadcast, "reduce": count * fn.reduce}


@register_lowering("conv_subsampling")
def lower_conv_subsampling(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """Two 3x3 stride-2 convolutions as im2col matmuls (rows: output positions, reduction: 3 x 3 x input channels),
    ReLU after each, and the linear over channels x feature bins; T output frames come from about 4T input frames.
    Eager, each matmul copies its patches (im2col; the linear its channels x bins) and adds its bias."""
    spec = layer.spec
    rows, region = _encoder_rows(layer, ctx), _region(ctx, layer)
    f1, f2 = spec.feature_bins()  # type: ignore[attr-defined]
    c, k2 = spec.channels, spec.kernel ** 2  # type: ignore[attr-defined]
    out = _dense(b, layer, ctx, region, "conv1", inputs, 2 * rows * f1, k2, c, ("conv1",), fp32=True, kernels=3,
                 gather=2 * rows * f1 * k2)
    out = _sfu(b, layer, ctx, region, "relu1", out, 2 * rows * f1 * c)
    out = _dense(b, layer, ctx, region, "conv2", out, rows * f2, k2 * c, c, ("conv2",), kernels=3,
                 gather=rows * f2 * k2 * c)
    out = _sfu(b, layer, ctx, region, "relu2", out, rows * f2 * c)
    out = _dense(b, layer, ctx, region, "out", out, rows, c * f2, spec.output, ("out",), kernels=3,  # type: ignore[attr-defined]
                 gather=rows * f2 * c)
    return out, replace(ctx, input_quantized=False)


@register_lowering("conformer_ffn")
def lower_conformer_ffn(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    spec = layer.spec
    rows, region, d = _encoder_rows(layer, ctx), _region(ctx, layer), spec.dim  # type: ignore[attr-defined]
    h = spec.ffn_mult * d  # type: ignore[attr-defined]
    out = _sfu(b, layer, ctx, region, "norm", inputs, rows * d, LAYER_NORM)
    out = _dense(b, layer, ctx, region, "W1", out, rows, d, h, ("W1",), fp32=True, kernels=2)
    out = _sfu(b, layer, ctx, region, "swish", out, rows * h, SWISH)
    out = _dense(b, layer, ctx, region, "W2", out, rows, h, d, ("W2",), kernels=2)
    final = spec.final_norm  # type: ignore[attr-defined]
    tail = HALF_STEP_RESIDUAL + LAYER_NORM if final else HALF_STEP_RESIDUAL
    return _sfu(b, layer, ctx, region, "residual", out, rows * d, tail), replace(ctx, input_quantized=False)


@register_lowering("conformer_mhsa")
def lower_conformer_mhsa(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """Q, K, V for the frames computed (a streaming chunk's left context comes from the cache), the relative position
    projection (queries + keys - 1 distances), then per head the content and position scores (rows x keys each),
    softmax and the context (rows x head width), and the output projection. Eager: Q, K and V are three matmuls and
    three bias adds; each score adds its bias to the queries first; the position scores are read shifted into place
    (Transformer-XL's relative shift, a gather); the heads' contexts are put back side by side (a gather)."""
    spec = layer.spec
    rows, region, d = _encoder_rows(layer, ctx), _region(ctx, layer), spec.dim  # type: ignore[attr-defined]
    heads = spec.heads  # type: ignore[attr-defined]
    keys, dh = ctx.keys or rows, d // heads
    norm = _sfu(b, layer, ctx, region, "norm", inputs, rows * d, LAYER_NORM)
    qkv = _dense(b, layer, ctx, region, "qkv", norm, rows, d, 3 * d, ("Wq", "Wk", "Wv"), fp32=True, kernels=6)
    pos = _dense(b, layer, ctx, region, "pos", inputs, rows + keys - 1, d, d, ("Wpos",), quantized=True)
    content = _dense(b, layer, ctx, region, "scores", qkv, heads * rows, dh, keys, (), quantized=True, kernels=2,
                     added=rows * d)
    position = _dense(b, layer, ctx, region, "pos_scores", qkv + pos, heads * rows, dh, keys, (), quantized=True,
                      kernels=2, gather=heads * rows * keys, added=rows * d)
    soft = _sfu(b, layer, ctx, region, "softmax", content + position, heads * rows * keys, SOFTMAX)
    context = _dense(b, layer, ctx, region, "context", soft, heads * rows, keys, dh, (), kernels=2, gather=rows * d)
    out = _dense(b, layer, ctx, region, "Wo", context, rows, d, d, ("Wo",), kernels=2)
    return _sfu(b, layer, ctx, region, "residual", out, rows * d, RESIDUAL), replace(ctx, input_quantized=False)


@register_lowering("conformer_conv")
def lower_conformer_conv(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """The depthwise convolution is a ``dwconv`` op costed as a matmul of rows x kernel x channels: each PE computes
    one output (frame, channel) from the kernel taps of its channel over its SIMD lanes. It has kernel x dim weights
    and no reuse across channels, and assumes the array's operand feed keeps up (optimistic for real arrays). Eager:
    the input is copied into a zero-padded buffer and the output initialised with the bias (three calls), then each
    tap multiplies and adds (two calls); batch norm is a scale and a shift before the swish (two calls)."""
    spec = layer.spec
    rows, region, d = _encoder_rows(layer, ctx), _region(ctx, layer), spec.dim  # type: ignore[attr-defined]
    p = layer.precision
    out = _sfu(b, layer, ctx, region, "norm", inputs, rows * d, LAYER_NORM)
    out = _dense(b, layer, ctx, region, "pw1", out, rows, d, 2 * d, ("pw1",), fp32=True, kernels=2)
    out = _sfu(b, layer, ctx, region, "glu", out, rows * d, GLU)
    out = _quant(b, f"{ctx.tag}{layer.network}.{layer.name}.dw.quant_in", ctx, region, p.act_quantizer, p.act_bits,
                 rows * d, 1, out)
    out = [b.add(f"{ctx.tag}{layer.network}.{layer.name}.dw", "dwconv", "core", ctx.component, region, out, m=rows,
                 k=spec.kernel, n=d, weights=(_weight(layer, "dw"),), weight_bits=p.weight_bits,  # type: ignore[attr-defined]
                 act_bits=p.act_bits, kernels=ctx.kernels(3 + 2 * spec.kernel),  # type: ignore[attr-defined]
                 broadcast=ctx.eager_only(rows * spec.kernel * d))]  # eager: each tap's weight row broadcast
    out = _sfu(b, layer, ctx, region, "swish", out, rows * d, BATCH_NORM + SWISH)
    out = _dense(b, layer, ctx, region, "pw2", out, rows, d, d, ("pw2",), kernels=2)
    return _sfu(b, layer, ctx, region, "residual", out, rows * d, RESIDUAL), replace(ctx, input_quantized=False)


# ---------------------------------------------------------------- generic layers (imported models)


def _rows(ctx: Ctx) -> int:
    return ctx.frames if ctx.sequence else ctx.rows


@register_lowering("conv1d")
def lower_conv1d(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """An im2col matmul (rows: frames; reduction: kernel x input channels of a group), or a depthwise ``dwconv``
    op as the Conformer's (rows x kernel x channels)."""
    spec, p = layer.spec, layer.precision
    rows, region = _encoder_rows(layer, ctx), _region(ctx, layer)
    name = f"{ctx.tag}{layer.network}.{layer.name}"
    deps = inputs if ctx.input_quantized else _quant(b, f"{name}.quant_in", ctx, region, p.act_quantizer, p.act_bits,
                                                     rows * spec.input, 1, inputs)  # type: ignore[attr-defined]
    kind, k = ("dwconv", spec.kernel) if spec.depthwise else ("matmul", spec.input // spec.groups * spec.kernel)  # type: ignore[attr-defined]
    out = b.add(f"{name}.conv", kind, "core", ctx.component, region, deps, m=rows, k=k, n=spec.output,  # type: ignore[attr-defined]
                weights=(_weight(layer, "W"),), biases=_biases(ctx, layer, "b"), weight_bits=p.weight_bits,
                act_bits=p.act_bits)
    return [out], replace(ctx, input_quantized=False)


@register_lowering("attention")
def lower_attention(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """Per head the scores (rows x keys, head width deep), softmax and the context (rows x head width, keys deep)."""
    spec = layer.spec
    rows, region, d, heads = _encoder_rows(layer, ctx), _region(ctx, layer), spec.dim, spec.heads  # type: ignore[attr-defined]
    keys, dh = ctx.keys or rows, d // heads
    scores = _dense(b, layer, ctx, region, "scores", inputs, heads * rows, dh, keys, (), quantized=ctx.input_quantized)
    soft = _sfu(b, layer, ctx, region, "softmax", scores, heads * rows * keys, SOFTMAX)
    return _dense(b, layer, ctx, region, "context", soft, heads * rows, keys, dh, ()), replace(ctx, input_quantized=False)


@register_lowering("layer_norm")
@register_lowering("elementwise")
def lower_elementwise(b: GraphBuilder, layer: ModelLayer, ctx: Ctx, inputs: list[int]) -> tuple[list[int], Ctx]:
    """Element-wise work on the SFU, fetching the layer's FP32 parameters (a norm's scale and shift)."""
    spec = layer.spec
    norm = layer.kind == "layer_norm"
    fn = LAYER_NORM if norm else Pointwise(spec.ops, (), spec.ops)  # type: ignore[attr-defined]
    out = b.add(f"{ctx.tag}{layer.network}.{layer.name}.sfu", "sfu", "core", ctx.component, _region(ctx, layer), inputs,
                biases=_biases(ctx, layer, "b"), kernels=ctx.kernels(fn.kernels),
                **_work_of(fn, _rows(ctx) * spec.input, ctx))  # type: ignore[attr-defined]
    return [out], replace(ctx, input_quantized=False)


def lower_network(b: GraphBuilder, network: Network, ctx: Ctx, inputs: list[int]) -> list[int]:
    """Lower a network's layers in order; returns the ops producing its output."""
    out = inputs
    for layer in network.layers:
        b.network, b.layer = layer.network, layer.name  # every op of the layer says which it lowers
        b.codebook_bits = layer.precision.codebook_bits if layer.precision.codebook else 0
        out, ctx = LOWERINGS[layer.kind](b, layer, ctx, out)
    b.network = b.layer = ""
    b.codebook_bits = 0
    return out


def lower_decode_step(b: GraphBuilder, model: Model, step: StepRecord, after: list[int], beam: int,
                      tag: str | None = None) -> list[int]:
    """One ALSD iteration; ``after`` are the ops it must wait for. Returns the ops ending it.

    Op names start with ``tag`` (default ``it<iteration>.``)."""
    tag = f"it{step.iteration}." if tag is None else tag
    region = "decode"
    # The host starts each iteration's program on the coprocessor: the loop is dynamic, so every
    # iteration is a launch (the encoder, a static graph, is one). The launch occupies the whole
    # coprocessor (its command processor sets up every core), so it counts as coprocessor time.
    after = [b.add(f"{tag}launch", "launch", "core", "search", region, after, network="search", layer="launch")]
    outs: list[int] = []
    pred_out: list[int] = []
    for net, rows in (("prediction", step.miss_prediction), ("lm_ext", step.miss_lm), ("lm_src", step.miss_lm)):
        if net in model.networks and rows > 0:
            done = lower_network(b, model.networks[net], _decode_ctx(model, net, rows, tag), after)
            if net == "prediction":
                pred_out = done
            else:
                outs += done
    joint = lower_network(b, model.networks["joint"], _decode_ctx(model, "joint", step.active, tag), after + pred_out)
    lm_scores = 2 * step.miss_lm * model.vocab if "lm_ext" in model.networks else 0
    scores = b.add(f"{tag}scores", "transfer", "d2h", "search", region, joint + outs, network="search", layer="scores",
                   bytes=(step.active * model.vocab + lm_scores) * SCORE_BYTES)
    fuse = b.add(f"{tag}fuse", "fuse", "host", "search", region, [scores], network="search", layer="fuse", elements=step.candidates)
    topk = b.add(f"{tag}topk", "topk", "host", "search", region, [fuse], network="search", layer="topk", elements=step.candidates, k=beam)
    merge = b.add(f"{tag}merge", "merge", "host", "search", region, [topk], network="search", layer="merge", elements=step.kept + step.merged)
    last = merge
    if model.copy_states:  # each survivor's recurrent state is copied into the next iteration's hypothesis slots
        last = b.add(f"{tag}copy", "copy", "host", "search", region, [merge], network="search", layer="copy",
                     bytes=step.kept * state_bytes(model))
    select = b.add(f"{tag}select", "transfer", "h2d", "search", region, [last], network="search", layer="select", bytes=step.kept * SELECTION_BYTES)
    if model.prefetch_next:  # while the host searches, the idle link brings in the next iteration's first weights
        prefetch = b.add(f"{tag}prefetch", "prefetch", "h2d", "search", region, [scores], network="search",
                         layer="prefetch")
        return [select, prefetch]
    return [select]


#: What a greedy decoder on the device sends the host per hypothesis and program: the label it emitted (int32), which
#: tells the host whether to go on.
FLAG_BYTES = 4


def device_iterations(model: Model, trace: DecodeTrace) -> tuple[tuple[str, Segment], ...]:
    """The greedy decode as programs on the device (``runtime.decode_on: device``), one per group of steps (see
    :func:`decode_groups`), each lowered once for every utterance of the process."""
    return tuple((f"it{i}.", lower_device_program(model, 1, predicts))
                 for i, predicts in enumerate(decode_groups(trace.steps, model.greedy_loop)))


def decode_groups(steps: tuple[StepRecord, ...], loop: str) -> list[tuple[int, ...]]:
    """The programs of a greedy decode on the device, each as the prediction-network rows before each of its joint
    evaluations (see :func:`lower_device_program`): each step its own program (``frame``: the host drives every joint
    evaluation), or each run of steps from one new label prefix to the next (``label``: label-looping, the frames
    between two labels looped over on the device)."""
    if loop == "frame":
        return [(s.miss_prediction,) for s in steps]
    groups: list[list[int]] = []
    for s in steps:
        if s.miss_prediction or not groups:
            groups.append([])
        groups[-1].append(s.miss_prediction)
    return [tuple(group) for group in groups]


@memoize("lowered device programs", 4096)
def _decode_ctx(model: Model, net: str, rows: int, tag: str) -> Ctx:
    """A decode program's network of ``rows`` rows, as the model's runtime runs it (biases fetched, eager kernels)."""
    return Ctx(net, "decode", model.lstm_quant, model.quantize, rows=rows, tag=tag, biases=model.fetch_biases,
               eager=model.eager)


def lower_device_program(model: Model, rows: int, predicts: tuple[int, ...]) -> Segment:
    """One program of a greedy decode on the device for ``rows`` hypotheses: its launch; then per joint evaluation,
    when ``predicts`` says so, the prediction network for that many rows (new labels; a batch runs every row, masked)
    and the gather that keeps each hypothesis's state or takes the new one, and the joint with the top-1 over the
    vocabulary fused into its last op (each evaluation after the one before: the loop runs on the device); last,
    the flags back to the host."""
    b = GraphBuilder()
    region = "decode"
    after = [b.add("launch", "launch", "core", "search", region, network="search", layer="launch")]
    for j, predict in enumerate(predicts):
        if predict:
            after = lower_network(b, model.networks["prediction"], _decode_ctx(model, "prediction", predict, f"e{j}."),
                                  after)
            after = [b.add(f"e{j}.states", "sfu", "core", "search", region, after, network="search", layer="states",
                           elements=rows * state_bytes(model) // STATE_BYTES)]
        after = lower_network(b, model.networks["joint"], _decode_ctx(model, "joint", rows, f"e{j}."), after)
        (last,) = after
        b.ops[last] = replace(b.ops[last], epilogue=b.ops[last].epilogue + rows * model.vocab)  # the top-1, fused
    flags = b.add("flags", "transfer", "d2h", "search", region, after, network="search", layer="flags",
                  bytes=rows * FLAG_BYTES)
    return Segment(tuple(b.ops), (flags,), ("device program", model, rows, predicts))


def state_bytes(model: Model) -> int:
    """Bytes of recurrent state one hypothesis carries on the host: h and c of every LSTM layer of the decoding
    networks (prediction, and LM_EXT and LM_SRC when fused), :data:`STATE_BYTES` each."""
    return STATE_BYTES * sum(layer.state_elements for net in ("prediction", "lm_ext", "lm_src")
                             if net in model.networks for layer in model.networks[net].layers)


@dataclass(frozen=True, eq=False)
class Segment:
    """A run of ops that begins only after every op of the segment before it has ended: the encoder, or one
    decode iteration. Its ops have local ids (0..n-1) and no dependency outside it; ``exits`` are the ops
    that end it (every op of the segment is an ancestor of one), and the next segment's first op waits for
    them. ``key`` is what it was lowered from when lowering says so (the same inputs give the same ops), else
    its content (every field of every op but names and ids): equal keys, equal work."""

    ops: tuple[Op, ...]
    exits: tuple[int, ...]
    made_by: tuple | None = None  # what it was lowered from, when that determines it (a cheaper key)

    @cached_property
    def prefetches(self) -> bool:
        """Whether the segment has a prefetch op (whose fetch depends on the segment after it)."""
        return any(op.kind == "prefetch" for op in self.ops)

    @cached_property
    def prefetches_last(self) -> bool:
        """Whether its only prefetch op is its last op (as a decode iteration's is)."""
        return self.ops[-1].kind == "prefetch" and sum(op.kind == "prefetch" for op in self.ops) == 1

    @cached_property
    def key(self) -> tuple:
        return self.made_by if self.made_by is not None else content_key(self.ops)

    def __hash__(self) -> int:  # segments are looked up by content; hashing a long key once is enough
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Segment) and self._hash == other._hash and self.key == other.key)

    @cached_property
    def _hash(self) -> int:
        return hash(self.key)


@dataclass(frozen=True)
class EncoderWork:
    """The encoder of one utterance, described rather than lowered: lowering it is left to whoever needs
    its ops (a run with records), since a metrics-only run can measure it from a few steps (see
    ``accelsim.pipeline``)."""

    network: Network
    frames: int
    lstm_quant: str
    quantize: str = "separate"
    keys: int = 0  # attention keys per query (a streaming chunk's context); 0: every frame
    projection: str = "batched"
    biases: bool = True
    eager: bool = False
    batch: int = 1  # utterances of this length whose encoders run together, each op doing the work of all of them
    kernel: str = "per_step"  # runtime.lstm_kernel: an LSTM's steps as kernels of their own, or one persistent kernel
    features: bool = True  # its features cross the link first (false: they are on the device already)

    def lower(self, steps: int | None = None) -> Segment:
        """The encoder segment; with ``steps`` only that many recurrent steps per layer and direction
        (every batched op keeps its size for all the frames)."""
        segment = lower_encoder(self.network, self.frames, self.lstm_quant, steps, self.quantize, self.keys,
                                self.projection, self.biases, self.eager, self.kernel, self.features)
        return batched(segment, self.batch)


@dataclass(frozen=True)
class ChunkWork:
    """One chunk of a streaming utterance: where it sits (:class:`accelsim.workload.streaming.Chunk`), its encoder
    (its frames, attending to its context) and the decode iterations that run on its frames (consecutive indices
    into the program's iterations: the chunk of an iteration never decreases)."""

    chunk: Chunk
    encoder: EncoderWork
    steps: range


@dataclass(frozen=True)
class Program:
    """The whole utterance: the encoder, then each decode iteration with the name prefix of its ops
    (``it12.``). Iterations of equal work share one :class:`Segment` object. A streaming utterance also has its
    ``chunks``, run one after the other as the audio arrives (``frame_shift_s`` seconds of audio per frame)."""

    encoder: EncoderWork
    iterations: tuple[tuple[str, Segment], ...]
    chunks: tuple[ChunkWork, ...] = ()
    frame_shift_s: float = 0.0

    @property
    def streaming(self) -> bool:
        return bool(self.chunks)

    @property
    def occurrences(self) -> tuple[tuple[str, Segment], ...]:
        return (("", self.encoder.lower()), *self.iterations)

    @property
    def segments(self) -> list[Segment]:
        return [seg for _, seg in self.occurrences]

    @cached_property
    def ops(self) -> list[Op]:
        """Every op with global ids: each segment's first op waits for the previous segment's exits."""
        ops: list[Op] = []
        exits: tuple[int, ...] = ()
        for tag, seg in self.occurrences:
            base = len(ops)
            for op in seg.ops:
                deps = tuple(d + base for d in op.deps)
                if op.id == 0 and exits:
                    deps = tuple(sorted(set(deps) | set(exits)))
                ops.append(replace(op, id=op.id + base, name=tag + op.name, deps=deps))
            exits = tuple(e + base for e in seg.exits)
        return ops


def lower_program(model: Model, frames: int, trace: DecodeTrace, streaming: StreamingSpec | None = None,
                  frame_shift_s: float = 0.0) -> Program:
    """The whole utterance: features in, encoder, then every decode iteration of ``trace``; streaming, in chunks.

    Each iteration starts with a launch that waits for the previous iteration's selections, and every
    op of an iteration is an ancestor of its selections, so segments never overlap in time. Equal
    iterations (same counts) are lowered once, for every utterance of the process (memoized).
    """
    encoder = EncoderWork(model.networks["encoder"], frames, model.lstm_quant, model.quantize,
                          projection=model.lstm_input_projection, biases=model.fetch_biases, eager=model.eager,
                          kernel=model.lstm_kernel)
    if model.decode_on == "device":
        iterations = device_iterations(model, trace)
    else:
        iterations = tuple((f"it{step.iteration}.", lower_iteration(model, _work(step), trace.beam))
                           for step in trace.steps)
    chunks = _chunks(encoder, len(iterations), streaming) if streaming is not None else ()
    return Program(encoder, iterations, chunks, frame_shift_s)


def _chunks(encoder: EncoderWork, iterations: int, streaming: StreamingSpec) -> tuple[ChunkWork, ...]:
    """Each chunk of a streaming utterance with its encoder and its decode iterations (see
    ``accelsim/workload/streaming.py``)."""
    recomputes = any(layer.spec.encoder_only for layer in encoder.network.layers)
    chunks = plan_chunks(encoder.frames, streaming, recomputes)
    of = [chunk_of_iteration(i, iterations, encoder.frames, streaming.chunk_frames, len(chunks)) for i in range(iterations)]
    out, first = [], 0
    for chunk in chunks:
        count = of.count(chunk.index)
        out.append(ChunkWork(chunk, replace(encoder, frames=chunk.rows, keys=chunk.keys), range(first, first + count)))
        first += count
    return tuple(out)


@memoize("lowered encoders", 64)
def lower_encoder(encoder: Network, frames: int, lstm_quant: str, steps: int | None = None,
                  quantize: str = "separate", keys: int = 0, projection: str = "batched", biases: bool = True,
                  eager: bool = False, kernel: str = "per_step", features: bool = True) -> Segment:
    """The encoder segment; memoized, since sweeps over beams and LM settings share it. Without ``features`` the
    features are on the device already (copied ahead, overlapped with earlier work)."""
    b = GraphBuilder()
    first = encoder.layers[0].spec
    width = first.input  # type: ignore[attr-defined]
    stacked = math.prod(layer.spec.stacking for layer in encoder.layers)  # input frames per encoder frame
    feats = [b.add("encoder.features", "transfer", "h2d", "encoder", "encoder", network="encoder", layer="features",
                   bytes=frames * stacked * first.subsampling * width * FEATURE_BYTES)] if features else []
    launch = b.add("encoder.launch", "launch", "core", "encoder", "encoder", feats, network="encoder", layer="launch")
    ctx = Ctx("encoder", "encoder", lstm_quant, quantize, frames=frames * stacked, steps=(steps or 0) * stacked,
              keys=keys, projection=projection, biases=biases, eager=eager, persistent=kernel == "persistent")
    after = lower_network(b, encoder, ctx, [launch])
    # The key is every input of this function: the same inputs give the same ops (a review found quantize missing).
    return Segment(tuple(b.ops), tuple(after), ("encoder", encoder, frames, lstm_quant, steps or frames, quantize, keys,
                                                projection, biases, eager, kernel, features))


@memoize("batched encoders", 256)
def batched(segment: Segment, size: int) -> Segment:
    """``segment`` (an encoder) doing the work of ``size`` utterances of its length in each op: every op's work
    (matmul rows, element-wise work and its special functions, transfer bytes, quantizer calls, fused epilogue) times
    the batch, its weights once (one fetch serves the batch) and its kernel calls once. A shorter utterance in a batch
    is padded to the longest one's frames."""
    if size == 1:
        return segment
    ops = tuple(replace(op, m=op.m * size, elements=op.elements * size, bytes=op.bytes * size, calls=op.calls * size,
                        epilogue=op.epilogue * size, special=tuple((name, n * size) for name, n in op.special),
                        broadcast=op.broadcast * size, reduce=op.reduce * size)
                for op in segment.ops)
    return Segment(ops, segment.exits, ("batched", segment.key, size))


@memoize("lowered decode iterations", 8192)
def lower_iteration(model: Model, work: tuple, beam: int) -> Segment:
    """One decode iteration of the given work (see :func:`_work`), with local names and ids."""
    active, miss_prediction, miss_lm, candidates, merged, kept = work
    step = StepRecord(0, active, miss_prediction, miss_lm, candidates, merged, kept)
    b = GraphBuilder()
    exits = lower_decode_step(b, model, step, [], beam, tag="")
    return Segment(tuple(b.ops), tuple(exits), ("iteration", model, work, beam))


def _work(step: StepRecord) -> tuple:
    """What an iteration's graph depends on: its counts, not its index."""
    return (step.active, step.miss_prediction, step.miss_lm, step.candidates, step.merged, step.kept)


def lower(model: Model, frames: int, trace: DecodeTrace) -> list[Op]:
    """The whole utterance as one op DAG (see :func:`lower_program`)."""
    return lower_program(model, frames, trace).ops
