"""Search model: ALSD beam search over synthetic RNN-T posteriors, recorded as a per-iteration step trace.

The simulator needs to know how much work each decoding step does (how many hypotheses reach the
joint network, how many prediction-network and LM evaluations miss the prefix cache, how many
candidates the host ranks), not what the words are. This module runs the real alignment-length
synchronous decoding (ALSD) beam search of Saon, Tuske and Audhkhasi (ICASSP 2020) with
density-ratio LM shallow fusion, but over *synthetic* posteriors, so the work pattern has the shape
of a real decode without needing trained networks. It knows nothing about hardware or time; a later
stage turns the :class:`DecodeTrace` into operator graphs. A trace recorded from a real decoder can
replace the synthetic one through :func:`load_trace_jsonl`.

Emission model (:class:`EmissionModel`, :class:`SyntheticPosteriors`)
-----------------------------------------------------------------------
* Reference: ``U = max(1, round(frames * label_rate))`` labels drawn uniformly from ``1..vocab-1``
  with ``numpy.random.default_rng(seed)``. Label ``k`` is *due* at frame
  ``tau_k = floor((k + 0.5) * frames / U)``, i.e. the labels are spread evenly over the utterance.
* Joint network at ``(t, u)`` for a hypothesis with label prefix ``y`` (``len(y) == u``): if ``y`` is
  *on track* (``y == reference[:u]``), ``u < U`` and ``t >= tau_u``, probability ``confidence`` goes to
  ``reference[u]``; otherwise ``confidence`` goes to blank. The remaining ``1 - confidence`` is spread
  over all other symbols in proportion to pseudo-random weights that depend only on ``(seed, t, y)``.
* External LM (LM_EXT) and source LM (LM_SRC) for the label after ``y``: log-softmax over labels
  ``1..vocab-1`` (LMs never emit blank) of pseudo-random logits that depend only on
  ``(seed, which LM, y)``. LM_EXT has the larger spread and adds a bonus to the reference's next label
  when ``y`` is on track, so that fusion helps the search; LM_SRC is flatter, as a source-domain prior
  is when divided out.

Modelling shortcut: the pseudo-random weights are rows of per-seed tables drawn once from
``numpy.random.default_rng``; a row is chosen by a CRC-32 of ``(seed, t, y)`` (or ``(seed, LM, y)``).
CRC-32 is stable across processes, unlike Python's salted ``hash()`` of strings, so traces are
reproducible; two keys that hash to the same row share their noise, which is harmless for a
work model. Each evaluation costs a few microseconds instead of seeding a generator per call.

ALSD (:func:`run_alsd`)
-----------------------
Hypotheses are label prefixes ``y`` with a score. In iteration ``i`` every hypothesis in the beam
sits at the lattice node ``(t, u) = (i - len(y), len(y))``; those with ``t < T`` are *active*: the
joint network is evaluated for them, and the prediction network (and the LMs) for their prefix,
through a cache keyed by prefix that lives for the whole utterance. Each active hypothesis yields
``vocab`` candidates: blank moves it to ``(t + 1, u)``; label ``k`` moves it to ``(t, u + 1)`` with
score ``log P(k) + mu log P_ext(k|y) - lam log P_src(k|y) + rho`` (Eq. 1). All candidates satisfy
``t + u = i + 1``, so equal prefixes are the same lattice node and are merged by log-sum-exp. A blank
candidate that reaches ``t == T`` is final: it is appended to the final list F and competes for a
beam slot like any other candidate, but is never expanded again (it is inactive in the next
iteration). The top ``beam`` candidates form the next beam. The search stops when no beam entry is
active or after ``T + U_max`` iterations; the best final hypothesis (or, if none finished, the best
beam entry) is the result. This follows the paper's Algorithm 1 and ESPnet's implementation, except
that here merging happens *before* pruning, over all candidates.

Two implementations of the same search
--------------------------------------
With injected ``joint_logp`` / ``lm_logp`` callables, :func:`run_alsd` runs the loop above literally,
one hypothesis at a time. With the default synthetic posteriors it runs the compiled loop of
:mod:`accelsim.workload.alsd_jit` (numba; compiled on first use and cached beside the module): prefixes
are numbered nodes of a prefix tree carrying their on-track flag and CRC registers, each derived from the
parent's in O(1), and the LMs' weighted log-probabilities of every noise row are computed once per noise
pool (:func:`_scaled_lm_logp`). Every floating-point value is computed by the same operations on the same
operands as in the literal loop, so both give bit-identical traces (tests/test_search_golden.py checks
this against digests recorded before any fast path existed). Equal scores at the beam cut, which the
literal loop orders by prefix, make the compiled loop hand the utterance over to the literal one.
"""

from __future__ import annotations

import json
from pathlib import Path
import math
import os
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple

import numpy as np
from numpy.typing import NDArray

from pydantic import Field

from accelsim.errors import AccelsimError, shown_path
from accelsim.files import read_regular_file
from accelsim.spec.limits import MAX_TRACE_BYTES
from accelsim.spec.workload import EmissionSpec, FusionSpec

__all__ = [
    "BLANK",
    "LM_EXT",
    "LM_SRC",
    "EmissionModel",
    "Fusion",
    "StepRecord",
    "DecodeTrace",
    "TraceFormatError",
    "SyntheticPosteriors",
    "JointFn",
    "LmFn",
    "reference_labels",
    "label_due_frames",
    "run_alsd",
    "save_trace_jsonl",
    "load_trace_jsonl",
]

BLANK = 0
LM_EXT = "ext"
LM_SRC = "src"

Prefix = tuple[int, ...]
JointFn = Callable[[int, Prefix], NDArray[np.float64]]
"""``joint_logp(t, y)``: log-probabilities of all ``vocab`` joint outputs (blank at index 0) at frame ``t`` after prefix ``y``."""
LmFn = Callable[[str, Prefix], NDArray[np.float64]]
"""``lm_logp(which, y)`` with ``which`` in (LM_EXT, LM_SRC): length-``vocab`` log-probabilities of the next label; index 0 (blank) is ignored."""


class EmissionModel(EmissionSpec):
    """Seeded synthetic posteriors (see the module docstring for the exact model): the workload's emission
    settings (one definition, :class:`accelsim.spec.workload.EmissionSpec`, validated alike) and the
    vocabulary they spread over."""

    vocab: int = Field(46, ge=2, le=65536, description="Joint-network outputs including blank at index 0.")

    @property
    def pool_seed(self) -> int:
        """The seed of the noise tables: ``noise_seed``, else ``seed``."""
        return self.seed if self.noise_seed is None else self.noise_seed


#: Density-ratio fusion weights, Eq. 1: S = log P(y|x) + mu log P_ext(y) - lam log P_src(y) + rho |y|
#: (the workload's own settings, one definition).
Fusion = FusionSpec


@dataclass(frozen=True, slots=True)
class StepRecord:
    """Work done by one ALSD iteration; the unit a later stage turns into an operator graph."""

    iteration: int  # i = t + u, 0-based
    active: int  # hypotheses whose joint network was evaluated this iteration (the beam entries with t < T)
    miss_prediction: int  # distinct label prefixes among the active hyps whose prediction-network output was NOT cached (evaluated now)
    miss_lm: int  # same count for the LMs (LM_EXT and LM_SRC share the pattern); 0 when fusion is None
    candidates: int  # candidate extensions scored and ranked on the host = active * vocab (blank + every label)
    merged: int  # candidates removed by merging equal label prefixes
    kept: int  # hypotheses kept in the beam for the next iteration (<= beam)


@dataclass(frozen=True, slots=True)
class DecodeTrace:
    """The step trace of one utterance's decode, plus its reference and result for sanity checks."""

    frames: int
    beam: int
    steps: tuple[StepRecord, ...]
    reference: tuple[int, ...]  # reference label sequence (labels 1..vocab-1)
    best: tuple[int, ...]  # best final hypothesis' labels

    @property
    def iterations(self) -> int:
        return len(self.steps)

    @property
    def total_active(self) -> int:
        """Joint-network evaluations over the utterance."""
        return sum(s.active for s in self.steps)

    @property
    def total_miss_prediction(self) -> int:
        """Prediction-network evaluations over the utterance (= distinct prefixes evaluated)."""
        return sum(s.miss_prediction for s in self.steps)

    @property
    def total_miss_lm(self) -> int:
        """Evaluations of each LM over the utterance."""
        return sum(s.miss_lm for s in self.steps)


class TraceFormatError(AccelsimError, ValueError):
    """A step-trace file that cannot be read; the message is ``<path>:<line>: <what is wrong>``.

    A ValueError for callers of this module, and an AccelsimError so the CLI reports it as user input.
    """


# --------------------------------------------------------------------------------------------
# Emission model
# --------------------------------------------------------------------------------------------

_NOISE_ROWS = 4096  # rows per noise table; keys hash onto rows (collisions only share noise)
_LM_EXT_SPREAD = 1.0  # std of LM_EXT logits
_LM_EXT_BONUS = 3.0  # logit bonus of the reference's next label in LM_EXT (~0.2 probability at vocab 46)
_LM_SRC_SPREAD = 0.3  # std of LM_SRC logits: flatter than LM_EXT
_MIN_WEIGHT = 1e-12  # keeps log-weights finite

# Non-zero stream ids: numpy's SeedSequence pads entropy with zeros, so [seed, 0] would equal seed.
_STREAM_JOINT = 0x4A4F494E
_STREAM_EXT = 0x4C4D4558
_STREAM_SRC = 0x4C4D5352


def reference_labels(frames: int, emission: EmissionModel) -> tuple[int, ...]:
    """The labels the synthetic posteriors lead to: ``max(1, round(frames * label_rate))`` draws from 1..vocab-1."""
    _check_frames(frames)
    count = max(1, round(frames * emission.label_rate))
    rng = np.random.default_rng(emission.seed)
    return tuple(int(k) for k in rng.integers(1, emission.vocab, size=count))


def label_due_frames(frames: int, emission: EmissionModel) -> tuple[int, ...]:
    """Frame ``tau_k = floor((k + 0.5) * frames / U)`` from which reference label ``k`` is the likely symbol."""
    _check_frames(frames)
    count = max(1, round(frames * emission.label_rate))
    return tuple(((2 * k + 1) * frames) // (2 * count) for k in range(count))  # exact integer floor


class _JointNoise(NamedTuple):
    w: NDArray[np.float64]  # (rows, vocab) positive weights of the non-target joint outputs
    logw: NDArray[np.float64]  # log of w
    sum: NDArray[np.float64]  # (rows,) row sums of w
    blank_mass: list[float]  # sum - w[:, BLANK]: the mass of the non-blank symbols, as Python floats
    log_blank_mass: NDArray[np.float64]  # math.log of each blank_mass


class _LmNoise(NamedTuple):
    both: NDArray[np.float64]  # (2 * rows, vocab - 1): the LM_EXT rows, then the LM_SRC rows
    ext: NDArray[np.float64]  # (rows, vocab - 1) LM_EXT logits of labels 1..vocab-1 (a view of both)
    src: NDArray[np.float64]  # (rows, vocab - 1) LM_SRC logits (a view of both)


# Per-(seed, vocab) noise, drawn once and shared read-only by every decode with that seed. The joint
# and the LM tables come from separate generator streams, so a decode without fusion draws only the
# joint table and gets the same values as one with fusion.


@lru_cache(maxsize=16)
def _joint_noise(seed: int, vocab: int) -> _JointNoise:
    joint = np.random.default_rng([seed, _STREAM_JOINT]).exponential(1.0, size=(_NOISE_ROWS, vocab))
    np.maximum(joint, _MIN_WEIGHT, out=joint)  # exponential weights = Dirichlet(1) shares over the other symbols
    total = _row_sums(joint)
    blank_mass = (total - joint[:, BLANK]).tolist()
    return _read_only(_JointNoise(joint, _portable(math.log, joint), total, blank_mass, _portable(math.log, blank_mass)))


def _portable(fn: Callable[[float], float], values: Any) -> NDArray[np.float64]:
    """``fn`` (math.log or math.exp) of every value, as an array of ``values``' shape.

    Portability: numpy's own ``np.log``/``np.exp`` pick a SIMD kernel by CPU (AVX-512, AVX2, NEON), and the kernels
    differ in the last bits (issue 20: AVX2 and AVX-512 machines drew different posteriors). The C library's scalar
    functions, which ``math`` and the compiled search (numba) call, are one implementation whatever the CPU and the
    numpy version. A few microseconds per table row: tables are drawn once per noise pool.
    """
    array = np.asarray(values, dtype=np.float64)
    return np.fromiter(map(fn, array.ravel().tolist()), dtype=np.float64, count=array.size).reshape(array.shape)


def _row_sums(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's exact (correctly rounded) sum, ``math.fsum``: the same bits whatever numpy's summation order."""
    return np.fromiter(map(math.fsum, values.tolist()), dtype=np.float64, count=values.shape[0])


@lru_cache(maxsize=16)
def _lm_noise(seed: int, vocab: int) -> _LmNoise:
    both = np.empty((2 * _NOISE_ROWS, vocab - 1))
    ext, src = both[:_NOISE_ROWS], both[_NOISE_ROWS:]
    np.random.default_rng([seed, _STREAM_EXT]).standard_normal(out=ext)
    np.random.default_rng([seed, _STREAM_SRC]).standard_normal(out=src)
    ext *= _LM_EXT_SPREAD
    src *= _LM_SRC_SPREAD
    return _read_only(_LmNoise(both, ext, src))


@lru_cache(maxsize=16)
def _scaled_lm_logp(seed: int, vocab: int, mu: float, lam: float) -> NDArray[np.float64]:
    """``mu log P_ext`` over every LM_EXT noise row, then ``lam log P_src`` over every LM_SRC row.

    An LM's log-probabilities after a prefix are its noise row's (the prefix hashes onto a row), so a
    pool's rows are normalised and weighted once, shared by every decode of the pool and fusion weights:
    the same operations on the same values as row by row (row-wise, elementwise), so the same bits.
    """
    scaled = _log_softmax_rows(_lm_noise(seed, vocab).both)
    scaled[:_NOISE_ROWS] *= mu
    scaled[_NOISE_ROWS:] *= lam
    scaled.setflags(write=False)
    return scaled


def _log_softmax_rows(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise ``logits - (peak + log(sum(exp(logits - peak))))`` with portable exp, sum and log (see
    :func:`_portable`); lm_logp computes one row by this same function."""
    logits = np.atleast_2d(logits)
    peaks = logits.max(axis=1)
    norms = peaks + _portable(math.log, _row_sums(_portable(math.exp, logits - peaks[:, None])))
    return logits - norms[:, None]


def _read_only(tables: Any) -> Any:
    for array in tables:
        if isinstance(array, np.ndarray):
            array.setflags(write=False)
    return tables


def _pack(values: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


class SyntheticPosteriors:
    """The default joint and LM functions of :func:`run_alsd` for one utterance of ``frames`` frames.

    Also usable on its own, e.g. to wrap and instrument in tests.
    """

    __slots__ = (
        "frames", "emission", "reference", "due", "_joint", "_lm", "_log_conf", "_log_rest", "_log_off", "_log_off_rest",
        "_salt_joint", "_salt_lm",
    )

    def __init__(self, frames: int, emission: EmissionModel = EmissionModel()) -> None:
        self.frames = frames
        self.emission = emission
        self.reference = reference_labels(frames, emission)
        self.due = label_due_frames(frames, emission)
        self._joint = _joint_noise(emission.pool_seed, emission.vocab)
        self._lm: _LmNoise | None = None  # drawn on first use: a decode without fusion never needs it
        self._log_conf = math.log(emission.confidence)
        self._log_rest = math.log1p(-emission.confidence)
        self._log_off = math.log(emission.off_track)
        self._log_off_rest = math.log1p(-emission.off_track)
        seed_bytes = str(emission.seed).encode()  # decimal text: any size of int, stable everywhere
        self._salt_joint = zlib.crc32(b"joint:" + seed_bytes)
        self._salt_lm = {LM_EXT: zlib.crc32(b"lm_ext:" + seed_bytes), LM_SRC: zlib.crc32(b"lm_src:" + seed_bytes)}

    def _lm_tables(self) -> _LmNoise:
        """The LM noise tables of this seed (drawn on first use)."""
        if self._lm is None:
            self._lm = _lm_noise(self.emission.pool_seed, self.emission.vocab)
        return self._lm

    def on_track(self, y: Prefix) -> bool:
        """True if ``y`` is a prefix of the reference."""
        return len(y) <= len(self.reference) and y == self.reference[: len(y)]

    def expected_symbol(self, t: int, y: Prefix) -> int:
        """The symbol that gets ``confidence`` at ``(t, len(y))``: the next reference label if due and on track, else blank."""
        u = len(y)
        if u < len(self.reference) and t >= self.due[u] and self.on_track(y):
            return self.reference[u]
        return BLANK

    def joint_logp(self, t: int, y: Prefix) -> NDArray[np.float64]:
        """Log-posteriors of all ``vocab`` joint outputs at frame ``t`` after prefix ``y``."""
        target = self.expected_symbol(t, y)
        row = zlib.crc32(_pack((t, *y)), self._salt_joint) % _NOISE_ROWS
        weights = self._joint.w[row]
        # A hypothesis that left the reference no longer matches the acoustics: its posteriors are
        # uncertain (off_track on blank), so wrong paths lose score steadily, as with a real model.
        conf, rest = (self._log_conf, self._log_rest) if self.on_track(y) else (self._log_off, self._log_off_rest)
        # The other symbols share the remaining mass in proportion to their weights.
        out = self._joint.logw[row] + (rest - math.log(self._joint.sum[row] - weights[target]))
        out[target] = conf
        return out

    def lm_logp(self, which: str, y: Prefix) -> NDArray[np.float64]:
        """Log-probabilities of the label after ``y`` under LM_EXT or LM_SRC; index 0 (blank) is ``-inf``."""
        if which not in self._salt_lm:
            raise ValueError(f"unknown LM {which!r}; expected {LM_EXT!r} or {LM_SRC!r}")
        row = zlib.crc32(_pack(y), self._salt_lm[which]) % _NOISE_ROWS
        table = self._lm_tables().ext if which == LM_EXT else self._lm_tables().src
        logits = table[row]
        u = len(y)
        if which == LM_EXT and u < len(self.reference) and self.on_track(y):
            logits = logits.copy()
            logits[self.reference[u] - 1] += _LM_EXT_BONUS
        out = np.empty(self.emission.vocab)
        out[BLANK] = -math.inf
        out[1:] = _log_softmax_rows(logits)[0]
        return out


# --------------------------------------------------------------------------------------------
# ALSD
# --------------------------------------------------------------------------------------------


def _rank_key(item: tuple[Prefix, float]) -> tuple[float, Prefix]:
    """Best first; equal scores are ordered by prefix so results never depend on dict or sort history."""
    return (-item[1], item[0])


def run_alsd(
    frames: int,
    beam: int,
    emission: EmissionModel = EmissionModel(),
    fusion: Fusion | None = Fusion(),
    u_max: int | None = None,
    *,
    early_stop: bool = True,
    joint_logp: JointFn | None = None,
    lm_logp: LmFn | None = None,
) -> DecodeTrace:
    """Decode one utterance of ``frames`` encoder frames with ALSD and record the work of every iteration.

    ``emission`` fixes the reference and vocabulary; ``joint_logp`` and ``lm_logp`` default to its
    :class:`SyntheticPosteriors` and may be injected (tests, other emission models). ``fusion=None``
    decodes without LMs. ``u_max`` bounds the labels per hypothesis through the iteration limit
    ``frames + u_max`` (default ``2 * len(reference) + 10``). With ``early_stop`` the search also
    ends once no hypothesis still in the lattice scores above the best finished one (a heuristic, as
    in practical decoders: a label insertion reward could in principle lift a score again).
    """
    _check_frames(frames)
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise ValueError(f"beam must be an int >= 1, got {beam!r}")
    vocab = emission.vocab
    synthetic = SyntheticPosteriors(frames, emission)
    reference = synthetic.reference
    if u_max is None:
        u_max = 2 * len(reference) + 10
    elif u_max < 0:
        raise ValueError(f"u_max must be >= 0, got {u_max!r}")
    if joint_logp is None and lm_logp is None:
        trace = _run_alsd_compiled(frames, beam, synthetic, fusion, u_max, early_stop)
        if trace is not None:
            return trace
    joint = joint_logp if joint_logp is not None else synthetic.joint_logp
    lm = lm_logp if lm_logp is not None else synthetic.lm_logp

    prediction_cache: set[Prefix] = set()  # stands for cached prediction-network outputs
    lm_cache: dict[Prefix, NDArray[np.float64]] = {}  # fused label scores per prefix (both LMs at once)
    beam_hyps: list[tuple[Prefix, float]] = [((), 0.0)]
    finals: list[tuple[Prefix, float]] = []
    steps: list[StepRecord] = []

    for i in range(frames + u_max):
        # Every beam entry sits at t = i - u; finished ones (t == T) are kept only to hold their slot.
        active = [(y, s) for y, s in beam_hyps if i - len(y) < frames]
        if not active:
            break
        n = len(active)
        miss_prediction = miss_lm = 0
        scores = np.empty((n, vocab))
        for r, (y, s) in enumerate(active):
            if y not in prediction_cache:
                prediction_cache.add(y)
                miss_prediction += 1
            logp = np.asarray(joint(i - len(y), y), dtype=np.float64)
            if logp.shape != (vocab,):
                raise ValueError(f"joint_logp returned shape {logp.shape}, expected ({vocab},)")
            row = scores[r]
            np.add(logp, s, out=row)
            if fusion is not None:
                fused = lm_cache.get(y)
                if fused is None:
                    fused = _fused_label_scores(lm, y, fusion, vocab)
                    lm_cache[y] = fused
                    miss_lm += 1
                row[1:] += fused

        # Merge: the blank extension of y (from (t, u)) and label y[-1] of its parent y[:-1] (from
        # (t + 1, u - 1)) both reach node (t + 1, u). No other pair of candidates can share a prefix:
        # active prefixes are distinct, so label extensions are distinct, and blank extensions keep
        # distinct prefixes. Finals never merge: their partner would come from an inactive parent.
        index = {y: r for r, (y, _) in enumerate(active)}
        merged = 0
        for r, (y, _) in enumerate(active):
            if y:
                parent = index.get(y[:-1])
                if parent is not None:
                    k = y[-1]
                    scores[r, BLANK] = np.logaddexp(scores[r, BLANK], scores[parent, k])
                    scores[parent, k] = -math.inf
                    merged += 1

        for r, (y, _) in enumerate(active):
            if i - len(y) + 1 == frames:
                finals.append((y, float(scores[r, BLANK])))

        beam_hyps = _top(scores, active, beam)
        steps.append(
            StepRecord(
                iteration=i,
                active=n,
                miss_prediction=miss_prediction,
                miss_lm=miss_lm,
                candidates=n * vocab,
                merged=merged,
                kept=len(beam_hyps),
            )
        )
        if early_stop and finals:
            best_final = max(score for _, score in finals)
            if all(score <= best_final for y, score in beam_hyps if i + 1 - len(y) < frames):
                break

    pool = finals if finals else beam_hyps
    best = min(pool, key=_rank_key)[0] if pool else ()
    return DecodeTrace(frames=frames, beam=beam, steps=tuple(steps), reference=reference, best=best)


def _fused_label_scores(lm: LmFn, y: Prefix, fusion: Fusion, vocab: int) -> NDArray[np.float64]:
    """``mu log P_ext(k|y) - lam log P_src(k|y) + rho`` for labels k = 1..vocab-1 (Eq. 1, per label)."""
    ext = np.asarray(lm(LM_EXT, y), dtype=np.float64)
    src = np.asarray(lm(LM_SRC, y), dtype=np.float64)
    if ext.shape != (vocab,) or src.shape != (vocab,):
        raise ValueError(f"lm_logp returned shapes {ext.shape} and {src.shape}, expected ({vocab},)")
    return fusion.mu * ext[1:] - fusion.lam * src[1:] + fusion.rho


def _top(scores: NDArray[np.float64], active: list[tuple[Prefix, float]], beam: int) -> list[tuple[Prefix, float]]:
    """The ``beam`` best candidates with finite scores, best first, ties broken by prefix."""
    vocab = scores.shape[1]
    flat = scores.ravel()
    finite = np.flatnonzero(np.isfinite(flat))  # merged-away (-inf) and impossible candidates never survive
    if finite.size > beam:
        # Everything scoring at least the beam-th best, ties included, then an exact ordered cut.
        threshold = np.partition(flat[finite], finite.size - beam)[finite.size - beam]
        finite = finite[flat[finite] >= threshold]
    chosen: list[tuple[Prefix, float]] = []
    for j in finite.tolist():
        r, k = divmod(j, vocab)
        y = active[r][0]
        chosen.append((y if k == BLANK else y + (k,), float(flat[j])))
    chosen.sort(key=_rank_key)
    return chosen[:beam]


# --------------------------------------------------------------------------------------------
# ALSD over the synthetic posteriors: the same search, one numpy call per step of an iteration
# --------------------------------------------------------------------------------------------


#: The compiled loop's CRC tables, made on first use: zlib's byte table, and the advance table (for prefixes of up
#: to 1,023 labels at first; the kernel returns a longer one when a prefix outgrows it, and the longest is kept).
_CRC: dict[str, NDArray[np.int64]] = {}


def _crc_tables() -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    from accelsim.workload import alsd_jit

    if not _CRC:
        _CRC["table"] = alsd_jit.crc_table()
        _CRC["columns"] = alsd_jit.advance_columns(1023, _CRC["table"])
    return _CRC["table"], _CRC["columns"]


def _run_alsd_compiled(
    frames: int, beam: int, synthetic: SyntheticPosteriors, fusion: Fusion | None, u_max: int, early_stop: bool
) -> DecodeTrace | None:
    """:func:`run_alsd` over the default synthetic posteriors, by the compiled loop of
    :mod:`accelsim.workload.alsd_jit` (same operations on the same values, so the same trace); None when
    equal scores meet at the cut, which the literal loop orders by prefix."""
    from accelsim.workload import alsd_jit

    emission, vocab = synthetic.emission, synthetic.emission.vocab
    reference = np.array(synthetic.reference, dtype=np.int64)
    joint = synthetic._joint
    if fusion is not None:
        scaled = _scaled_lm_logp(emission.pool_seed, vocab, fusion.mu, fusion.lam)
        # mu LM_EXT log-probabilities after reference[:u], u < len(reference): the rows that carry the bonus.
        picks, crc = [], synthetic._salt_lm[LM_EXT]
        for k in synthetic.reference:
            picks.append(crc % _NOISE_ROWS)
            crc = zlib.crc32(struct.pack("<q", k), crc)
        logits = synthetic._lm_tables().ext[picks]  # a copy
        logits[np.arange(len(reference)), reference - 1] += _LM_EXT_BONUS
        on_track_ext = _log_softmax_rows(logits)
        on_track_ext *= fusion.mu
        rho = fusion.rho
    else:
        scaled, on_track_ext, rho = _read_only([np.zeros((1, vocab - 1))])[0], np.zeros((0, vocab - 1)), 0.0
    table, columns = _crc_tables()
    status, steps, parent, label, pool_nodes, pool_scores, longer = alsd_jit.decode(
        frames, beam, vocab, u_max, early_stop, fusion is not None, reference,
        np.array(synthetic.due, dtype=np.int64), joint.logw, joint.w, joint.sum, joint.log_blank_mass,
        synthetic._log_conf, synthetic._log_rest, synthetic._log_off, synthetic._log_off_rest,
        synthetic._salt_joint, synthetic._salt_lm[LM_EXT], synthetic._salt_lm[LM_SRC], _NOISE_ROWS,
        scaled, on_track_ext, float(rho), table, columns)
    if longer.shape[0] > columns.shape[0]:
        _CRC["columns"] = longer
    if status == alsd_jit.TIE:
        return None
    parents, labels = parent.tolist(), label.tolist()

    def prefix(node: int) -> Prefix:
        out: list[int] = []
        while node > 0:
            out.append(labels[node])
            node = parents[node]
        return tuple(reversed(out))

    pool = [(prefix(node), score) for node, score in zip(pool_nodes.tolist(), pool_scores.tolist())]
    lm = fusion is not None
    records = tuple(
        StepRecord(iteration=i, active=n, miss_prediction=misses, miss_lm=misses if lm else 0, candidates=n * vocab,
                   merged=merged, kept=kept)
        for i, (n, misses, merged, kept) in enumerate(steps.tolist()))
    best = min(pool, key=_rank_key)[0] if pool else ()
    return DecodeTrace(frames=frames, beam=beam, steps=records, reference=synthetic.reference, best=best)


def _check_frames(frames: int) -> None:
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an int >= 1, got {frames!r}")


# --------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------

_STEP_FIELDS = ("iteration", "active", "miss_prediction", "miss_lm", "candidates", "merged", "kept")


def save_trace_jsonl(trace: DecodeTrace, path: str | os.PathLike[str]) -> None:
    """Write ``trace``: a header line ``{"frames", "beam", "reference", "best"}``, then one line per step."""
    lines = [
        json.dumps(
            {"frames": trace.frames, "beam": trace.beam, "reference": list(trace.reference), "best": list(trace.best)}
        )
    ]
    lines.extend(json.dumps({name: getattr(step, name) for name in _STEP_FIELDS}) for step in trace.steps)
    from accelsim.files import atomic_write_text

    atomic_write_text(path, "\n".join(lines) + "\n", parents=False)  # a recorded trace: the folder must exist


def load_trace_jsonl(path: str | os.PathLike[str]) -> DecodeTrace:
    """Read a trace written by :func:`save_trace_jsonl` or by a real decoder in the same format.

    Blank lines are skipped and unknown keys ignored (a real decoder may log more). Anything else that
    is not a valid trace raises :class:`TraceFormatError` (a ValueError) naming the file and line.
    """
    where = shown_path(os.fspath(path))
    header: dict[str, Any] | None = None
    steps: list[StepRecord] = []
    lines = read_trace_bytes(path).splitlines(keepends=True)  # bytes: a bad encoding is reported by line
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        fail = partial(_line_error, where, lineno)
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise fail("not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise fail(f"bad JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise fail(f"expected a JSON object, got {type(obj).__name__}")
        if header is None:
            header = _parse_header(obj, fail)
            continue
        step = StepRecord(**{name: _count(obj, name, fail) for name in _STEP_FIELDS})
        _check_step(step, header["beam"], steps[-1].iteration if steps else None, fail)
        steps.append(step)
    if header is None:
        raise TraceFormatError(f"{where}:1: empty trace, expected a header line with frames, beam, reference, best")
    return DecodeTrace(steps=tuple(steps), **header)


def read_trace_bytes(path: str | os.PathLike[str]) -> bytes:
    """A recorded trace's content: a regular file of at most MAX_TRACE_BYTES, else a :class:`TraceFormatError`."""
    try:
        return read_regular_file(path, MAX_TRACE_BYTES, "trace")
    except AccelsimError as exc:
        raise TraceFormatError(str(exc)) from None


def _line_error(where: str, lineno: int, message: str) -> TraceFormatError:
    return TraceFormatError(f"{where}:{lineno}: {message}")


def _count(obj: dict[str, Any], name: str, fail: Callable[[str], TraceFormatError]) -> int:
    if name not in obj:
        raise fail(f"missing field {name!r}")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"field {name!r} must be an integer, got {value!r}")
    if value < 0:
        raise fail(f"field {name!r} must not be negative, got {value}")
    return value


def _labels(obj: dict[str, Any], name: str, fail: Callable[[str], TraceFormatError]) -> tuple[int, ...]:
    if name not in obj:
        raise fail(f"missing field {name!r}")
    value = obj[name]
    if not isinstance(value, list) or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in value):
        raise fail(f"field {name!r} must be a list of labels (integers >= 1), got {value!r}")
    return tuple(value)


def _parse_header(obj: dict[str, Any], fail: Callable[[str], TraceFormatError]) -> dict[str, Any]:
    header = {
        "frames": _count(obj, "frames", fail),
        "beam": _count(obj, "beam", fail),
        "reference": _labels(obj, "reference", fail),
        "best": _labels(obj, "best", fail),
    }
    for name in ("frames", "beam"):
        if header[name] < 1:
            raise fail(f"field {name!r} must be >= 1, got {header[name]}")
    return header


def _check_step(step: StepRecord, beam: int, previous: int | None, fail: Callable[[str], TraceFormatError]) -> None:
    """The invariants every ALSD step satisfies, whoever recorded it."""
    if previous is not None and step.iteration <= previous:
        raise fail(f"iteration {step.iteration} does not follow iteration {previous}")
    if step.active > beam:
        raise fail(f"active {step.active} exceeds beam {beam}")
    if step.kept > beam:
        raise fail(f"kept {step.kept} exceeds beam {beam}")
    if step.miss_prediction > step.active:
        raise fail(f"miss_prediction {step.miss_prediction} exceeds active {step.active}")
    if step.miss_lm > step.active:
        raise fail(f"miss_lm {step.miss_lm} exceeds active {step.active}")
    if step.merged > step.candidates:
        raise fail(f"merged {step.merged} exceeds candidates {step.candidates}")
