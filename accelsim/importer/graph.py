"""An ONNX graph as the importer reads it: its nodes in order, which tensors are parameters (initializers and constants,
followed through DequantizeLinear to the integers they store), element types and shapes, and the split of the nodes
into the transducer's three parts.

The split, in order of preference: node-name prefixes given by the user; the graph's structure (the encoder is what
only the audio features reach, the prediction network what only the integer labels reach, the joint network what both
reach); the usual names of exported parts (``encoder``, ``decoder``/``predictor``, ``joiner``/``joint``). A transducer
exported as three files (as icefall and NeMo export them) gives one part per file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError

PARTS = ("encoder", "prediction", "joint")
#: Node-name beginnings that name a part in exported graphs (matched case-insensitively after any leading '/').
PART_NAMES = {"encoder": ("encoder", "enc"), "prediction": ("decoder", "predictor", "prediction", "pred"),
              "joint": ("joiner", "joint")}
#: Inputs of a recurrent node that are its initial states, not its data (LSTM: initial_h, initial_c; GRU: initial_h).
STATE_INPUTS = {"LSTM": (5, 6), "GRU": (5,)}


def _onnx():
    try:
        import onnx
    except ImportError:
        raise AccelsimError("accelsim import reads ONNX files with the onnx package: pip install 'accelsim[onnx]'") from None
    return onnx


@dataclass
class Graph:
    """What the importer needs of one ONNX graph."""

    path: str
    nodes: list[Any]  # NodeProto, topologically ordered (as ONNX requires)
    params: dict[str, Any] = field(default_factory=dict)  # tensor -> TensorProto (initializers and Constant outputs)
    types: dict[str, int] = field(default_factory=dict)  # tensor -> TensorProto element type
    shapes: dict[str, tuple] = field(default_factory=dict)  # tensor -> dims (int, or None when symbolic)
    producer: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # graph inputs that are not initializers

    def numel(self, tensor: str) -> int:
        return math.prod(self.params[tensor].dims)

    def weight(self, tensor: str) -> str | None:
        """The parameter holding ``tensor``: itself, or the integers a DequantizeLinear of a parameter reads."""
        if tensor in self.params:
            return tensor
        node = self.producer.get(tensor)
        if node is not None and node.op_type == "DequantizeLinear" and node.input[0] in self.params:
            return node.input[0]
        return None

    def dtype(self, tensor: str) -> int:
        return self.params[tensor].data_type if tensor in self.params else self.types.get(tensor, 0)

    def name(self, node: Any) -> str:
        return node.name or f"{node.op_type.lower()}_{self.nodes.index(node)}"


def load_graph(path: str | Path) -> Graph:
    """The graph of an ONNX file, with its shapes inferred where ONNX can (one clear error for a file that is not one)."""
    onnx = _onnx()
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise AccelsimError(f"{path}: no such file") from None
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX model
        raise AccelsimError(f"{path}: not an ONNX model ({type(exc).__name__}: {str(exc)[:100]})") from None
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a custom op stops inference; shapes are only a help
        pass
    g = model.graph
    graph = Graph(str(path), list(g.node))
    graph.params = {t.name: t for t in g.initializer}
    for node in graph.nodes:
        for out in node.output:
            graph.producer[out] = node
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            graph.params[node.output[0]] = node.attribute[0].t
    for info in [*g.input, *g.value_info, *g.output]:
        kind = info.type.tensor_type
        graph.types[info.name] = kind.elem_type
        graph.shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in kind.shape.dim)
    graph.inputs = [i.name for i in g.input if i.name not in graph.params]
    return graph


# ---------------------------------------------------------------- the three parts


def _consumers(graph: Graph) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for node in graph.nodes:
        for i, tensor in enumerate(node.input):
            if i not in STATE_INPUTS.get(node.op_type, ()):
                out.setdefault(tensor, []).append(node)
    return out


def _reached(graph: Graph, sources: list[str]) -> set[int]:
    """Ids of the nodes that data from ``sources`` reaches (recurrent initial states do not carry it)."""
    consumers, seen, todo = _consumers(graph), set(), list(sources)
    while todo:
        for node in consumers.get(todo.pop(), ()):
            if id(node) not in seen:
                seen.add(id(node))
                todo.extend(node.output)
    return seen


def _by_structure(graph: Graph) -> dict[str, list[Any]] | None:
    """Encoder: reached from the float features only; prediction: from the integer labels only; joint: from both.
    Nodes neither reaches (shape arithmetic on constants) join the part of their first consumer."""
    onnx = _onnx()
    integer = {onnx.TensorProto.INT32, onnx.TensorProto.INT64}
    consumers = _consumers(graph)
    data = [i for i in graph.inputs if i in consumers]
    labels = [i for i in data if graph.types.get(i) in integer]
    features = [i for i in data if graph.types.get(i) not in integer]
    if not labels or not features:
        return None
    from_features, from_labels = _reached(graph, features), _reached(graph, labels)
    part_of: dict[int, str] = {}
    for node in graph.nodes:
        a, b = id(node) in from_features, id(node) in from_labels
        if a or b:
            part_of[id(node)] = "joint" if a and b else "encoder" if a else "prediction"
    for node in reversed(graph.nodes):
        if id(node) not in part_of:
            after = [part_of[id(c)] for out in node.output for c in consumers.get(out, ()) if id(c) in part_of]
            part_of[id(node)] = after[0] if after else "encoder"
    return {part: [n for n in graph.nodes if part_of[id(n)] == part] for part in PARTS}


def _by_prefix(graph: Graph, prefixes: dict[str, tuple[str, ...]], what: str) -> dict[str, list[Any]] | None:
    """Each node in the part whose prefix its name starts with; None if some node with work matches none."""
    parts: dict[str, list[Any]] = {p: [] for p in PARTS}
    for node in graph.nodes:
        name = graph.name(node).lstrip("/").lower()
        found = [p for p in PARTS if any(name.startswith(x.lower()) for x in prefixes.get(p, ()))]
        if not found:
            if node.op_type in ("Constant", "Shape", "Identity"):
                continue
            if what == "names":
                return None
            raise AccelsimError(f"{graph.path}: node {graph.name(node)!r} ({node.op_type}) begins with none of the "
                                f"prefixes {what}; give every node's part")
        parts[found[0]].append(node)
    return parts


def split_parts(graph: Graph, prefixes: dict[str, str] | None) -> dict[str, list[Any]]:
    """The nodes of each part of a transducer held in one graph (see the module's docstring for how)."""
    if prefixes:
        given = {p: (x,) for p, x in prefixes.items() if x}
        if set(given) != set(PARTS):
            raise AccelsimError("--encoder, --predictor and --joint go together: give the node-name prefix of each part")
        return _by_prefix(graph, given, "given by --encoder, --predictor and --joint")  # type: ignore[return-value]
    found = _by_structure(graph) or _by_prefix(graph, PART_NAMES, "names")
    if found is None or not all(found.values()):
        raise AccelsimError(f"{graph.path}: cannot tell the encoder, prediction and joint networks apart (the graph has no "
                            "float features and integer labels as inputs, and its node names do not say); give the parts' "
                            "node-name prefixes (--encoder, --predictor, --joint) or one file per part")
    return found


def joint_sides(graph: Graph, nodes: list[Any], from_encoder: list[str], from_prediction: list[str]) -> dict[str, list[Any]]:
    """The joint's nodes that only the encoder's output reaches (its projection), only the prediction network's, and
    those after the two meet: accelsim's joint network starts where they combine."""
    enc, pred = _reached_among(nodes, from_encoder), _reached_among(nodes, from_prediction)
    return {"encoder": [n for n in nodes if id(n) in enc and id(n) not in pred],
            "prediction": [n for n in nodes if id(n) in pred and id(n) not in enc],
            "joint": [n for n in nodes if (id(n) in enc) == (id(n) in pred)]}


def _reached_among(nodes: list[Any], sources: list[str]) -> set[int]:
    tensors, seen = set(sources), set()
    for node in nodes:  # topological order: one pass
        if any(t in tensors for t in node.input):
            seen.add(id(node))
            tensors.update(node.output)
    return seen
