"""Golden digests of ALSD traces (accelsim/workload/search.py).

The traces feed golden figures and a committed regression baseline, so any change to the search or
to the synthetic posteriors must leave every trace bit-identical. The digests below were computed
with the implementation *before* the search was optimised (the commit that added this file), over a
broad grid of inputs: frame counts from 1 to 401, beams 1 to 16, fusion on and off, several seeds,
emission-model variants, ``u_max`` and ``early_stop``. A digest is the sha256 of the traces'
JSON-lines text (header line, then one line per step), case after case.

The same grids are also decoded through the generic path (``joint_logp`` / ``lm_logp`` injected as
plain callables), which must agree with the default synthetic posteriors exactly.

Exact digests are kept for the integer traces only. The posteriors themselves are floats: they are compared with
summaries recorded in ``tests/data/golden_posteriors.json`` at a stated relative tolerance, and the traces are
checked not to move when every noise table is perturbed in its last bits (what another CPU or C library may
give), so no golden trace rests on a last-bit tie.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from pathlib import Path

from accelsim.workload.search import LM_EXT, LM_SRC, DecodeTrace, EmissionModel, Fusion, SyntheticPosteriors, run_alsd

Case = dict[str, Any]
_SEEDS = (0, 1, 7, 123)


def _trace_text(trace: DecodeTrace) -> str:
    lines = [json.dumps({"frames": trace.frames, "beam": trace.beam, "reference": list(trace.reference), "best": list(trace.best)})]
    lines.extend(
        json.dumps([s.iteration, s.active, s.miss_prediction, s.miss_lm, s.candidates, s.merged, s.kept]) for s in trace.steps
    )
    return "\n".join(lines) + "\n"


def _main_grid() -> Iterator[Case]:
    """Default emission model: every frame count x beam x fusion; all four seeds for short utterances."""
    frame_counts = (1, 2, 3, 7, 20, 57, 152, 200, 401)
    for index, (frames, beam, fused) in enumerate(itertools.product(frame_counts, (1, 2, 3, 4, 8, 16), (True, False))):
        seeds = _SEEDS if frames <= 57 else (_SEEDS[index % 4], _SEEDS[(index + 1) % 4])
        for seed in seeds:
            yield {"frames": frames, "beam": beam, "emission": EmissionModel(seed=seed), "fusion": Fusion() if fused else None}


def _options_grid() -> Iterator[Case]:
    """u_max and early_stop, default emission model."""
    combos = itertools.product((20, 57, 152), (2, 8, 16), (True, False), (None, 0, 3), (True, False))
    for index, (frames, beam, fused, u_max, early_stop) in enumerate(combos):
        yield {
            "frames": frames,
            "beam": beam,
            "emission": EmissionModel(seed=_SEEDS[index % 4]),
            "fusion": Fusion() if fused else None,
            "u_max": u_max,
            "early_stop": early_stop,
        }


_VARIANTS = (
    {"label_rate": 0.1},
    {"label_rate": 0.9},
    {"confidence": 0.6},
    {"confidence": 0.99},
    {"off_track": 0.2},
    {"off_track": 0.8},
    {"vocab": 2},
    {"vocab": 5},
    {"vocab": 500},
    {"label_rate": 0.9, "confidence": 0.6, "vocab": 5},
    {"label_rate": 0.1, "confidence": 0.99, "off_track": 0.8, "vocab": 500},
    {"label_rate": 0.25, "confidence": 0.6, "off_track": 0.2, "vocab": 2},
)


def _variants_grid() -> Iterator[Case]:
    """Emission-model variants, with u_max and early_stop cycling through their values."""
    combos = itertools.product(_VARIANTS, (7, 57, 152), (1, 4, 16), (True, False))
    for index, (variant, frames, beam, fused) in enumerate(combos):
        yield {
            "frames": frames,
            "beam": beam,
            "emission": EmissionModel(seed=_SEEDS[index % 4], **variant),
            "fusion": Fusion(mu=0.5, lam=0.3, rho=0.5) if fused and index % 3 == 0 else (Fusion() if fused else None),
            "u_max": (None, 0, 3, None)[index % 4],
            "early_stop": index % 5 != 0,
        }


GRIDS: dict[str, Callable[[], Iterator[Case]]] = {"main": _main_grid, "options": _options_grid, "variants": _variants_grid}

GOLDEN_GRID_DIGESTS = {
    "main": "99de90a6656557327e6d0e2e666d0fed60611c159309ec15d19948ec3d126093",
    "options": "c363ed259429b2485ccdc2398cad02e15a8cdbc03ec0d93d94912b8953e9c546",
    "variants": "3570aadb7cb2a9d647bf0dc367e6be5be0a5835c9108bb3e9dd953d2a74501f0",
}

# Production-sized utterances: 200 frames, beam 16.
SPECIFIC_CASES: dict[str, Case] = {
    "seed0_fusion": {"frames": 200, "beam": 16, "emission": EmissionModel(seed=0), "fusion": Fusion()},
    "seed1_fusion": {"frames": 200, "beam": 16, "emission": EmissionModel(seed=1), "fusion": Fusion()},
    "seed4457_fusion": {"frames": 200, "beam": 16, "emission": EmissionModel(seed=4457), "fusion": Fusion()},
    "seed7_plain": {"frames": 200, "beam": 16, "emission": EmissionModel(seed=7), "fusion": None},
    "seed123_fusion_no_early_stop": {
        "frames": 200, "beam": 16, "emission": EmissionModel(seed=123), "fusion": Fusion(), "early_stop": False,
    },
    "seed99_hard_fusion": {
        "frames": 200, "beam": 16, "emission": EmissionModel(seed=99, confidence=0.6, off_track=0.8), "fusion": Fusion(),
    },
}

GOLDEN_CASE_DIGESTS = {
    "seed0_fusion": "ede5a86b784565f7bab9700f0caee2a97811613af58922f1caa102f4a8c2dbef",
    "seed1_fusion": "bebb8dc2460d3b9e1f1de20634977685e35cfb015f80a89052db3ae2f4b40f96",
    "seed4457_fusion": "815a0d2468125c0f22f722340262c0b5892c805de70a892b67106407de6bfec1",
    "seed7_plain": "29bcda5c67c7b3fc6d89f037939c357a9df7de48a7f5e1caf305840dee7d8cbd",
    "seed123_fusion_no_early_stop": "a78fa75e1ae2cfb0ca389f3a83436d0d58b46c35053ba677cb5b772ab9b71e96",
    "seed99_hard_fusion": "ccea67a2ddca0557e3218d3de7068f0d5ccf65198418c422cfc7a1fe1a926689",
}

# The synthetic posteriors themselves, at a few keys on and off the reference: per vector, the count of -inf entries
# and four summaries of the finite ones (sum, position-weighted sum, min, max), all of one sign, so a relative
# tolerance applies. 1e-12: the C library's log and exp are within an ulp or so on any CPU (1e-16 relative).
GOLDEN_POSTERIORS = Path(__file__).parent / "data" / "golden_posteriors.json"
POSTERIOR_TOLERANCE = 1e-12


def _digest(cases: Iterator[Case], decode: Callable[..., DecodeTrace]) -> str:
    digest = hashlib.sha256()
    for case in cases:
        digest.update(_trace_text(decode(**case)).encode())
    return digest.hexdigest()


def _through_callables(**case: Any) -> DecodeTrace:
    """The same decode through the generic path: the synthetic posteriors hidden behind plain callables."""
    synthetic = SyntheticPosteriors(case["frames"], case["emission"])
    return run_alsd(
        **case,
        joint_logp=lambda t, y: synthetic.joint_logp(t, y),
        lm_logp=lambda which, y: synthetic.lm_logp(which, y),
    )


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_grid_traces_are_unchanged(grid: str) -> None:
    assert _digest(GRIDS[grid](), run_alsd) == GOLDEN_GRID_DIGESTS[grid]


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_generic_path_gives_the_same_traces(grid: str) -> None:
    assert _digest(GRIDS[grid](), _through_callables) == GOLDEN_GRID_DIGESTS[grid]


@pytest.mark.parametrize("name", sorted(SPECIFIC_CASES))
def test_production_sized_traces_are_unchanged(name: str) -> None:
    case = SPECIFIC_CASES[name]
    assert _digest(iter([case]), run_alsd) == GOLDEN_CASE_DIGESTS[name]
    assert _through_callables(**case) == run_alsd(**case)


def _posterior_vectors() -> Iterator[np.ndarray]:
    for seed, frames, vocab in ((0, 40, 46), (5, 57, 5), (123, 200, 2), (9, 20, 500)):
        synthetic = SyntheticPosteriors(frames, EmissionModel(seed=seed, vocab=vocab, confidence=0.8, off_track=0.3))
        ref, due = synthetic.reference, synthetic.due
        off = (ref[0] % (vocab - 1) + 1,) if vocab > 2 else (1, 1, 1)
        prefixes = [(), ref[:1], ref[:2], ref[: len(ref) // 2], ref, off, off + ref[1:3], ref[:3] + off]
        for y in prefixes:
            for t in sorted({0, 1, due[min(len(y), len(due) - 1)] - 1, due[min(len(y), len(due) - 1)], frames - 1}):
                if t >= 0:
                    yield synthetic.joint_logp(t, y)
            for which in (LM_EXT, LM_SRC):
                yield synthetic.lm_logp(which, y)


def _summary(vector: np.ndarray) -> list[float]:
    finite = vector[np.isfinite(vector)].tolist()
    weighted = [(i + 1) * x for i, x in enumerate(finite)]
    return [float(len(vector) - len(finite)), math.fsum(finite), math.fsum(weighted), min(finite), max(finite)]


def test_synthetic_posteriors_are_unchanged() -> None:
    golden = json.loads(GOLDEN_POSTERIORS.read_text(encoding="utf-8"))
    summaries = [_summary(v) for v in _posterior_vectors()]
    assert len(summaries) == len(golden)
    for index, (got, expected) in enumerate(zip(summaries, golden)):
        assert got == pytest.approx(expected, rel=POSTERIOR_TOLERANCE, abs=0), f"vector {index}"


def _last_bits_moved(tables: Any, rng: np.random.Generator) -> Any:
    """A copy of a noise table (or of each array in a tuple of them) with every value moved by one ulp, up or down
    at random: the worst case of a CPU or C library whose log and exp round differently."""
    if isinstance(tables, tuple):
        return type(tables)(*(_last_bits_moved(t, rng) for t in tables))
    if not isinstance(tables, np.ndarray):
        return tables
    moved = np.nextafter(tables, np.where(rng.random(tables.shape) < 0.5, -np.inf, np.inf))
    moved.setflags(write=False)
    return moved


def test_traces_do_not_rest_on_the_last_bits_of_the_posteriors(monkeypatch) -> None:
    """Every golden trace is the same when every noise table (joint weights, their logs and sums, LM logits and
    log-probabilities) is off by one ulp: no decision of the search is a tie that another machine could break the
    other way."""
    from functools import lru_cache

    from accelsim.workload import search

    rng = np.random.default_rng(20)
    for name in ("_joint_noise", "_lm_noise", "_scaled_lm_logp"):
        exact = getattr(search, name).__wrapped__
        monkeypatch.setattr(search, name, lru_cache(maxsize=16)(lambda *a, exact=exact: _last_bits_moved(exact(*a), rng)))
    assert not np.array_equal(search._joint_noise(0, 46).logw, search._joint_noise.__wrapped__(0, 46).logw)
    for grid in ("main", "options"):
        assert _digest(GRIDS[grid](), run_alsd) == GOLDEN_GRID_DIGESTS[grid], grid
    for name, case in SPECIFIC_CASES.items():
        assert _digest(iter([case]), run_alsd) == GOLDEN_CASE_DIGESTS[name], name


_PROBE = """
import hashlib, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_search_golden import _posterior_vectors
x = np.random.default_rng(0).exponential(size=4096)
print(hashlib.sha256(np.log(x).tobytes() + np.exp(-x).tobytes()).hexdigest())
digest = hashlib.sha256()
for vector in _posterior_vectors():
    digest.update(vector.tobytes())
print(digest.hexdigest())
"""


def _wide_simd_targets() -> list[str]:
    """numpy's dispatch targets for AVX-512 on this CPU (none on AVX2-only or arm64 machines)."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as umath
    return [f for f in umath.__cpu_dispatch__ if ("AVX512" in f or f == "X86_V4") and umath.__cpu_features__.get(f)]


def _probe(environment: dict[str, str]) -> list[str]:
    import subprocess
    import sys

    code = _PROBE.format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_posteriors_are_the_same_bits_whichever_simd_kernels_numpy_picks() -> None:
    """numpy's np.log and np.exp differ in their last bits between its AVX-512 and AVX2 kernels (issue 20: an AVX2
    machine failed the posterior golden). With AVX-512 switched off in numpy (NPY_DISABLE_CPU_FEATURES, as on an
    AVX2-only CPU), numpy's own log/exp change here but the synthetic posteriors must not, bit for bit."""
    import os

    targets = _wide_simd_targets()
    if not targets:
        pytest.skip("this CPU has no AVX-512 kernels in numpy to switch off")
    base = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    numpy_here, posteriors_here = _probe(base)
    numpy_narrow, posteriors_narrow = _probe({**base, "NPY_DISABLE_CPU_FEATURES": " ".join(targets)})
    if numpy_here == numpy_narrow:
        pytest.skip("numpy's log and exp give the same bits with and without AVX-512 here")
    assert posteriors_narrow == posteriors_here


if __name__ == "__main__":  # rewrite the posterior summaries, on purpose only (a change of the emission model)
    GOLDEN_POSTERIORS.write_text(json.dumps([_summary(v) for v in _posterior_vectors()]) + "\n", encoding="utf-8")


def test_results_do_not_depend_on_decode_history() -> None:
    """A decode gives the same trace whatever was decoded before it in the process (caches are per input)."""
    case = SPECIFIC_CASES["seed1_fusion"]
    first = run_alsd(**case)
    for seed in range(3):
        run_alsd(120, 8, EmissionModel(seed=seed, vocab=46))
    assert run_alsd(**case) == first
    assert np.array_equal(
        SyntheticPosteriors(200, case["emission"]).joint_logp(3, first.reference[:1]),
        SyntheticPosteriors(200, case["emission"]).joint_logp(3, first.reference[:1]),
    )


def test_compiled_cut_keeps_the_best_or_reports_ties_like_the_literal_one() -> None:
    """The compiled loop's top-beam cut on made-up scores (ties are rare in real decodes): without equal values
    at or above the cut it keeps what the literal loop's ``_top`` keeps, best first; with them it hands over (-1)."""
    from accelsim.workload.alsd_jit import top_cells
    from accelsim.workload.search import _top

    rng = np.random.default_rng(5)
    vocab, handed_over, kept_cases = 4, 0, 0
    for case in range(600):
        rows = int(rng.integers(1, 6))
        table = rng.integers(0, 12 if case % 3 else 4, size=(rows, vocab)).astype(float) + rng.random() * (case % 2)
        table[rng.random(table.shape) < 0.2] = -np.inf
        beam = int(rng.integers(1, 8))
        expected = _top(table.copy(), [((r,), 0.0) for r in range(rows)], beam)  # prefix (r,) stands for row r
        values, cells = np.empty(beam), np.empty(beam, dtype=np.int64)
        kept = top_cells(table.ravel(), table.size, values, cells)
        scores = [score for _, score in expected]
        finite = sorted((v for v in table.ravel().tolist() if v > -np.inf), reverse=True)
        contenders = [v for v in finite if len(finite) < beam or v >= finite[beam - 1]]  # at or above the cut
        if len(set(contenders)) < len(contenders):
            assert kept == -1
            handed_over += 1
            continue
        assert kept == len(expected)
        assert values[:kept].tolist() == scores
        for (y, _), cell in zip(expected, cells[:kept].tolist()):
            r, k = divmod(cell, vocab)
            assert y == ((r,) if k == 0 else (r, k))
        kept_cases += 1
    assert handed_over > 50 and kept_cases > 50  # both branches are exercised


def test_ties_at_the_cut_are_decoded_by_the_literal_loop(monkeypatch) -> None:
    """When the compiled loop reports equal scores at the cut, run_alsd decodes with the literal loop."""
    from accelsim.workload import alsd_jit

    case = SPECIFIC_CASES["seed1_fusion"]
    expected = run_alsd(**case)
    calls = []

    def tie(*args):
        calls.append(1)
        return alsd_jit.TIE, *([np.empty(0)] * 5), args[-1]

    monkeypatch.setattr(alsd_jit, "decode", tie)
    assert run_alsd(**case) == expected and calls == [1]


def test_prefixes_longer_than_the_first_advance_table_decode_like_the_literal_loop() -> None:
    """The compiled loop lengthens its CRC advance table when a prefix outgrows it (1,023 labels at first)."""
    from accelsim.workload import search

    case = dict(frames=1100, beam=2, emission=EmissionModel(seed=3, vocab=6, label_rate=1.0), fusion=None)
    trace = run_alsd(**case)
    assert len(trace.best) > 1023 and search._crc_tables()[1].shape[0] > len(trace.best)
    assert trace == _through_callables(**case)
