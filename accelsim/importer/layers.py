"""ONNX nodes -> accelsim layers (the kinds of ``accelsim/spec/layers.py``), one network at a time, in graph order.

=========================================  =====================================================================
ONNX                                       accelsim layer
=========================================  =====================================================================
LSTM, GRU (forward, reverse, bidirectional)  lstm / blstm, gru / bgru (W, R and B from the initializers)
Gemm, MatMul by an initializer, MatMulInteger linear (a following Add of a bias vector becomes its bias)
Conv (1-D, stride 1), ConvInteger          conv1d (groups; groups = channels is depthwise)
MatMul -> [scale, mask] -> Softmax -> MatMul  attention (scores, softmax, context; heads from the shapes)
LayerNormalization                         layer_norm
Gather from an initializer                 embedding
LogSoftmax                                 log_softmax
the joint's first Add / Mul of its inputs  additive_joint / multiplicative_joint
Add, Mul, Relu, Sigmoid, Tanh, Softmax,    elementwise (operations per element by op; the FP32 parameters it reads;
BatchNormalization, ... (ELEMENTWISE_OPS)  consecutive ones are one layer)
Reshape, Transpose, Cast, Slice, Concat,   nothing (no work; Split into n halves the width, as in a GLU)
QuantizeLinear, DequantizeLinear, ...
=========================================  =====================================================================

Quantized graphs (QDQ, or MatMulInteger / ConvInteger): a layer whose weights an initializer of integers holds (through
DequantizeLinear) gets their bit width, and the width of the QuantizeLinear (FIX: a fixed scale) or
DynamicQuantizeLinear (MAX: a scale from the tensor's range) in front of its input as its activation bits.

Parameters are the elements of the initializers the layers read: weights, biases, norms' scales and shifts, batch
norms' statistics; a scalar constant (a scale, an epsilon) is not one. Any other op is one error naming the node and
its op type, unless the user lets its type count as element-wise work (one operation per element, with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from accelsim.errors import AccelsimError
from accelsim.importer.graph import Graph

#: Operations per element of the element-wise ops (a composite counts its steps).
ELEMENTWISE_OPS = {**dict.fromkeys(("Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Erf",
                                    "Neg", "Abs", "Pow", "Clip", "LeakyRelu", "Reciprocal", "Where", "Max", "Min",
                                    "ReduceMean", "ReduceSum", "ReduceMax", "Sin", "Cos", "PRelu"), 1),
                   "Softplus": 2, "HardSigmoid": 2, "Elu": 2, "Selu": 2, "BatchNormalization": 2, "HardSwish": 3,
                   "Softmax": 4, "Mish": 4, "Gelu": 5, "InstanceNormalization": 5}
#: Ops that move or retype data without arithmetic the accelerator would do.
NO_WORK = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Cast", "Shape", "Slice", "Constant",
           "ConstantOfShape", "Expand", "Range", "Dropout", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
           "Size", "Tile", "Concat", "Split")
#: Element types of quantized tensors -> bits (ONNX TensorProto numbers: INT8 3, UINT8 2, INT4 22, UINT4 21, INT16 5,
#: UINT16 4, FLOAT16 10, BFLOAT16 16, FLOAT 1, DOUBLE 11, the FLOAT8 kinds 17-20, INT2 26, UINT2 25).
BITS = {3: 8, 2: 8, 22: 4, 21: 4, 5: 16, 4: 16, 10: 16, 16: 16, 1: 32, 11: 32, 17: 8, 18: 8, 19: 8, 20: 8, 26: 2, 25: 2}


@dataclass
class Network:
    """One network being built: its layers (as a workload YAML writes them), the width its chain has reached, and
    the precision of its quantized layers."""

    name: str
    width: int | None = None
    float_bits: int = 32
    layers: list[dict] = field(default_factory=list)
    precision: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elementwise: frozenset[str] = frozenset()  # other op types the user lets count as element-wise work
    made: dict[str, int] = field(default_factory=dict)  # tensor -> index of the layer that produced it
    skip: set[int] = field(default_factory=set)  # nodes already mapped with another (an attention's)
    split_from: int | None = None  # the width before a Split cut it (a GLU's halves), until element-wise work uses it
    integer: set[int] = field(default_factory=set)  # layers of MatMulInteger / ConvInteger (their outputs are rescaled)


Handler = Callable[[Network, Graph, Any], None]
HANDLERS: dict[str, Handler] = {}


def handles(*op_types: str):
    def add(fn: Handler) -> Handler:
        HANDLERS.update(dict.fromkeys(op_types, fn))
        return fn

    return add


def map_nodes(net: Network, nodes: list[tuple[Graph, Any]]) -> Network:
    """Map each node to layers of ``net``, in order."""
    groups = _attentions(nodes)
    for graph, node in nodes:
        if id(node) in net.skip:
            continue
        if id(node) in groups:
            _attention(net, graph, node, groups[id(node)])
        elif node.op_type in HANDLERS:
            HANDLERS[node.op_type](net, graph, node)
        elif node.op_type in net.elementwise:
            net.warnings.append(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}) counted as element-wise work, "
                                "one operation per element (--as-elementwise)")
            _elementwise(net, graph, node, 1)
        else:
            raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}): accelsim has no layer for this "
                                f"op; --as-elementwise {node.op_type} counts it as element-wise work (one operation per "
                                "element), or leave it out of the export")
    return net


def _add(net: Network, graph: Graph, node: Any, layer: dict, width: int, bits: tuple | None = None) -> None:
    """Append ``layer`` (named after the node) to the chain; ``bits``: (weight bits, act bits, act quantizer)."""
    layer = {"kind": layer.pop("kind"), "name": graph.name(node), **layer}
    net.layers.append(layer)
    for out in node.output:
        net.made[out] = len(net.layers) - 1
    net.width = width
    if bits is not None and min(bits[0], bits[1]) < 16:
        weight_bits, act_bits, act_quantizer = bits
        net.precision.append({"network": net.name, "layer": layer["name"], "weight_bits": weight_bits,
                              "act_bits": act_bits, "weight_quantizer": "MAX", "act_quantizer": act_quantizer})


def _chain(net: Network, graph: Graph, node: Any, needed: int) -> None:
    """A layer that takes ``needed`` features must follow one that gives them."""
    if net.width is not None and net.width != needed:
        raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}) takes {needed} features but the "
                            f"layers before it in the {net.name} give {net.width}; accelsim's networks are chains of "
                            "layers (a branch that changes the width cannot be followed)")


def _width(net: Network, graph: Graph, node: Any) -> int:
    """The chain's width, or the node's input's last dimension when nothing came before."""
    if net.width is None:
        shape = graph.shapes.get(node.input[0], ())
        if not shape or not shape[-1]:
            raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}) is the first of the {net.name} "
                                "and its input's width is not known from the graph's shapes")
        net.width = shape[-1]
    return net.width


def _attr(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _bits(net: Network, graph: Graph, weight: str, activation: str) -> tuple[int, int, str]:
    """(weight bits, activation bits, activation quantizer) of a layer reading ``weight`` and ``activation``."""
    weight_bits = BITS.get(graph.dtype(weight), net.float_bits)
    node = graph.producer.get(activation)
    if node is not None and node.op_type == "DequantizeLinear":
        node = graph.producer.get(node.input[0])
    if node is not None and node.op_type == "DynamicQuantizeLinear":
        return weight_bits, 8, "MAX"
    if node is not None and node.op_type == "QuantizeLinear":
        dtype = graph.dtype(node.input[2]) if len(node.input) > 2 and node.input[2] else _attr(node, "output_dtype", 2)
        return weight_bits, BITS.get(dtype, 8), "FIX"
    act_bits = min(BITS.get(graph.dtype(activation), net.float_bits), net.float_bits)
    return weight_bits, act_bits, "none" if act_bits >= 16 else "FIX"


def _param(graph: Graph, node: Any, index: int) -> str | None:
    return graph.weight(node.input[index]) if len(node.input) > index and node.input[index] else None


# ---------------------------------------------------------------- layers with weights


@handles("LSTM", "GRU")
def _recurrent(net: Network, graph: Graph, node: Any) -> None:
    w, r, b = _param(graph, node, 1), _param(graph, node, 2), _param(graph, node, 3)
    if w is None or r is None:
        raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}): its weights W and R are not "
                            "initializers of the graph")
    if node.op_type == "LSTM" and len(node.input) > 7 and node.input[7]:
        raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} (LSTM): peephole connections are not modelled")
    directions, gates_hidden, inputs = graph.params[w].dims
    hidden = _attr(node, "hidden_size", gates_hidden // (4 if node.op_type == "LSTM" else 3))
    _chain(net, graph, node, inputs)
    kind = ("b" if directions == 2 else "") + node.op_type.lower()
    _add(net, graph, node, {"kind": kind, "input": inputs, "hidden": hidden, "bias": b is not None},
         directions * hidden, _bits(net, graph, w, node.input[0]))


@handles("Gemm", "MatMul", "MatMulInteger")
def _linear(net: Network, graph: Graph, node: Any) -> None:
    w = _param(graph, node, 1)
    if w is None:
        if _param(graph, node, 0) is None:
            raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}) multiplies two activations "
                                "outside a MatMul-Softmax-MatMul attention: accelsim has no layer for it")
        raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}): weights as the first operand "
                            "(W x) are not mapped; export x W")
    dims = list(graph.params[w].dims)
    if len(dims) != 2:
        raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}): weights of shape {dims} (a "
                            "linear layer's are 2-D)")
    inputs, outputs = (dims[1], dims[0]) if _attr(node, "transB", 0) else (dims[0], dims[1])
    _chain(net, graph, node, inputs)
    bias = node.op_type == "Gemm" and _param(graph, node, 2) is not None
    _add(net, graph, node, {"kind": "linear", "input": inputs, "output": outputs, "bias": bias}, outputs,
         _bits(net, graph, w, node.input[0]))
    if node.op_type == "MatMulInteger":
        net.integer.add(len(net.layers) - 1)


@handles("Conv", "ConvInteger")
def _conv(net: Network, graph: Graph, node: Any) -> None:
    w = _param(graph, node, 1)
    if w is None:
        raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}): its weights are not an "
                            "initializer of the graph")
    outputs, per_group, *kernel = graph.params[w].dims
    if len(kernel) != 1 or any(s != 1 for s in _attr(node, "strides", [1])):
        raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}): a {len(kernel)}-D convolution "
                            f"with strides {_attr(node, 'strides', [1])}; accelsim maps 1-D convolutions of stride 1 "
                            "(a subsampling front end is the conv_subsampling layer: write it by hand)")
    groups = _attr(node, "group", 1)
    _chain(net, graph, node, per_group * groups)
    bias = node.op_type == "Conv" and _param(graph, node, 2) is not None
    _add(net, graph, node, {"kind": "conv1d", "input": per_group * groups, "output": outputs, "kernel": kernel[0],
                            "groups": groups, "bias": bias}, outputs, _bits(net, graph, w, node.input[0]))
    if node.op_type == "ConvInteger":
        net.integer.add(len(net.layers) - 1)


@handles("Gather")
def _embedding(net: Network, graph: Graph, node: Any) -> None:
    table = _param(graph, node, 0)
    if table is None:
        return  # an index into a shape or an activation: no work
    vocab, dim = graph.params[table].dims
    _add(net, graph, node, {"kind": "embedding", "vocab": vocab, "dim": dim}, dim,
         (BITS.get(graph.dtype(table), net.float_bits), net.float_bits, "none"))


# ---------------------------------------------------------------- layers without weights


@handles("LayerNormalization")
def _layer_norm(net: Network, graph: Graph, node: Any) -> None:
    width = _width(net, graph, node)
    _chain(net, graph, node, graph.numel(_param(graph, node, 1)) if _param(graph, node, 1) else width)
    _add(net, graph, node, {"kind": "layer_norm", "dim": width, "bias": _param(graph, node, 2) is not None}, width)


@handles("LogSoftmax")
def _log_softmax(net: Network, graph: Graph, node: Any) -> None:
    width = _width(net, graph, node)
    _add(net, graph, node, {"kind": "log_softmax", "dim": width}, width)


@handles(*ELEMENTWISE_OPS)
def _arithmetic(net: Network, graph: Graph, node: Any) -> None:
    if _scalars(graph, node) or _rescale(net, node) or _fold_bias(net, graph, node) or _combine(net, graph, node):
        return
    _elementwise(net, graph, node, ELEMENTWISE_OPS[node.op_type])


def _elementwise(net: Network, graph: Graph, node: Any, ops: int) -> None:
    """Element-wise work over the chain's width, with the FP32 parameters it reads; merged into an element-wise layer
    just before it."""
    width = _width(net, graph, node)
    params = sum(graph.numel(p) for i in range(len(node.input)) if (p := _param(graph, node, i)) and graph.numel(p) > 1)
    last = net.layers[-1] if net.layers else None
    if net.split_from is None and last is not None and last["kind"] == "elementwise" and \
            last.get("output", last["input"]) == width:
        last["ops"] += ops
        last["fp32_params"] += params
        for out in node.output:
            net.made[out] = len(net.layers) - 1
        return
    layer = {"kind": "elementwise", "input": net.split_from or width, "ops": ops, "fp32_params": params}
    if net.split_from is not None:
        layer["output"], net.split_from = width, None
    _add(net, graph, node, layer, width)


def _scalars(graph: Graph, node: Any) -> bool:
    """Arithmetic on scalars only (a product of quantization scales): no work worth a layer."""
    def scalar(tensor: str) -> bool:
        if tensor in graph.params:
            return graph.numel(tensor) <= 1
        shape = graph.shapes.get(tensor)
        return shape is not None and all(d == 1 for d in shape)

    return all(scalar(t) for t in node.input if t)


def _rescale(net: Network, node: Any) -> bool:
    """The Mul by the scales after a MatMulInteger or ConvInteger (through its Cast) is that layer's dequantization,
    the epilogue of its op."""
    layer = next((net.made[t] for t in node.input if t in net.made), None)
    if node.op_type != "Mul" or layer is None or layer not in net.integer or layer != len(net.layers) - 1:
        return False
    for out in node.output:
        net.made[out] = layer
    return True


def _fold_bias(net: Network, graph: Graph, node: Any) -> bool:
    """An Add of a bias vector to the output of a linear or convolution without one becomes its bias."""
    if node.op_type != "Add" or not net.layers:
        return False
    for data, other in ((0, 1), (1, 0)):
        bias, layer = _param(graph, node, other), net.made.get(node.input[data])
        if bias is None or layer is None or layer != len(net.layers) - 1:
            continue
        target = net.layers[layer]
        if target["kind"] in ("linear", "conv1d") and not target["bias"] and graph.numel(bias) == target["output"]:
            target["bias"] = True
            for out in node.output:
                net.made[out] = layer
            return True
    return False


def _combine(net: Network, graph: Graph, node: Any) -> bool:
    """The joint network's first Add or Mul of two activations combines the encoder's and prediction network's outputs."""
    if net.name != "joint" or net.layers or node.op_type not in ("Add", "Mul") or any(
            _param(graph, node, i) for i in range(2)):
        return False
    kind = "additive_joint" if node.op_type == "Add" else "multiplicative_joint"
    _add(net, graph, node, {"kind": kind, "dim": _width(net, graph, node)}, net.width)  # type: ignore[arg-type]
    return True


@handles(*NO_WORK)
def _no_work(net: Network, graph: Graph, node: Any) -> None:
    """Moves data only; a Split into n parts leaves 1/n of the width to the chain (a GLU's halves: the element-wise
    layer after it takes the whole width and gives the part)."""
    if node.op_type == "Split" and net.width and net.width % len(node.output) == 0 and len(node.output) > 1:
        net.split_from = net.width
        net.width //= len(node.output)
    elif node.input and node.input[0] in net.made:  # the same values, moved: still the layer's output
        for out in node.output:
            net.made[out] = net.made[node.input[0]]


# ---------------------------------------------------------------- attention


def _attentions(nodes: list[tuple[Graph, Any]]) -> dict[int, list[Any]]:
    """Each MatMul -> [Div, Mul, Add, Sub, Cast] -> Softmax -> [Cast, Dropout] -> MatMul of activations, keyed by
    its first MatMul: the nodes of one attention layer."""
    found = {}
    for graph, node in nodes:
        if node.op_type != "Softmax":
            continue
        group, back = [node], graph.producer.get(node.input[0])
        while back is not None and back.op_type in ("Div", "Mul", "Add", "Sub", "Cast"):
            group.insert(0, back)
            back = graph.producer.get(back.input[0])
        ahead = _consumer(nodes, graph, node.output[0])
        while ahead is not None and ahead.op_type in ("Cast", "Dropout"):
            group.append(ahead)
            ahead = _consumer(nodes, graph, ahead.output[0])
        if _activations_only(graph, back) and _activations_only(graph, ahead):
            found[id(back)] = [back, *group, ahead]
    return found


def _consumer(nodes: list[tuple[Graph, Any]], graph: Graph, tensor: str) -> Any:
    users = [n for g, n in nodes if g is graph and tensor in n.input]
    return users[0] if len(users) == 1 else None


def _activations_only(graph: Graph, node: Any) -> bool:
    return node is not None and node.op_type == "MatMul" and not any(graph.weight(t) for t in node.input)


def _attention(net: Network, graph: Graph, node: Any, group: list[Any]) -> None:
    width = _width(net, graph, node)
    softmax = next(n for n in group if n.op_type == "Softmax")
    shape = graph.shapes.get(softmax.input[0], ())
    heads = shape[1] if len(shape) == 4 and shape[1] else 1
    if len(shape) != 4 or not shape[1] or width % heads:
        net.warnings.append(f"{graph.path}: attention at {graph.name(node)!r}: its heads are not known from the graph's "
                            "shapes; one head assumed (the softmax work scales with the heads)")
        heads = 1
    net.skip.update(id(n) for n in group)
    _add(net, graph, node, {"kind": "attention", "dim": width, "heads": heads}, width)
    for out in group[-1].output:
        net.made[out] = len(net.layers) - 1
