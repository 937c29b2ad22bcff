"""The operator IR: what each op computes and moves, with no knowledge of any hardware."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter

#: Which kind of unit runs an op. Coprocessor ops are placed on cores by the engine; transfers use one
#: direction of the host link.
UNITS = ("core", "host", "h2d", "d2h")

#: Components for attribution (the paper's Fig. 2 legend, plus host-side beam search).
COMPONENTS = ("encoder", "prediction", "joint", "lm_ext", "lm_src", "search")


@dataclass(frozen=True, slots=True)
class Op:
    """One operator.

    ``weights`` are (tensor name, parameter count) pairs the op reads, at ``weight_bits``; the engine's residency model
    decides whether they are already on chip or must be fetched. ``lane``/``lanes`` say which of
    how many independent chains of its region the op belongs to (the encoder's forward and backward
    directions), a hint for placement.
    """

    id: int
    name: str
    kind: str  # matmul | sfu | quantize | gather | launch | transfer | fuse | topk | merge | copy | prefetch
    unit: str
    component: str
    region: str  # residency scope: weights are pinned per region (an encoder layer, the decode loop)
    deps: tuple[int, ...] = ()
    lane: int = 0
    lanes: int = 1
    m: int = 0  # matmul: batch rows
    k: int = 0  # matmul: reduction size; topk: how many are kept
    n: int = 0  # matmul: output features
    weight_bits: int = 16
    act_bits: int = 16
    weights: tuple[tuple[str, int], ...] = ()
    biases: tuple[tuple[str, int], ...] = ()  # FP32 bias vectors (name, parameters) fetched with the weights
    elements: int = 0  # element-wise work (SFU ops, host candidates)
    bytes: float = 0.0  # transfer payload; copy: bytes the host copies
    calls: int = 0  # quantizer calls this op stands for (Sec. 3.4 counts)
    quantizer: str = ""
    passes: int = 1  # element-wise passes per element (quantizers that need statistics make more)
    step: int = -1  # recurrent step of a sequence op (the encoder's t), -1 for every other op
    epilogue: int = 0  # element-wise SFU ops after its product (fused activation quantizers, passes included; an eager bias add)
    #: Of the op's element-wise work (its elements, epilogue, or a depthwise convolution's products), the operations
    #: whose loops an eager runtime runs with an operand broadcast along the rows, and those reducing along the rows.
    broadcast: int = 0
    reduce: int = 0
    network: str = ""  # the network whose layer this op lowers (encoder, lm_ext...); "search" for the decode loop's own ops
    layer: str = ""  # that layer's name (blstm3, out...), or the role of an op outside any layer (launch, scores, topk...)
    codebook_bits: int = 0  # weights are weight_bits-bit indices into a codebook of centroids of this many bits (0: uniform)
    #: Special-function evaluations among the op's element-wise work, by function (sigmoid, tanh, exp, gather: a
    #: data rearrangement such as an im2col copy): a device with special-function rates costs them apart.
    special: tuple[tuple[str, int], ...] = ()
    kernels: int = 1  # kernel calls the runtime makes for this op (an eager runtime: one per element-wise operation)
    views: int = 0  # array views an eager runtime takes between those calls (a step's row, a gate's slice)
    resident: bool = False  # a step of a persistent kernel: its weights stay in the cores (read once), no launch of its own

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n

    @property
    def weight_params(self) -> int:
        return sum(n for _, n in self.weights)


#: Op kinds that multiply by a weight matrix (a codebook-quantized layer's weights are decoded or looked up in them).
MATMUL_OPS = ("matmul", "dwconv")


@dataclass
class GraphBuilder:
    """Appends ops in a topological order (every dependency has a smaller id)."""

    ops: list[Op] = field(default_factory=list)
    network: str = ""  # the layer being lowered, stamped on every op added unless the op names its own
    layer: str = ""
    codebook_bits: int = 0  # the layer's codebook centroid bits (0: uniform weights), stamped on its matmuls

    def add(self, name: str, kind: str, unit: str, component: str, region: str, deps=(), **fields) -> int:
        op_id = len(self.ops)
        fields.setdefault("network", self.network)
        fields.setdefault("layer", self.layer)
        if self.codebook_bits and fields.get("weights") and kind in MATMUL_OPS:
            fields.setdefault("codebook_bits", self.codebook_bits)
        deps = tuple(sorted({d for d in deps if d is not None}))
        self.ops.append(Op(op_id, name, kind, unit, component, region, deps, **fields))
        return op_id


#: Fields of an op that say where it sits (its identity, dependencies, attribution, placement hint and the
#: tensors it reads), not how much work it does. Every other field is work: :func:`work_key` is derived from
#: the dataclass, so a field added to :class:`Op` joins the cost key without anyone keeping a list.
PLACE_FIELDS = frozenset({"id", "name", "deps", "component", "region", "lane", "lanes", "weights", "biases", "step",
                          "network", "layer"})
WORK_FIELDS = tuple(f.name for f in fields(Op) if f.name not in PLACE_FIELDS)
#: Everything but the op's name and absolute id: what makes two segments the same work (deps relative).
CONTENT_FIELDS = tuple(f.name for f in fields(Op) if f.name not in ("id", "name", "deps"))


_work_of = attrgetter(*WORK_FIELDS)
_content_of = attrgetter(*CONTENT_FIELDS)


def work_key(op: Op) -> tuple:
    """What an op's cost depends on: every work field (kind, unit, shapes, bits, element counts, bytes...)."""
    return _work_of(op)


def content_key(ops: "list[Op] | tuple[Op, ...]", start: int = 0) -> tuple:
    """The content of a run of ops whose ids start at ``start``: equal keys mean equal work and structure."""
    return tuple((_content_of(op), tuple(d - start for d in op.deps)) for op in ops)
