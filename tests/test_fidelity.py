"""The physical mechanisms of issue 10, each against a hand calculation: systolic dataflows (SCALE-Sim's
analytical model), LSTM steps with a batched or per-step input projection, FP32 biases fetched with their layer,
and the host's copy of the surviving hypotheses' recurrent states."""

from __future__ import annotations

from pathlib import Path

import pytest

import accelsim
from accelsim.graph.ir import GraphBuilder, Op
from accelsim.graph.lower import lower, lower_decode_step, state_bytes
from accelsim.hw import coprocessor, host, systolic
from accelsim.hw.cost import op_cost
from accelsim.sim.policies import plan_residency
from accelsim.sim.target import target_for
from accelsim.workload.model import build_model
from accelsim.workload.search import DecodeTrace, StepRecord

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "rnnt_lm_fusion.yaml"

# ---------------------------------------------------------------- dataflows on a 32 x 32 array

# (m, k, n) of a batch-1 matvec and a batched matmul, and per dataflow the hand calculation, F = ceil(Sr / 32) x
# ceil(Sc / 32) folds of a 32 x 32 array (fill and drain R + C - 2 = 62):
# - output stationary: one fold 62 + T cycles; with overlap F x T + 62;
# - weight / input stationary: one fold 32 (load the stationary operand) + 62 + T = 94 + T; with overlap the first
#   load, then each later fold at max(T, its load of 32), the last T and one fill and drain: 32 + (F-1) max(T, 32)
#   + T + 62.
HAND = {
    # batch 1: m=1, k=64, n=96
    ("output_stationary", 1): (3 * (62 + 64), 3 * 64 + 62),  # Sr=m=1 -> 1, Sc=n=96 -> 3 folds; T=k=64
    ("weight_stationary", 1): (6 * (94 + 1), 32 + 5 * 32 + 1 + 62),  # Sr=k=64 -> 2, Sc=n=96 -> 3: 6 folds; T=m=1
    ("input_stationary", 1): (2 * (94 + 96), 32 + 1 * 96 + 96 + 62),  # Sr=k=64 -> 2, Sc=m=1 -> 1: 2 folds; T=n=96
    # batched: m=100, k=64, n=96
    ("output_stationary", 100): (12 * (62 + 64), 12 * 64 + 62),  # 4 x 3 folds, T=64
    ("weight_stationary", 100): (6 * (94 + 100), 32 + 5 * 100 + 100 + 62),  # 2 x 3 folds, T=100
    ("input_stationary", 100): (8 * (94 + 96), 32 + 7 * 96 + 96 + 62),  # 2 x 4 folds, T=96
}


@pytest.mark.parametrize("dataflow,m", sorted(HAND))
def test_dataflow_hand_calculations_on_a_32x32_array(dataflow, m):
    separate, overlapped = HAND[(dataflow, m)]
    assert systolic.matmul_cycles(dataflow, 32, 32, m, 64, 96, overlap=False) == separate
    assert systolic.matmul_cycles(dataflow, 32, 32, m, 64, 96, overlap=True) == overlapped


def test_concrete_hand_values():
    """The table above, written out, so that a typo in it cannot hide a wrong formula."""
    assert HAND[("output_stationary", 1)] == (378, 254)
    assert HAND[("weight_stationary", 1)] == (570, 255)  # load-bound at batch 1: was 100 before stationary loads counted
    assert HAND[("weight_stationary", 100)] == (1164, 694)
    assert HAND[("input_stationary", 100)] == (1520, 862)


@pytest.fixture(scope="module")
def chip32(hw_path):
    """One core, one 32 x 32 corelet, one FP16 MAC per PE (no SIMD), so the coprocessor's cycles are the array's."""
    return accelsim.load_hardware(hw_path, overrides=[
        "hw.coprocessor.cores=1", "hw.coprocessor.corelets_per_core=1", "hw.coprocessor.pe_rows=32",
        "hw.coprocessor.pe_cols=32", "hw.coprocessor.macs_per_cycle={fp16: 1024}"])


@pytest.mark.parametrize("dataflow,m", sorted(HAND))
def test_coprocessor_uses_the_dataflow_of_the_spec(chip32, dataflow, m):
    for overlap, expected in zip((False, True), HAND[(dataflow, m)]):
        cop = chip32.coprocessor.model_copy(update={"dataflow": dataflow, "fold_overlap": overlap})
        assert coprocessor.matmul_cycles(cop, "fp16", m, 64, 96, 1) == expected


def test_folds_spread_over_corelets_and_simd_shortens_the_reduction(chip32):
    """Two corelets share the folds; 8 SIMD lanes per PE make the reduction 64 / 8 = 8 steps."""
    cop = chip32.coprocessor.model_copy(update={"corelets_per_core": 2, "macs_per_cycle": {"fp16": 2 * 1024 * 8},
                                                "fold_overlap": False})
    # OS, m=100 -> 4 row folds x n=96 -> 3 column folds = 12 folds, 6 per corelet, each 62 + 8 cycles
    assert coprocessor.matmul_cycles(cop, "fp16", 100, 64, 96, 1) == 6 * (62 + 8)


def test_unknown_dataflow_is_an_error():
    with pytest.raises(ValueError, match="dataflow"):
        systolic.mapping("row_stationary", 1, 2, 3)


def test_dataflow_is_validated_in_the_spec(tmp_path, hw_path):
    with pytest.raises(accelsim.SpecError, match="dataflow"):
        accelsim.load_hardware(hw_path, overrides=["hw.coprocessor.dataflow=row_stationary"])


# ---------------------------------------------------------------- LSTM steps and biases


def _model(*overrides: str):
    return build_model(accelsim.load_workload(WORKLOAD, ["workload.utterance.frames=6", *overrides]))


def _encoder(*overrides: str) -> list[Op]:
    return lower(_model(*overrides), 6, DecodeTrace(frames=6, beam=1, steps=(), reference=(), best=()))


def _layer1_fwd(ops: list[Op]) -> list[Op]:
    return [op for op in ops if op.kind == "matmul" and op.name.startswith("encoder.blstm1.fwd.")]


def test_batched_projection_fetches_w_ih_once_and_w_hh_per_step():
    mms = _layer1_fwd(_encoder("workload.runtime.lstm_input_projection=batched"))
    proj, recs = mms[0], mms[1:]
    assert proj.name.endswith("proj") and (proj.m, proj.k, proj.n) == (6, 340, 2560)
    assert [w for w, _ in proj.weights] == ["encoder.blstm1.fwd.W_ih"]
    assert len(recs) == 5 and all((op.m, op.k, op.n) == (1, 640, 2560) for op in recs)  # no step-0 matmul
    assert all([w for w, _ in op.weights] == ["encoder.blstm1.fwd.W_hh"] for op in recs)


def test_per_step_cell_fetches_input_and_recurrent_weights_every_step():
    mms = _layer1_fwd(_encoder("workload.runtime.lstm_input_projection=per_step"))
    assert len(mms) == 6 and all(op.name.endswith("gates") for op in mms)
    assert all((op.m, op.k, op.n) == (1, 340 + 640, 2560) for op in mms)
    assert all(dict(op.weights) == {"encoder.blstm1.fwd.W_ih": 2560 * 340, "encoder.blstm1.fwd.W_hh": 2560 * 640}
               for op in mms)
    assert [op.step for op in mms] == list(range(6))


def test_per_step_cells_form_one_chain_per_direction_and_layers_wait_for_both():
    ops = _encoder("workload.runtime.lstm_input_projection=per_step")
    ancestors: list[set[int]] = []
    for op in ops:
        ancestors.append(set(op.deps).union(*(ancestors[d] for d in op.deps)))
    for layer in range(1, 7):
        lanes = []
        for d in ("fwd", "bwd"):
            cells = [op for op in ops if op.kind == "matmul" and op.name.startswith(f"encoder.blstm{layer}.{d}.")]
            assert len(cells) == 6
            for a, b in zip(cells, cells[1:]):
                assert a.id in ancestors[b.id], (a.name, b.name)
            lanes.append(cells)
        fwd, bwd = lanes
        assert not any(a.id in ancestors[b.id] for a in fwd for b in bwd)  # the directions are independent
        if layer < 6:
            first_next = [op for op in ops if op.kind == "matmul" and op.name.startswith(f"encoder.blstm{layer + 1}.")][0]
            assert fwd[-1].id in ancestors[first_next.id] and bwd[-1].id in ancestors[first_next.id]


def _fetched(ops, hw) -> float:
    return plan_residency(ops, hw).total_fetch_bytes


def test_per_step_fetch_bytes_by_hand(hw_spec):
    """INT4 encoder (Fig. 1 scheme: first and last layer at 8 bits), 6 frames, per-op residency. Layer 1 per
    direction and step: (340 + 640) x 2560 weights at 8 bits plus 2 x 2560 FP32 biases; layers 2-6:
    (1280 + 640) x 2560 at 4 bits. The linear layer: 256 x 1280 at 8 bits + 256 FP32."""
    hw = hw_spec.model_copy(update={"memory": hw_spec.memory.model_copy(update={"residency": "per_op"})})
    ops = _encoder("workload.runtime.lstm_input_projection=per_step", "workload.precision.default=int4")
    biases = 2 * 2560 * 4
    per_step = [(340 + 640) * 2560 + biases] + [(1280 + 640) * 2560 / 2 + biases] * 5
    linear = 256 * 1280 + 256 * 4
    assert _fetched(ops, hw) == pytest.approx(2 * 6 * sum(per_step) + linear, rel=1e-12)
    no_bias = _encoder("workload.runtime.lstm_input_projection=per_step", "workload.precision.default=int4",
                       "workload.runtime.fetch_biases=false")
    assert _fetched(ops, hw) - _fetched(no_bias, hw) == pytest.approx(2 * 6 * 6 * biases + 256 * 4, rel=1e-12)


def test_biases_cross_the_link_in_fp32_whatever_the_precision(hw_spec):
    hw = hw_spec.model_copy(update={"memory": hw_spec.memory.model_copy(update={"residency": "per_op"})})
    for preset in ("fp16", "int4"):
        batched = "workload.runtime.lstm_input_projection=batched"
        on = _encoder(f"workload.precision.default={preset}", batched)
        off = _encoder(f"workload.precision.default={preset}", batched, "workload.runtime.fetch_biases=false")
        # batched: the projection fetches b_ih once, each of the 5 recurrent steps b_hh; 6 layers x 2 directions
        assert _fetched(on, hw) - _fetched(off, hw) == pytest.approx(2 * 6 * (1 + 5) * 2560 * 4 + 256 * 4, rel=1e-12)


def test_conformer_modules_fetch_their_fp32_parameters(hw_spec):
    """Each Conformer module (and the subsampling front end) brings its FP32 parameters (biases, norms) in with its
    first matmul: with per-op residency, switching biases off saves exactly their bytes at 4 per parameter."""
    hw = hw_spec.model_copy(update={"memory": hw_spec.memory.model_copy(update={"residency": "per_op"})})
    conformer = REPO / "workloads" / "conformer_transducer.yaml"
    trace = DecodeTrace(frames=8, beam=1, steps=(), reference=(), best=())

    def encoder(*overrides: str):
        model = build_model(accelsim.load_workload(conformer, ["workload.utterance.frames=8", *overrides]))
        return model, lower(model, 8, trace)

    model, on = encoder()
    _, off = encoder("workload.runtime.fetch_biases=false")
    fp32 = sum(layer.bias_params for layer in model.networks["encoder"].layers
               if layer.spec.kind.startswith(("conformer", "conv_subsampling")))
    assert fp32 > 0
    linears = sum(layer.bias_params for layer in model.networks["encoder"].layers if layer.spec.kind == "linear")
    assert _fetched(on, hw) - _fetched(off, hw) == pytest.approx(4 * (fp32 + linears), rel=1e-12)


# ---------------------------------------------------------------- host state copies


def test_state_bytes_by_hand():
    """h and c in FP32 of every LSTM: prediction 768, LM_EXT 2 x 2048, LM_SRC 768."""
    assert state_bytes(_model()) == 4 * 2 * (768 + 2 * 2048 + 768) == 45056
    assert state_bytes(_model("workload.decoding.lm_fusion=false")) == 4 * 2 * 768 == 6144


def _copy_op(model) -> Op | None:
    b = GraphBuilder()
    step = StepRecord(iteration=0, active=16, miss_prediction=4, miss_lm=4, candidates=16 * 46, merged=2, kept=16)
    lower_decode_step(b, model, step, [], 16)
    return next((op for op in b.ops if op.kind == "copy"), None)


def test_survivors_states_are_copied_and_cost_bytes_over_bandwidth(hw_spec):
    with_lms, without = _copy_op(_model()), _copy_op(_model("workload.decoding.lm_fusion=false"))
    assert with_lms.bytes == 16 * 45056 and without.bytes == 16 * 6144  # without LMs less state is copied
    expected = 16 * 45056 / hw_spec.host.memory_bandwidth  # no call overhead: done in the merge step's call
    assert op_cost(with_lms, hw_spec).seconds == pytest.approx(expected, rel=1e-12)
    assert host.copy_seconds(hw_spec.host, 0) == 0.0
    assert _copy_op(_model("workload.runtime.copy_states=false")) is None


# ---------------------------------------------------------------- the link as a DMA queue


def _two_transfers(hw_spec, depth: int, latency_us: float = 1.0):
    from accelsim.sim.engine import simulate_ops

    hw = hw_spec.model_copy(update={"link": hw_spec.link.model_copy(update={"queue_depth": depth,
                                                                            "latency": latency_us * 1e-6})})
    ops = [Op(i, f"t{i}", "transfer", "h2d", "search", "r", bytes=1e6) for i in range(3)]
    run = simulate_ops(ops, target_for(hw))
    return run, 1e6 / (hw.link.bandwidth * hw.link.lanes * hw.link.efficiency), hw.link.latency


def test_queue_depth_one_blocks_the_link_for_each_latency(hw_spec):
    run, data, latency = _two_transfers(hw_spec, 1)
    assert run.time_s == pytest.approx(3 * (latency + data), rel=1e-12)
    assert run.busy["h2d"] == pytest.approx(3 * (latency + data), rel=1e-12)


def test_deeper_queue_overlaps_each_latency_with_the_transfer_before(hw_spec):
    run, data, latency = _two_transfers(hw_spec, 2)
    assert latency < data  # 1 us against 1 MB at the link's rate: the latency hides behind the data
    assert run.time_s == pytest.approx(latency + 3 * data, rel=1e-12)
    assert run.busy["h2d"] == pytest.approx(3 * data, rel=1e-12)  # the link is busy only while bytes move
    # a latency longer than a transfer's data is only partly hidden: depth 2 keeps two in flight
    run, data, latency = _two_transfers(hw_spec, 2, latency_us=100.0)
    assert latency > data
    # t0 and t1 set up together (0..L), t0's data L..L+d; t2's slot frees at L+d, its data ends at 2L+2d
    assert run.time_s == pytest.approx(2 * latency + 2 * data, rel=1e-12)
    run, data, latency = _two_transfers(hw_spec, 3, latency_us=100.0)
    assert run.time_s == pytest.approx(latency + 3 * data, rel=1e-12)


# ---------------------------------------------------------------- prefetch of the next iteration's first weights


def _prepared(*flags: str):
    from accelsim.pipeline import prepare, resolve

    point = resolve(WORKLOAD, REPO / "hwconfigs" / "rapid_7nm.yaml",
                    ["workload.utterance.frames=24", "workload.decoding.beam=4", *flags])
    return point, prepare(point.workload)


def test_prefetch_moves_the_first_weights_of_the_next_iteration_within_the_free_scratchpad():
    from accelsim.hw.family import family_of

    point, prepared = _prepared("workload.runtime.prefetch_next_iteration=true", "hw.memory.residency=per_op")
    _, without = _prepared("workload.runtime.prefetch_next_iteration=false", "hw.memory.residency=per_op")
    ops, hw = prepared.program.ops, point.hardware
    plan = plan_residency(ops, hw)
    base = plan_residency(without.program.ops, hw)
    # The same bytes cross the link in all (the last iteration has nothing after it to prefetch).
    assert plan.total_fetch_bytes == pytest.approx(base.total_fetch_bytes, rel=1e-12)
    room = family_of(hw).weight_room(hw.coprocessor.cores)  # 4 cores x 2 MiB x 0.5 = 4 MiB
    assert room == 4 * 2**20
    prefetches = [op for op in ops if op.kind == "prefetch"]
    assert len(prefetches) == len(prepared.program.iterations)
    moved = [plan.fetch_bytes[op.id] for op in prefetches]
    assert moved[-1] == 0.0 and all(0 < b <= room for b in moved[:-1])
    # Every iteration after the first fetches exactly what the one before prefetched less than without it.
    def per_iteration(program_ops, fetch):
        sums: dict[str, float] = {}
        for op in program_ops:
            if op.name.startswith("it") and op.kind != "prefetch":
                tag = op.name.split(".", 1)[0]
                sums[tag] = sums.get(tag, 0.0) + fetch[op.id]
        return list(sums.values())

    own, full = per_iteration(ops, plan.fetch_bytes), per_iteration(without.program.ops, base.fetch_bytes)
    assert own[0] == full[0]
    for k in range(1, len(own)):
        assert own[k] == pytest.approx(full[k] - moved[k - 1], rel=1e-9), k


def test_prefetched_program_runs_alike_segmented_and_whole():
    from accelsim.sim.engine import simulate_ops
    from accelsim.sim.segments import simulate_program

    point, prepared = _prepared("workload.runtime.prefetch_next_iteration=true")
    whole = simulate_ops(prepared.program.ops, target_for(point.hardware))
    pieces = simulate_program(prepared.program, target_for(point.hardware))
    assert pieces.plan.fetch_bytes == whole.plan.fetch_bytes
    assert pieces.time_s == pytest.approx(whole.time_s, rel=1e-12)


# ---------------------------------------------------------------- the shipped configuration: golden values, ablations

HW = REPO / "hwconfigs" / "rapid_7nm.yaml"

#: RTFs of the shipped workload on the shipped (recalibrated) machine, as `accelsim reproduce` prints them.
#: A change of the model or of the YAMLs that moves them must update these, reports/baselines/paper.csv and the README.
#: Moves, each explained: output-stationary fill and drain of R + C - 2 (SCALE-Sim v2) instead
#: of 2R + C - 2, 8 cycles (5 ns) less per matmul call (-0.001% to -0.005%); the converged calibration of issue 20
#: (launch 20 us, dispatch 2 us, sort 5 ns, copy 7.244 GB/s, efficiency 0.8714). Before both: 0.063655, 0.226405,
#: 0.105623, 0.019446.
GOLDEN = {
    ("int4", True, "32 Gbps", 16): 0.063688,
    ("fp16", True, "32 Gbps", 16): 0.226232,
    ("fp16", False, "32 Gbps", 16): 0.105569,
    ("int4", True, "64 Gbps", 1): 0.019480,
}


def _rtf(precision: str, lm: bool, link: str, beam: int, *flags: str) -> float:
    return accelsim.simulate(WORKLOAD, HW, precision=precision, lm_fusion=lm, beam=beam, keep_records=False,
                             overrides=[f"hw.link.bandwidth={link}", *flags]).rtf


@pytest.mark.parametrize("setting", sorted(GOLDEN), ids=lambda s: "-".join(map(str, s)))
def test_golden_rtf_of_the_shipped_config(setting):
    assert _rtf(*setting) == pytest.approx(GOLDEN[setting], rel=2e-5)


#: Switching each of these off removes work (bytes, host time, latency exposure, fill and drain), so the RTF can
#: only fall; per-step cells fetch more than a batched projection, so batched is never slower either.
REMOVES_WORK = {
    "batched": "workload.runtime.lstm_input_projection=batched",
    "no_copy": "workload.runtime.copy_states=false",
    "no_bias": "workload.runtime.fetch_biases=false",
}
#: Switching these off adds work or exposes latency: the RTF can only grow.
HIDES_WORK = {
    "queue1": "hw.link.queue_depth=1",
    "serial": "hw.coprocessor.fold_overlap=false",
    "no_pref": "workload.runtime.prefetch_next_iteration=false",
}


@pytest.mark.parametrize("setting", [("int4", True, "32 Gbps", 16), ("fp16", False, "64 Gbps", 4)],
                         ids=lambda s: "-".join(map(str, s)))
def test_ablations_move_the_rtf_the_way_the_mechanism_says(setting):
    shipped = _rtf(*setting)
    for name, flag in REMOVES_WORK.items():
        assert _rtf(*setting, flag) <= shipped * (1 + 1e-9), name
    for name, flag in HIDES_WORK.items():
        assert _rtf(*setting, flag) >= shipped * (1 - 1e-9), name
    # and biases in FP32 and state copies are real work: switching them off changes the RTF
    assert _rtf(*setting, REMOVES_WORK["no_bias"]) < shipped
    assert _rtf(*setting, REMOVES_WORK["no_copy"]) < shipped


def test_the_ablation_table_names_what_each_figure_is_sensitive_to():
    from accelsim.report.paper import Ablation, format_ablation

    table = Ablation([("a", "mechanism a"), ("b", "mechanism b")],
                     {"f1": {"shipped": 1.0, "a": 1.5, "b": -3.0}, "f2": {"shipped": 2.0, "a": 2.0, "b": 2.9}})
    assert table.sensitive("f1") == ["b"] and table.sensitive("f2") == []
    text = format_ablation(table)
    assert "mechanism a" in text and "f1" in text and text.rstrip().endswith("-")
    assert list(table.to_frame().columns) == ["id", "shipped", "a", "b", "sensitive_to"]
