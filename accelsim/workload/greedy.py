"""Greedy RNN-T decoding (``decoding.search: greedy``): one hypothesis, its top symbol at every step.

Frame by frame, the joint network scores the frame against the prediction network's output for the labels so far;
a label moves the hypothesis on within the frame (and the prediction network runs for the new label), blank moves
it to the next frame; at most ``decoding.max_symbols`` labels are emitted per frame (the MLPerf reference decoder's
bound, 30), labels beyond it wait for the next frame. Over the synthetic posteriors of
:mod:`accelsim.workload.search` the top symbol is the reference label once it is due, else blank, so the decode
follows the reference: at frame t it evaluates the joint ``1 + labels(t)`` times, and the prediction network once
at the start and once per label. Each evaluation is one step of the trace (as an ALSD iteration of beam 1 is; tests
check both give the same trace when the bound does not bind), recorded in O(frames), without a search.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from accelsim.workload.search import DecodeTrace, EmissionModel, StepRecord, label_due_frames, reference_labels


def labels_per_frame(frames: int, emission: EmissionModel, max_symbols: int) -> tuple[int, ...]:
    """Labels the greedy decoder emits at each frame of the synthetic posteriors (see :func:`bounded`)."""
    due = np.bincount(np.asarray(label_due_frames(frames, emission), dtype=np.int64), minlength=frames)
    return bounded(due.tolist(), max_symbols)


def bounded(due: Sequence[int], max_symbols: int) -> tuple[int, ...]:
    """Labels emitted at each frame when ``due[t]`` labels are due at frame t: those, and any held back by the bound
    before, at most ``max_symbols`` (labels still held back after the last frame are never emitted)."""
    out, waiting = [], 0
    for count in due:
        waiting += count
        emitted = min(waiting, max_symbols)
        out.append(emitted)
        waiting -= emitted
    return tuple(out)


def run_greedy(frames: int, emission: EmissionModel, max_symbols: int) -> DecodeTrace:
    """The greedy decode of ``frames`` encoder frames, one step per joint evaluation (see the module docstring)."""
    per_frame = labels_per_frame(frames, emission, max_symbols)
    reference = reference_labels(frames, emission)
    steps: list[StepRecord] = []
    new_prefix = True  # the prediction network runs for the start symbol, then after each label
    for emitted in per_frame:
        for label in range(emitted + 1):
            steps.append(StepRecord(len(steps), 1, int(new_prefix), 0, emission.vocab, 0, 1))
            new_prefix = label < emitted
    return DecodeTrace(frames, 1, tuple(steps), reference, reference[:sum(per_frame)])
