"""The MLPerf RNN-T workload (issue 22): its layers (frame stacking, the concatenating joint), its 45.3 M parameters,
greedy decoding and its op counts per frame, the greedy search as kernels on the device, the length distribution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import accelsim
from accelsim.errors import SpecError
from accelsim.graph.lower import decode_groups, lower_device_program, lower_encoder
from accelsim.pipeline import prepare, resolve
from accelsim.workload.greedy import bounded, labels_per_frame, run_greedy
from accelsim.workload.model import build_model
from accelsim.workload.search import EmissionModel, run_alsd
from accelsim.workload.testset import utterance_lengths

REPO = Path(__file__).resolve().parents[1]
MLPERF = REPO / "workloads" / "mlperf_rnnt.yaml"
A100 = REPO / "hwconfigs" / "gpu" / "a100_sxm_80gb.yaml"


@pytest.fixture(scope="module")
def spec():
    return accelsim.load_workload(MLPERF)


# ---------------------------------------------------------------- the model


def test_accelsim_size_says_45_3_million_parameters(run_cli):
    """By hand: pre_rnn 4096 x (240 + 1024) + 4096 x (1024 + 1024) + 4 x 4096 biases = 13,582,336; post_rnn
    4096 x (2048 + 1024) + 2 x 4096 x 2048 + 6 x 4096 = 29,384,704; prediction 28 x 320 + 2 x (1280 x 640 + 2560)
    = 1,652,480; joint 1344 x 512 + 512 + 512 x 29 + 29 = 703,517: 45,323,037."""
    out = run_cli("size", MLPERF, "--json")
    assert out.returncode == 0, out.stderr
    size = json.loads(out.stdout)
    assert size["params_M"] == pytest.approx(45.323037)
    assert {n: round(v["params_M"], 6) for n, v in size["networks"].items()} == {
        "encoder": 42.96704, "prediction": 1.65248, "joint": 0.703517}
    assert "45.32" in run_cli("size", MLPERF).stdout


def test_time_stacking_runs_each_layer_at_its_frame_rate(spec):
    """120 encoder frames of 60 ms: the features cross the link as 720 frames of 80 (10 ms, FP16); pre_rnn's LSTMs
    step 240 times (30 ms), post_rnn's 120 times (60 ms); their input projections take 240 and 120 rows of 240 and
    2048 features."""
    model = build_model(spec)
    ops = lower_encoder(model.networks["encoder"], 120, "outer", None, "fused", 0, "batched", True, False, "per_step").ops
    assert ops[0].bytes == 720 * 80 * 2
    steps = {layer: sum(op.kind == "matmul" and op.step >= 0 and op.layer == layer for op in ops)
             for layer in ("pre_rnn1", "pre_rnn2", "post_rnn1", "post_rnn3")}
    assert steps == {"pre_rnn1": 239, "pre_rnn2": 239, "post_rnn1": 119, "post_rnn3": 119}  # h_-1 = 0: no matmul
    projections = {op.layer: (op.m, op.k) for op in ops if op.kind == "matmul" and op.step < 0}
    assert projections == {"pre_rnn1": (240, 240), "pre_rnn2": (240, 1024), "post_rnn1": (120, 2048),
                           "post_rnn2": (120, 1024), "post_rnn3": (120, 1024)}


def test_a_persistent_lstm_step_is_one_resident_matmul_with_its_cell(spec):
    model = build_model(spec)
    ops = lower_encoder(model.networks["encoder"], 8, "outer", None, "fused", 0, "batched", True, False, "persistent").ops
    steps = [op for op in ops if op.step >= 0 and op.layer == "post_rnn2"]
    assert len(steps) == 8 and all(op.resident and op.kind == "matmul" for op in steps)
    assert (steps[0].m, steps[0].k, steps[0].n) == (1, 1024, 4096)
    # the cell fused in: 13 operations per cell, of which 3 sigmoids and 2 tanh counted apart
    assert (steps[0].epilogue, steps[0].special) == (1024 * 8, (("sigmoid", 3 * 1024), ("tanh", 2 * 1024)))


def test_the_joint_concatenates_then_projects(spec):
    """No op for the concatenation: fc1 takes the 1344 features of both outputs, ReLU 512, fc2 29."""
    model = build_model(spec)
    segment = lower_device_program(model, 1, (0,))
    joint = [(op.kind, op.k, op.n, op.elements) for op in segment.ops if op.component == "joint"]
    assert joint[0] == ("matmul", 1344, 512, 0) and joint[-1] == ("matmul", 512, 29, 0)
    assert [op.elements for op in segment.ops if op.layer == "relu"] == [512]


def test_shapes_are_checked_against_the_concatenation(tmp_path):
    text = MLPERF.read_text(encoding="utf-8").replace("encoder: 1024, prediction: 320", "encoder: 1024, prediction: 640")
    text = text.replace("input: 1344", "input: 1664")
    (tmp_path / "w.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match="combines width 640 from model.prediction, but it gives 320"):
        accelsim.load_workload(tmp_path / "w.yaml")


# ---------------------------------------------------------------- greedy decoding


def _emission(**update) -> EmissionModel:
    return EmissionModel(**{"vocab": 29, "label_rate": 0.9, **update})


def test_greedy_op_counts_per_frame():
    """At frame t the greedy decoder evaluates the joint 1 + labels(t) times; the prediction network runs for the
    start symbol and after every label: 20 frames at 0.9 labels per frame have 18 labels, 38 joint evaluations,
    19 prediction-network evaluations."""
    trace = run_greedy(20, _emission(), 30)
    per_frame = labels_per_frame(20, _emission(), 30)
    assert sum(per_frame) == 18 and max(per_frame) == 1
    assert trace.iterations == trace.total_active == 20 + 18
    assert trace.total_miss_prediction == 18 + 1
    joints, start = [], 0
    for emitted in per_frame:  # the steps of frame t are its labels then its blank
        joints.append(emitted + 1)
        labels = trace.steps[start:start + emitted + 1]
        assert [s.miss_prediction for s in labels[1:]] == [1] * emitted  # after each label, a new prefix
        start += emitted + 1
    assert joints == [e + 1 for e in per_frame]


def test_greedy_is_alsd_at_beam_one_when_the_bound_does_not_bind():
    for frames, seed in ((20, 0), (57, 3)):
        emission = _emission(seed=seed)
        assert run_greedy(frames, emission, 30).steps == run_alsd(frames, 1, emission, None).steps


def test_the_max_symbols_bound_holds_labels_back():
    """With a bound of 2, three labels due at frame 0 come out as 2 then 1 at frame 1; labels held back past the
    last frame never come out. The synthetic posteriors spread at most one label per frame (label_rate <= 1)."""
    assert bounded((3, 0, 0, 1, 0), 2) == (2, 1, 0, 1, 0)
    assert bounded((0, 3), 1) == (0, 1)
    assert max(labels_per_frame(50, _emission(label_rate=1.0), 1)) == 1


def test_greedy_needs_beam_one_and_no_lms(tmp_path):
    with pytest.raises(SpecError, match="greedy' keeps one hypothesis"):
        resolve(MLPERF, A100, ["workload.decoding.beam=4"])


# ---------------------------------------------------------------- decoding on the device


def test_frame_and_label_loops_group_the_same_work():
    """Frame loop: one program per joint evaluation. Label loop: one per new prefix, running the prediction network
    once and the joint for every frame up to the next label; both do the same evaluations."""
    steps = run_greedy(20, _emission(), 30).steps
    frame, label = decode_groups(steps, "frame"), decode_groups(steps, "label")
    assert len(frame) == 38 and len(label) == 19
    assert all(group[0] == 1 and not any(group[1:]) for group in label)  # the prediction network first, once
    for groups in (frame, label):
        assert sum(len(g) for g in groups) == 38 and sum(sum(g) for g in groups) == 19


def test_a_device_decode_program_fuses_the_top1_and_sends_flags(spec):
    """Launch; prediction network (embedding gather, 2 x (gates, cell)); the state gather (h and c of 2 x 320 cells
    per hypothesis); the joint with the top-1 over 29 symbols fused into fc2; a second joint evaluation on the
    device; 4 bytes of flags per hypothesis."""
    model = build_model(spec)
    ops = lower_device_program(model, 8, (8, 0)).ops
    assert [op.layer for op in ops] == ["launch", "embed", "dec_rnn1", "dec_rnn1", "dec_rnn2", "dec_rnn2", "states",
                                        "fc1", "relu", "fc2", "fc1", "relu", "fc2", "flags"]
    assert ops[6].elements == 8 * 2 * 2 * 320
    assert [op.epilogue for op in ops if op.layer == "fc2"] == [8 * 29, 8 * 29]
    assert ops[-1].kind == "transfer" and ops[-1].bytes == 8 * 4
    assert not any(op.unit == "host" for op in ops)


def test_an_eager_runtime_calls_its_kernels_in_the_device_program_too(spec):
    """runtime.kernels reaches every decode program: a device program of an eager runtime calls more kernels than the
    same program fused (the device program used to be lowered fused whatever the runtime said)."""
    def kernels(mode: str) -> int:
        runtime = spec.runtime.model_copy(update={"kernels": mode})
        model = build_model(spec.model_copy(update={"runtime": runtime}))
        return sum(op.kernels for op in lower_device_program(model, 8, (8, 0)).ops)

    assert kernels("eager") > kernels("fused")


def test_frames_are_stacked_only_in_the_encoder(tmp_path):
    """A stack_frames layer in the prediction network is refused by the spec, naming it (it passed, then failed in the
    lowering with a bare ValueError)."""
    import yaml

    data = yaml.safe_load(MLPERF.read_text())
    data["model"]["prediction"]["layers"].insert(0, {"kind": "stack_frames", "name": "stack", "input": 320, "factor": 2})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="model.prediction.layers.0"):
        accelsim.load_workload(bad)


def test_the_greedy_search_on_the_device_runs_no_host_steps(spec):
    prepared = prepare(spec.model_copy(update={"test_set": None}))
    assert len(prepared.program.iterations) == prepared.trace.iterations  # frame loop: one program per step
    assert not any(op.unit == "host" for _, seg in prepared.program.iterations for op in seg.ops)


def test_device_decoding_needs_the_greedy_search():
    with pytest.raises(SpecError, match="decode_on 'device' runs the greedy search"):
        resolve(MLPERF, A100, ["workload.decoding.search=alsd", "workload.decoding.beam=1"])


# ---------------------------------------------------------------- the data set's lengths


def test_the_lognormal_lengths_are_the_selected_data_set(spec):
    """2,513 lengths inside [17, 250] frames (1 s to 15 s), drawn again rather than clipped (no pile at 250); the
    mean of the selected set is below the unselected 119.9 (the long tail above 15 s is gone): about 6.2 s."""
    lengths = np.array(utterance_lengths(spec.test_set))
    assert len(lengths) == 2513 and lengths.min() >= 17 and lengths.max() <= 250
    assert (lengths == 250).sum() < 10
    assert 6.0 / 0.06 < lengths.mean() < 6.4 / 0.06
    assert utterance_lengths(spec.test_set) == lengths.tolist()  # deterministic


def test_a_lognormal_without_room_is_one_clear_error(tmp_path):
    text = MLPERF.read_text(encoding="utf-8").replace("min_frames: 17", "min_frames: 249")
    (tmp_path / "w.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(accelsim.errors.AccelsimError, match="puts too few lengths between min_frames 249"):
        utterance_lengths(accelsim.load_workload(tmp_path / "w.yaml").test_set)
