"""The op DAG of a batch: one op does the work of every utterance in it, so its weights are fetched once.

- Encoders of several utterances: every op of the encoder with its work (matmul rows, element-wise work,
  transfer bytes, quantizer calls) times the batch, over the longest utterance's frames (shorter ones are
  padded: their padded steps cost as much as real ones, as in a padded batch on real hardware).
- One decode iteration of several streams: the iteration lowered for the sum of the streams' work (active
  hypotheses, cache misses, candidates...), so each network's matmul takes every stream's rows at once and
  the host fuses, ranks and merges every stream's candidates in one call per step. A batch of one is the
  stream's own iteration, the same segment ``accelsim run`` simulates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from accelsim.graph.lower import Segment, lower_iteration
from accelsim.memo import memoize
from accelsim.workload.model import Model
from accelsim.workload.search import StepRecord

#: The fields of a step that an iteration's graph depends on, in the order lower_iteration takes them.
WORK_FIELDS = ("active", "miss_prediction", "miss_lm", "candidates", "merged", "kept")


@memoize("batched encoders", 256)
def batch_encoder(segment: Segment, size: int) -> Segment:
    """``segment`` (an encoder) doing the work of ``size`` utterances of its length in each op."""
    if size == 1:
        return segment
    ops = tuple(replace(op, m=op.m * size, elements=op.elements * size, bytes=op.bytes * size, calls=op.calls * size,
                        epilogue=op.epilogue * size) for op in segment.ops)
    made_by = ("batched", segment.key, size)
    return Segment(ops, segment.exits, made_by)


def step_work(step: StepRecord) -> tuple[int, ...]:
    return tuple(getattr(step, name) for name in WORK_FIELDS)


def batch_iteration(model: Model, steps: Sequence[StepRecord], beam: int) -> Segment:
    """One decode iteration doing the work of every stream's step in ``steps``."""
    work = tuple(sum(values) for values in zip(*(step_work(s) for s in steps)))
    return lower_iteration(model, work, beam)
