"""The encoder's totals from a few recurrent steps, once its schedule repeats itself step by step."""

from __future__ import annotations

from accelsim.graph.lower import EncoderWork
from accelsim.sim.segments import repeats_step_by_step, run_alone, segment_totals
from accelsim.sim.target import Target
from accelsim.sim.totals import Totals

#: Recurrent steps per layer of the shortest encoder measured for the steady state (see encoder_totals).
STEADY_STEPS = 6


def encoder_totals(encoder: EncoderWork, target: Target) -> Totals:
    """The encoder's totals, from a few recurrent steps once its schedule repeats itself step by step.

    Every recurrent step of a layer is the same work. The encoder is simulated with k and k+1 steps per
    layer and direction (its batched ops keep the sizes of all the frames). If, in the (k+1)-step run, every
    job (op and weight fetch, both directions) of each of the last steps but one is the same job of the
    step before shifted by one common period per layer, with nothing else of the layer still running, the
    machine's state repeats: each further step adds one period, and the T-step totals are the k+1-step
    totals plus T - k - 1 times the difference between the two runs (tests compare this with the full
    simulation). Otherwise k doubles; past the utterance's length the whole encoder is simulated.
    Memoized per machine and encoder (a test set meets each length many times).
    """
    return target.memo("encoder totals", 4096).get(encoder, lambda: _encoder_totals(encoder, target))


def _encoder_totals(encoder: EncoderWork, target: Target) -> Totals:
    frames = encoder.frames
    k = STEADY_STEPS
    while k + 1 < frames:
        short, longer = (run_alone(encoder.lower(n), target) for n in (k, k + 1))
        if repeats_step_by_step(longer, k + 1):
            a, b = segment_totals(short, target), segment_totals(longer, target)
            return Totals().plus(b).plus(b.minus(a), frames - k - 1)
        k *= 2
    return whole_encoder_totals(encoder, target)


def whole_encoder_totals(encoder: EncoderWork, target: Target) -> Totals:
    """The encoder simulated step by step to the end (the reference the steady state is checked against)."""
    return segment_totals(run_alone(encoder.lower(), target), target)
