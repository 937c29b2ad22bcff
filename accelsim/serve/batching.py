"""The op DAG of a batch: one op does the work of every utterance in it, so its weights are fetched once.

- Encoders of several utterances: every op of the encoder with its work (matmul rows, element-wise work,
  transfer bytes, quantizer calls) times the batch, over the longest utterance's frames (shorter ones are
  padded: their padded steps cost as much as real ones, as in a padded batch on real hardware); the encoder
  knows its batch (:class:`accelsim.graph.lower.EncoderWork`), so it is measured like any other encoder.
- One decode iteration of several streams: the iteration lowered for the sum of the streams' work (active
  hypotheses, cache misses, candidates...), so each network's matmul takes every stream's rows at once and
  the host fuses, ranks and merges every stream's candidates in one call per step. A batch of one is the
  stream's own iteration, the same segment ``accelsim run`` simulates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from accelsim.graph.lower import EncoderWork, Segment, lower_iteration
from accelsim.workload.model import Model
from accelsim.workload.search import StepRecord

#: The fields of a step that an iteration's graph depends on, in the order lower_iteration takes them.
WORK_FIELDS = ("active", "miss_prediction", "miss_lm", "candidates", "merged", "kept")


def batch_encoder(encoder: EncoderWork, size: int) -> EncoderWork:
    """``encoder`` doing the work of ``size`` utterances of its length in each op (see
    :func:`accelsim.graph.lower.batched`)."""
    return replace(encoder, batch=size)


def step_work(step: StepRecord) -> tuple[int, ...]:
    return tuple(getattr(step, name) for name in WORK_FIELDS)


def batch_iteration(model: Model, work: Sequence[int], beam: int) -> Segment:
    """One decode iteration doing ``work``: the sum of the :func:`step_work` of every stream's step in the batch."""
    return lower_iteration(model, tuple(work), beam)


def summed(works: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The work of one decode iteration doing every one of ``works`` (:func:`step_work` of one stream's step each)."""
    return tuple(map(sum, zip(*works)))


def summed_work(steps: Sequence[StepRecord]) -> tuple[int, ...]:
    """The work of one decode iteration of every step in ``steps`` (one per stream of a batch)."""
    return summed([step_work(s) for s in steps])
