"""The generic layer kinds an imported model is made of (gru, bgru, conv1d, attention, layer_norm, elementwise,
additive_joint, and layers without biases): their parameters, the work they lower to, and where they may run."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.errors import SpecError
from accelsim.graph.lower import GRU_CELL_OPS, LAYER_NORM_OPS, SOFTMAX_OPS, lower_encoder, state_bytes
from accelsim.spec.layers import GRU, Attention, Conv1d, Elementwise, LayerNorm, Linear
from accelsim.workload.model import build_model

FRAMES = 12


def _workload(encoder: list[dict], prediction: list[dict] | None = None, joint_kind: str = "additive_joint", **extra):
    return {"name": "generic", "utterance": {"frames": FRAMES, "frame_shift": "40 ms"},
            "model": {"vocab": 10, "encoder": {"layers": encoder},
                      "prediction": {"layers": prediction or [{"kind": "embedding", "vocab": 10, "dim": 8},
                                                              {"kind": "gru", "input": 8, "hidden": 16},
                                                              {"kind": "linear", "input": 16, "output": 16, "bias": False}]},
                      "joint": {"layers": [{"kind": joint_kind, "dim": 16}, {"kind": "linear", "input": 16, "output": 10},
                                           {"kind": "log_softmax", "dim": 10}]}},
            "decoding": {"beam": 2, "lm_fusion": False}, **extra}


ENCODER = [{"kind": "conv1d", "name": "pw", "input": 20, "output": 16, "kernel": 1},
           {"kind": "conv1d", "name": "dw", "input": 16, "output": 16, "kernel": 5, "groups": 16},
           {"kind": "layer_norm", "name": "norm", "dim": 16},
           {"kind": "linear", "name": "q", "input": 16, "output": 16, "bias": False},
           {"kind": "attention", "name": "att", "dim": 16, "heads": 4},
           {"kind": "elementwise", "name": "glu", "input": 16, "output": 8, "ops": 2, "fp32_params": 3},
           {"kind": "bgru", "name": "gru", "input": 8, "hidden": 8}]


def test_parameters_of_each_kind():
    assert GRU(input=8, hidden=16).params() == 3 * 16 * (8 + 16) + 2 * 3 * 16
    assert GRU(input=8, hidden=16, bias=False).params() == 3 * 16 * (8 + 16)
    assert Conv1d(input=16, output=32, kernel=5, groups=4).params() == 32 * 4 * 5 + 32
    assert Conv1d(input=16, output=16, kernel=5, groups=16).depthwise
    assert LayerNorm(dim=16).params() == 32 and LayerNorm(dim=16, bias=False).params() == 16
    assert Elementwise(input=16, ops=3, fp32_params=7).params() == 7 and Elementwise(input=16, output=8).output_size() == 8
    assert Linear(input=4, output=3, bias=False).params() == 12 and Attention(dim=16, heads=4).params() == 0
    with pytest.raises(ValueError, match="groups 3 must divide"):
        Conv1d(input=16, output=16, kernel=3, groups=3)


def test_encoder_work_of_each_kind(tmp_path):
    spec = accelsim.load_workload(_write(tmp_path, _workload(ENCODER)))
    ops = lower_encoder(build_model(spec).networks["encoder"], FRAMES, "outer").ops
    by_layer = {}
    for op in ops:
        by_layer.setdefault(op.layer, []).append(op)
    (dw,) = [op for op in by_layer["dw"] if op.kind == "dwconv"]
    assert (dw.m, dw.k, dw.n) == (FRAMES, 5, 16)
    (pw,) = [op for op in by_layer["pw"] if op.kind == "matmul"]
    assert (pw.m, pw.k, pw.n) == (FRAMES, 20, 16) and [b for _, b in pw.biases] == [16]
    (norm,) = by_layer["norm"]
    assert norm.elements == FRAMES * 16 * LAYER_NORM_OPS and [b for _, b in norm.biases] == [32]  # scale and shift fetched
    (q,) = [op for op in by_layer["q"] if op.kind == "matmul"]
    assert q.biases == ()  # no bias: none fetched
    att = [op for op in by_layer["att"] if op.kind == "matmul"]
    assert sum(op.macs for op in att) == 2 * FRAMES * FRAMES * 16 and all(not op.weights for op in att)
    (soft,) = [op for op in by_layer["att"] if op.kind == "sfu"]
    assert soft.elements == 4 * FRAMES * FRAMES * SOFTMAX_OPS
    (glu,) = by_layer["glu"]
    assert glu.elements == FRAMES * 16 * 2 and [b for _, b in glu.biases] == [3]
    cells = [op for op in by_layer["gru"] if op.kind == "sfu"]
    assert len(cells) == 2 * FRAMES and all(op.elements == 8 * GRU_CELL_OPS for op in cells)
    gates = [op for op in by_layer["gru"] if op.kind == "matmul" and op.n == 3 * 8]
    assert gates  # three gates per direction


def test_a_gru_prediction_network_carries_one_state_vector(tmp_path, hw_path):
    spec = accelsim.load_workload(_write(tmp_path, _workload(ENCODER)))
    assert state_bytes(build_model(spec)) == 4 * 16  # h only (an LSTM's would be h and c: 4 * 2 * 16)
    result = accelsim.simulate(spec, hw_path, precision="int8", keep_records=False)
    assert result.rtf > 0 and result.formats["prediction"] == "int8"


def test_where_the_generic_kinds_may_run(tmp_path):
    bad = _workload(ENCODER, prediction=[{"kind": "embedding", "vocab": 10, "dim": 16},
                                         {"kind": "attention", "dim": 16}])
    with pytest.raises(SpecError, match="attention layer runs over a whole sequence"):
        accelsim.load_workload(_write(tmp_path, bad))
    streaming = _workload(ENCODER, streaming={"chunk_frames": 4})
    with pytest.raises(SpecError, match="bidirectional GRU"):
        accelsim.load_workload(_write(tmp_path, streaming))
    mismatch = _workload(ENCODER[:-1] + [{"kind": "bgru", "input": 16, "hidden": 8}])
    with pytest.raises(SpecError, match="takes 16 inputs but the layer before gives 8"):
        accelsim.load_workload(_write(tmp_path, mismatch))


def _write(tmp_path, data):
    import yaml

    path = tmp_path / "generic.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
