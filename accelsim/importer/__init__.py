"""`accelsim import`: a speech model exported to ONNX becomes an accelsim workload.

    imported = import_onnx(["model.onnx"])                          # one graph: parts told apart (see graph.py)
    imported = import_onnx(["encoder.onnx", "decoder.onnx", "joiner.onnx"])  # one file per part, in that order
    text = imported.yaml_text("mine", frames=150, frame_shift="20 ms")

The layers, their shapes and parameter counts, and the bits of quantized layers come from the graph (see
``accelsim/importer/layers.py`` for the op mapping); the utterance, the decoding and the runtime are not in a graph:
the workload states them as assumptions to edit. Needs the ``onnx`` package (``pip install 'accelsim[onnx]'``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import AccelsimError
from accelsim.importer.graph import PARTS, Graph, joint_sides, load_graph, split_parts
from accelsim.importer.layers import Network, map_nodes
from accelsim.spec.loader import validate
from accelsim.spec.workload import WorkloadSpec


@dataclass
class Imported:
    """A transducer read from ONNX: its three networks as accelsim layers."""

    sources: list[str]
    networks: dict[str, Network]
    nodes: int

    @property
    def warnings(self) -> list[str]:
        return [w for net in self.networks.values() for w in net.warnings]

    def workload(self, name: str, frames: int, frame_shift: str) -> dict[str, Any]:
        """The workload as its YAML file holds it."""
        joint = self.networks["joint"]
        float_bits = joint.float_bits
        overrides = [o for net in self.networks.values() for o in net.precision]
        return {
            "name": name,
            "description": f"imported from {', '.join(Path(s).name for s in self.sources)} by accelsim import",
            "utterance": {"frames": frames, "frame_shift": frame_shift},
            "model": {"vocab": joint.width, **{n: {"layers": net.layers} for n, net in self.networks.items()}},
            "precision": {"default": "fp16" if float_bits == 16 else "fp32", **({"layers": overrides} if overrides else {})},
            "decoding": {"beam": 4, "lm_fusion": False},
        }

    def yaml_text(self, name: str, frames: int, frame_shift: str, first_line: str | None = None) -> str:
        """The workload file, checked as accelsim will read it; ``first_line`` heads it (an editor's schema line)."""
        data = self.workload(name, frames, frame_shift)
        spec = validate(WorkloadSpec, data, f"the workload imported from {self.sources[0]}")
        params = {n: sum(layer.params() for layer in getattr(spec.model, n).layers) for n in PARTS}
        header = [
            *([first_line] if first_line else []),
            f"# Imported by `accelsim import` from {', '.join(self.sources)}: {self.nodes} nodes, "
            f"{sum(params.values()):,} parameters ({', '.join(f'{n} {p:,}' for n, p in params.items())}).",
            "# The layers (named after their nodes), their shapes and parameters, and the bits of quantized layers come "
            "from the graph.",
            "# Assumption: the utterance (frames the encoder runs over, audio per frame) and the decoding (beam 4, no "
            "LM fusion) are not in a graph: edit them.",
        ]
        body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
        return "\n".join(header) + "\n" + body

    def summary(self) -> str:
        lines = [f"  {'network':<12}{'layers':>7}  kinds"]
        for name, net in self.networks.items():
            kinds = Counter(layer["kind"] for layer in net.layers)
            lines.append(f"  {name:<12}{len(net.layers):>7}  {', '.join(f'{k} x{n}' for k, n in kinds.items())}")
        return "\n".join(lines)


def import_onnx(paths: list[str | Path], prefixes: dict[str, str] | None = None,
                elementwise: frozenset[str] = frozenset()) -> Imported:
    """Read one ONNX graph holding the whole transducer, or three (encoder, prediction network, joint network).

    ``prefixes``: the node-name prefix of each part of a single graph (instead of telling them apart by structure or
    names); ``elementwise``: op types to count as element-wise work instead of refusing."""
    graphs = [load_graph(p) for p in paths]
    if len(graphs) == 1:
        parts = {p: [(graphs[0], n) for n in nodes] for p, nodes in split_parts(graphs[0], prefixes).items()}
        ends = {p: [t for _, n in parts[p] for t in n.output] for p in ("encoder", "prediction")}
    elif len(graphs) == 3 and not prefixes:
        parts = {p: [(g, n) for n in g.nodes] for p, g in zip(PARTS, graphs)}
        ends = _joint_inputs(graphs[2])
    else:
        raise AccelsimError("accelsim import takes one ONNX file (the whole transducer) or three (encoder, prediction "
                            "network, joint network, in that order, without --encoder/--predictor/--joint)")
    _move_projections(parts, ends)
    float_bits = _float_bits(graphs)
    networks: dict[str, Network] = {}
    for part in PARTS:
        width = networks["encoder"].width if part == "joint" else None
        net = map_nodes(Network(part, width, float_bits, elementwise=frozenset(elementwise)), parts[part])
        if not net.layers:
            raise AccelsimError(f"{', '.join(map(str, paths))}: the {part} network has no layer accelsim maps")
        networks[part] = net
    return Imported([str(p) for p in paths], networks, sum(len(g.nodes) for g in graphs))


def _joint_inputs(graph: Graph) -> dict[str, list[str]]:
    """A joint network file's inputs: the encoder's output (its name says 'enc', else the first) and the prediction
    network's."""
    inputs = graph.inputs
    if len(inputs) < 2:
        raise AccelsimError(f"{graph.path}: a joint network takes two inputs (encoder and prediction outputs); it has "
                            f"{len(inputs)}")
    first = next((i for i in inputs if "enc" in i.lower()), inputs[0])
    return {"encoder": [first], "prediction": [i for i in inputs if i != first]}


def _move_projections(parts: dict[str, list[tuple[Graph, Any]]], ends: dict[str, list[str]]) -> None:
    """The joint's nodes that only one side reaches (a projection of the encoder's output, say) end that side's
    network: accelsim's joint network starts where the two meet."""
    joint = parts["joint"]
    if not joint:
        return
    graph = joint[0][0]
    sides = joint_sides(graph, [n for _, n in joint], ends["encoder"], ends["prediction"])
    for side in ("encoder", "prediction"):
        parts[side] += [(graph, n) for n in sides[side]]
    parts["joint"] = [(graph, n) for n in sides["joint"]]


def _float_bits(graphs: list[Graph]) -> int:
    """16 when most floating-point parameters are FLOAT16 or BFLOAT16 (an FP16 export), else 32."""
    kinds = Counter(t.data_type for g in graphs for t in g.params.values() if t.data_type in (1, 10, 16, 11))
    return 16 if kinds[10] + kinds[16] > kinds[1] + kinds[11] else 32
