"""Tests of the search model: ALSD over synthetic posteriors and its step trace (accelsim/workload/search.py)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.workload.search import (
    BLANK,
    LM_EXT,
    LM_SRC,
    DecodeTrace,
    EmissionModel,
    Fusion,
    StepRecord,
    SyntheticPosteriors,
    label_due_frames,
    load_trace_jsonl,
    reference_labels,
    run_alsd,
    save_trace_jsonl,
)

REPO = Path(__file__).resolve().parents[1]


def _steps(trace: DecodeTrace) -> list[tuple[int, ...]]:
    return [(s.iteration, s.active, s.miss_prediction, s.miss_lm, s.candidates, s.merged, s.kept) for s in trace.steps]


def _constant(probs: list[float]):
    """A joint network that ignores (t, y); returns a fresh array so run_alsd cannot alias it."""
    logp = np.log(np.asarray(probs, dtype=float))
    return lambda t, y: logp.copy()


# ---------------------------------------------------------------------------------------------
# Hand-checked cases
# ---------------------------------------------------------------------------------------------


def test_tiny_case_worked_by_hand() -> None:
    """T=3, vocab 3, P(blank, 1, 2) = (.5, .4, .1) everywhere, beam 2, U_max 2, no fusion.

    Scores as probabilities (candidates from the beam of the previous line; '*' = kept, F = final):
      i=0  () t0                  -> ()@t1 .5*, (1) .4*, (2) .1
      i=1  ()@t1 .5, (1)@t0 .4    -> () .25*, (1) .2 + .2 = .4* [merge], (2) .05, (1,1) .16, (1,2) .04
      i=2  (1)@t1 .4, ()@t2 .25   -> (1) .2 + .1 = .3* [merge], (1,1) .16*, F () .125, (2) .025, (1,2) .04
      i=3  (1)@t2 .3, (1,1)@t1 .16 -> (1,1) .12 + .08 = .2* [merge], F (1) .15*, (1,1,1) .064, ...
      i=4  (1,1)@t2 .2 [(1) is done] -> F (1,1) .1*, (1,1,1) .08*, (1,1,2) .02; iteration limit T + U_max
    Prediction-network misses: () at i=0, (1) at i=1, (1,1) at i=3; everything else is a cache hit.
    Best final: (1) with .15 over () .125 and (1,1) .1.
    """
    emission = EmissionModel(vocab=3, label_rate=1 / 3)
    trace = run_alsd(3, 2, emission, fusion=None, u_max=2, joint_logp=_constant([0.5, 0.4, 0.1]))
    assert _steps(trace) == [
        (0, 1, 1, 0, 3, 0, 2),
        (1, 2, 1, 0, 6, 1, 2),
        (2, 2, 0, 0, 6, 1, 2),
        (3, 2, 1, 0, 6, 1, 2),
        (4, 1, 0, 0, 3, 0, 2),
    ]
    assert trace.iterations == 5
    assert trace.total_active == 8
    assert trace.total_miss_prediction == 3
    assert trace.total_miss_lm == 0
    assert trace.best == (1,)
    assert (trace.frames, trace.beam) == (3, 2)


def _toy_lm(which: str, y: tuple[int, ...]) -> np.ndarray:
    """LM_EXT prefers label 2 (.9 vs .1), LM_SRC is flat; blank (index 0) is never an LM output."""
    probs = [0.1, 0.9] if which == LM_EXT else [0.5, 0.5]
    return np.array([-np.inf, *np.log(probs)])


def test_fusion_worked_by_hand() -> None:
    """T=1, beam 1, U_max 1, P = (.5, .4, .1); fusion mu=1, lam=1, rho=log 8 turns label k's factor into P(k) Pext/Psrc * 8.

      i=0  () t0  -> F () .5, (1) .4*.2*8 = .64, (2) .1*1.8*8 = 1.44*
      i=1  (2) t0 -> F (2) .72, (2,1) .92, (2,2) 2.07*; iteration limit
    The best result is the best *final* hypothesis, (2) at .72, although (2,2) scores higher in the beam.
    Without fusion, the empty hypothesis wins at once and the search ends after one iteration.
    """
    emission = EmissionModel(vocab=3)
    joint = _constant([0.5, 0.4, 0.1])
    fused = run_alsd(1, 1, emission, Fusion(mu=1.0, lam=1.0, rho=math.log(8.0)), u_max=1, joint_logp=joint, lm_logp=_toy_lm)
    assert _steps(fused) == [(0, 1, 1, 1, 3, 0, 1), (1, 1, 1, 1, 3, 0, 1)]
    assert fused.best == (2,)

    plain = run_alsd(1, 1, emission, None, u_max=1, joint_logp=joint, lm_logp=_toy_lm)
    assert _steps(plain) == [(0, 1, 1, 0, 3, 0, 1)]
    assert plain.best == ()


def test_best_comes_from_the_beam_when_nothing_finished() -> None:
    """Labels are so likely that no hypothesis reaches the last frame within T + U_max = 2 iterations."""
    trace = run_alsd(2, 1, EmissionModel(vocab=3), None, u_max=0, joint_logp=_constant([0.1, 0.8, 0.1]))
    assert _steps(trace) == [(0, 1, 1, 0, 3, 0, 1), (1, 1, 1, 0, 3, 0, 1)]
    assert trace.best == (1, 1)


# ---------------------------------------------------------------------------------------------
# Merging is exact: with no pruning, ALSD finals are the RNN-T forward probabilities
# ---------------------------------------------------------------------------------------------


def _forward_logscore(y: tuple[int, ...], frames: int, joint, fused_label) -> float:
    """Independent RNN-T forward algorithm over the (t, u) lattice of one label sequence y."""
    u_len = len(y)
    alpha = np.full((frames, u_len + 1), -np.inf)
    alpha[0, 0] = 0.0
    for t in range(frames):
        for u in range(u_len + 1):
            if t == 0 and u == 0:
                continue
            terms = []
            if t > 0:
                terms.append(alpha[t - 1, u] + joint(t - 1, y[:u])[BLANK])
            if u > 0:
                k = y[u - 1]
                terms.append(alpha[t, u - 1] + joint(t, y[: u - 1])[k] + fused_label(y[: u - 1], k))
            alpha[t, u] = np.logaddexp.reduce(terms)
    return float(alpha[frames - 1, u_len] + joint(frames - 1, y)[BLANK])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    frames=st.integers(1, 3),
    u_max=st.integers(0, 3),
    with_fusion=st.booleans(),
)
def test_unpruned_alsd_finds_the_forward_argmax(seed: int, frames: int, u_max: int, with_fusion: bool) -> None:
    vocab = 3
    rng = np.random.default_rng(seed)
    table: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}

    def joint(t: int, y: tuple[int, ...]) -> np.ndarray:
        if (t, y) not in table:
            table[(t, y)] = np.log(rng.dirichlet(np.ones(vocab)))
        return table[(t, y)].copy()

    lm_table: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def lm(which: str, y: tuple[int, ...]) -> np.ndarray:
        if (which, y) not in lm_table:
            lm_table[(which, y)] = np.log(np.concatenate([[1.0], rng.dirichlet(np.ones(vocab - 1))]))
        return lm_table[(which, y)]

    fusion = Fusion(mu=0.6, lam=0.3, rho=0.4) if with_fusion else None

    def fused_label(y: tuple[int, ...], k: int) -> float:
        if fusion is None:
            return 0.0
        return fusion.mu * lm(LM_EXT, y)[k] - fusion.lam * lm(LM_SRC, y)[k] + fusion.rho

    # Every label sequence the search can finish within T + U_max iterations, scored independently.
    exact = {
        y: _forward_logscore(y, frames, joint, fused_label)
        for u in range(u_max + 1)
        for y in itertools.product(range(1, vocab), repeat=u)
    }
    ranked = sorted(exact.items(), key=lambda item: -item[1])
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < 1e-9:
        return  # a numerical tie: either answer is right

    huge_beam = 10_000  # nothing is ever pruned (and no early stop: the insertion reward can lift a score)
    trace = run_alsd(frames, huge_beam, EmissionModel(vocab=vocab), fusion, u_max=u_max, early_stop=False,
                     joint_logp=joint, lm_logp=lm)
    assert trace.best == ranked[0][0]


# ---------------------------------------------------------------------------------------------
# Caching and beam invariants
# ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    beam=st.integers(1, 16),
    frames=st.integers(5, 60),
    with_fusion=st.booleans(),
    confidence=st.sampled_from([0.5, 0.9, 0.99]),
    vocab=st.sampled_from([2, 5, 46]),
)
def test_cache_and_beam_invariants(seed: int, beam: int, frames: int, with_fusion: bool, confidence: float, vocab: int) -> None:
    emission = EmissionModel(seed=seed, confidence=confidence, vocab=vocab)
    synthetic = SyntheticPosteriors(frames, emission)
    joint_calls: list[tuple[int, tuple[int, ...]]] = []
    lm_calls: list[tuple[str, tuple[int, ...]]] = []

    def joint(t: int, y: tuple[int, ...]) -> np.ndarray:
        joint_calls.append((t, y))
        return synthetic.joint_logp(t, y)

    def lm(which: str, y: tuple[int, ...]) -> np.ndarray:
        lm_calls.append((which, y))
        return synthetic.lm_logp(which, y)

    fusion = Fusion() if with_fusion else None
    trace = run_alsd(frames, beam, emission, fusion, joint_logp=joint, lm_logp=lm)
    u_max = 2 * len(trace.reference) + 10

    assert [s.iteration for s in trace.steps] == list(range(trace.iterations))
    assert 1 <= trace.iterations <= frames + u_max
    calls = iter(joint_calls)
    for step in trace.steps:
        assert 1 <= step.active <= beam
        assert step.kept <= beam
        assert step.miss_prediction <= step.active
        assert step.miss_lm <= step.active
        assert step.candidates == step.active * vocab
        assert step.merged <= step.candidates
        # The joint is evaluated once per active hypothesis, each at a lattice node with t + u = i, t < T.
        for t, y in itertools.islice(calls, step.active):
            assert 0 <= t < frames
            assert t + len(y) == step.iteration
        if with_fusion:
            assert step.miss_lm == step.miss_prediction
        else:
            assert step.miss_lm == 0
    for before, after in itertools.pairwise(trace.steps):
        assert after.active <= before.kept  # the active hypotheses are the unfinished part of the kept beam
    assert next(calls, None) is None
    assert trace.total_active == len(joint_calls)

    evaluated = {y for _, y in joint_calls}
    assert trace.total_miss_prediction == len(evaluated)
    if with_fusion:
        # Each LM runs once per distinct prefix, for exactly the prefixes the prediction network saw.
        assert sorted(lm_calls) == sorted([(w, y) for y in evaluated for w in (LM_EXT, LM_SRC)])
        assert trace.total_miss_lm == len(evaluated)
    else:
        assert lm_calls == []
        assert trace.total_miss_lm == 0


# ---------------------------------------------------------------------------------------------
# Behaviour on the synthetic posteriors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_fusion", [True, False])
@pytest.mark.parametrize("seed,frames", [(0, 152), (1, 40), (7, 9), (123, 300)])
def test_greedy_follows_the_reference(seed: int, frames: int, with_fusion: bool) -> None:
    emission = EmissionModel(seed=seed, confidence=0.95)
    trace = run_alsd(frames, 1, emission, Fusion() if with_fusion else None)
    u = len(trace.reference)
    assert trace.best == trace.reference
    # One hypothesis walks the reference alignment: T blanks and U labels, the last blank ends it.
    assert trace.iterations == frames + u
    assert all(s.active == 1 and s.kept == 1 and s.candidates == 46 and s.merged == 0 for s in trace.steps)
    assert trace.total_miss_prediction == u + 1  # (), then one new prefix per emitted label
    assert trace.total_miss_lm == (u + 1 if with_fusion else 0)


@pytest.mark.parametrize("fusion", [Fusion(), None])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cache_reuse_makes_lm_evaluations_sublinear_in_beam(seed: int, fusion: Fusion | None) -> None:
    """The paper's Fig. 2(b) reading: decoding cost falls sub-linearly as the beam shrinks because
    cached prefixes are reused. The prefix rows evaluated grow with the beam (each of the 16 hyps may
    branch), but the iterations that need any network evaluation at all -- each one streams the
    networks' weights once -- grow far less than 16x, since most beam entries extend cached prefixes."""
    emission = EmissionModel(seed=seed)
    greedy = run_alsd(152, 1, emission, fusion=fusion)
    wide = run_alsd(152, 16, emission, fusion=fusion)
    assert wide.total_miss_prediction > greedy.total_miss_prediction

    def evaluating(trace):
        return sum(1 for s in trace.steps if s.miss_prediction > 0)

    assert evaluating(greedy) < evaluating(wide) < 16 * evaluating(greedy)
    assert wide.total_miss_prediction < wide.total_active  # cache hits do happen at beam 16
    assert wide.total_active <= 16 * wide.iterations


def test_larger_beams_evaluate_more_prefixes_with_fusion() -> None:
    greedy = run_alsd(152, 1)
    wide = run_alsd(152, 16)
    assert greedy.total_miss_prediction < run_alsd(152, 4).total_miss_prediction < wide.total_miss_prediction
    assert wide.best == wide.reference  # fusion (LM_EXT knows the next reference label) keeps the search on track


def test_reference_and_due_frames() -> None:
    emission = EmissionModel(seed=5, label_rate=0.25, vocab=46)
    ref = reference_labels(152, emission)
    assert len(ref) == 38
    assert all(1 <= k <= 45 for k in ref)
    expected = np.random.default_rng(5).integers(1, 46, size=38)
    assert ref == tuple(int(k) for k in expected)
    due = label_due_frames(152, emission)
    assert due[0] == 2 and due[-1] == 150  # floor((k + 0.5) * 4)
    assert list(due) == sorted(due)
    assert len(reference_labels(1, EmissionModel(label_rate=0.01))) == 1  # at least one label


def test_synthetic_posteriors_are_distributions() -> None:
    synthetic = SyntheticPosteriors(40, EmissionModel(seed=3, confidence=0.8))
    ref, due = synthetic.reference, synthetic.due
    on_track = synthetic.joint_logp(due[1], ref[:1])
    assert np.exp(on_track).sum() == pytest.approx(1.0)
    assert np.exp(on_track[ref[1]]) == pytest.approx(0.8)
    early = synthetic.joint_logp(due[1] - 1, ref[:1])
    assert np.exp(early[BLANK]) == pytest.approx(0.8)
    off_track = synthetic.joint_logp(39, (ref[0] % 45 + 1,))
    assert np.exp(off_track[BLANK]) == pytest.approx(0.5)  # off the reference: uncertain (off_track)
    assert np.exp(off_track).sum() == pytest.approx(1.0)
    # Same key, same noise; another frame, other noise.
    assert np.array_equal(synthetic.joint_logp(5, (1, 2)), synthetic.joint_logp(5, (1, 2)))
    assert not np.array_equal(synthetic.joint_logp(5, (1, 2)), synthetic.joint_logp(6, (1, 2)))

    for which in (LM_EXT, LM_SRC):
        logp = synthetic.lm_logp(which, ref[:2])
        assert logp[BLANK] == -np.inf
        assert np.exp(logp[1:]).sum() == pytest.approx(1.0)
    ext, src = synthetic.lm_logp(LM_EXT, ref[:2]), synthetic.lm_logp(LM_SRC, ref[:2])
    assert np.std(src[1:]) < np.std(ext[1:])  # LM_SRC is flatter
    with pytest.raises(ValueError):
        synthetic.lm_logp("other", ())


def test_external_lm_favours_the_next_reference_label() -> None:
    """Somewhat: the bonus competes with the LM's noise, so it is the top label most of the time, not always."""
    top, probs, flat = 0, [], []
    for seed in range(20):
        synthetic = SyntheticPosteriors(40, EmissionModel(seed=seed))
        ref = synthetic.reference
        for u in range(len(ref)):
            ext = synthetic.lm_logp(LM_EXT, ref[:u])
            top += int(np.argmax(ext)) == ref[u]
            probs.append(np.exp(ext[ref[u]]))
            flat.append(np.exp(synthetic.lm_logp(LM_SRC, ref[:u])[ref[u]]))
    assert top > 0.5 * len(probs)
    assert np.mean(probs) > 5 * np.mean(flat)
    # Off track there is no bonus.
    synthetic = SyntheticPosteriors(40, EmissionModel(seed=0))
    off = (synthetic.reference[0] % 45 + 1,)
    assert np.exp(synthetic.lm_logp(LM_EXT, off)).max() < 0.5


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


def test_runs_are_deterministic() -> None:
    emission = EmissionModel(seed=11)
    assert run_alsd(80, 8, emission) == run_alsd(80, 8, emission)
    assert run_alsd(80, 8, emission, None) == run_alsd(80, 8, emission, None)
    assert reference_labels(80, EmissionModel(seed=12)) != reference_labels(80, emission)
    assert run_alsd(80, 8, EmissionModel(seed=12)).steps != run_alsd(80, 8, emission).steps


def test_trace_does_not_depend_on_the_process(tmp_path: Path) -> None:
    """Python salts str hashes per process; the trace must not notice."""
    script = (
        "import sys; from accelsim.workload.search import *; "
        "save_trace_jsonl(run_alsd(40, 6, EmissionModel(seed=4)), sys.argv[1])"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"trace{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=tmp_path)
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    assert load_trace_jsonl(tmp_path / "trace1.jsonl") == run_alsd(40, 6, EmissionModel(seed=4))


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"seed": -1}, {"label_rate": 0.0}, {"label_rate": 1.5}, {"confidence": 1.0}, {"confidence": 0.0}, {"vocab": 1}],
)
def test_emission_model_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        EmissionModel(**kwargs)


@pytest.mark.parametrize("frames,beam,u_max", [(0, 4, None), (10, 0, None), (10, 4, -1)])
def test_run_alsd_rejects_bad_arguments(frames: int, beam: int, u_max: int | None) -> None:
    with pytest.raises(ValueError):
        run_alsd(frames, beam, u_max=u_max)


def test_injected_joint_must_cover_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="shape"):
        run_alsd(3, 2, EmissionModel(vocab=4), None, joint_logp=_constant([0.5, 0.4, 0.1]))


# ---------------------------------------------------------------------------------------------
# JSON Lines
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("beam,with_fusion", [(1, True), (16, True), (4, False)])
def test_jsonl_round_trip(tmp_path: Path, beam: int, with_fusion: bool) -> None:
    trace = run_alsd(60, beam, EmissionModel(seed=2), Fusion() if with_fusion else None)
    path = tmp_path / "trace.jsonl"
    save_trace_jsonl(trace, path)
    assert load_trace_jsonl(path) == trace
    assert load_trace_jsonl(str(path)) == trace

    lines = path.read_text().splitlines()
    assert len(lines) == 1 + trace.iterations
    assert json.loads(lines[0]) == {"frames": 60, "beam": beam, "reference": list(trace.reference), "best": list(trace.best)}
    assert json.loads(lines[1]).keys() == {f.name for f in dataclasses.fields(StepRecord)}


def test_jsonl_accepts_blank_lines_and_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "real.jsonl"
    path.write_text(
        '{"frames": 4, "beam": 2, "reference": [3], "best": [3], "decoder": "espnet"}\n'
        "\n"
        '{"iteration": 0, "active": 1, "miss_prediction": 1, "miss_lm": 1, "candidates": 5, "merged": 0, "kept": 2, "ms": 1.5}\n'
    )
    trace = load_trace_jsonl(path)
    assert trace == DecodeTrace(4, 2, (StepRecord(0, 1, 1, 1, 5, 0, 2),), (3,), (3,))


_HEADER = '{"frames": 4, "beam": 2, "reference": [3], "best": [3]}'
_STEP = {"iteration": 0, "active": 1, "miss_prediction": 1, "miss_lm": 0, "candidates": 5, "merged": 0, "kept": 2}


def _step(**changes) -> str:
    step = {**_STEP, **changes}
    return json.dumps({k: v for k, v in step.items() if v is not None})


def test_jsonl_that_is_not_text_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "binary.jsonl"
    path.write_bytes(_HEADER.encode() + b"\n\xff\xfe\n")
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}:2: not UTF-8"):
        load_trace_jsonl(path)


@pytest.mark.parametrize(
    "lines,bad_line,what",
    [
        ([_HEADER, '{"iteration": 0, "active": 1,'], 2, "bad JSON"),
        (["[1, 2]"], 1, "JSON object"),
        ([_HEADER, _step(kept=None)], 2, "missing field 'kept'"),
        ([_HEADER, _step(), _step(iteration=1, merged=-1)], 3, "negative"),
        ([_HEADER, _step(active=1.5)], 2, "integer"),
        ([_HEADER, _step(active=True)], 2, "integer"),
        ([_HEADER, _step(active=3)], 2, "exceeds beam"),
        ([_HEADER, _step(miss_prediction=2)], 2, "exceeds active"),
        ([_HEADER, _step(), _step()], 3, "does not follow"),
        (['{"frames": 4, "beam": 2, "best": [3]}'], 1, "missing field 'reference'"),
        (['{"frames": 0, "beam": 2, "reference": [3], "best": [3]}'], 1, "frames"),
        (['{"frames": 4, "beam": 2, "reference": [0], "best": [3]}'], 1, "labels"),
        ([], 1, "empty"),
    ],
)
def test_malformed_jsonl_names_the_line(tmp_path: Path, lines: list[str], bad_line: int, what: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(ValueError) as excinfo:
        load_trace_jsonl(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}:{bad_line}: ")
    assert what in message


def test_early_stop_ends_the_search_when_the_reference_finishes() -> None:
    """Without early stop, leftover insertion hypotheses are extended until T + U_max; with it the
    search ends once nothing unfinished can beat the best finished hypothesis."""
    emission = EmissionModel(seed=0)
    u = len(reference_labels(152, emission))
    stopped = run_alsd(152, 16, emission)
    unstopped = run_alsd(152, 16, emission, early_stop=False)
    assert stopped.best == unstopped.best == stopped.reference
    assert stopped.iterations == 152 + u
    assert unstopped.iterations == 152 + 2 * u + 10


def test_a_workload_file_finds_its_trace_beside_it(tmp_path) -> None:
    """A recorded trace replaces the search model; a relative path in the file is relative to the file."""
    from pathlib import Path

    import yaml

    import accelsim

    repo = Path(__file__).resolve().parents[1]
    trace = run_alsd(20, 4, EmissionModel(seed=3))
    folder = tmp_path / "w"
    folder.mkdir()
    save_trace_jsonl(trace, folder / "decoder.jsonl")
    data = yaml.safe_load((repo / "workloads" / "rnnt_lm_fusion.yaml").read_text())
    data["utterance"]["frames"] = 20
    data["decoding"].update({"beam": 4, "trace": "decoder.jsonl"})
    (folder / "w.yaml").write_text(yaml.safe_dump(data))
    replayed = accelsim.simulate(folder / "w.yaml", repo / "hwconfigs" / "rapid_7nm.yaml")
    synthetic = accelsim.simulate(folder / "w.yaml", repo / "hwconfigs" / "rapid_7nm.yaml",
                                  overrides=["workload.decoding.trace=null", "workload.decoding.emission.seed=3"])
    assert replayed.iterations == trace.iterations
    assert replayed.rtf == pytest.approx(synthetic.rtf, rel=1e-12)
