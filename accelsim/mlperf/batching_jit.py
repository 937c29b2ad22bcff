"""The loop of continuous batching, compiled (numba): samples join free slots, every round advances each occupied
slot by one frame and costs what the machine's round of that shape costs, samples leave after their last frame.

Pure bookkeeping on numbers the engine measured (the cost of a round per batch size and joint evaluations,
:func:`accelsim.mlperf.rounds.round_cost`); a run of a million samples takes well under a second, which the
Server scenario needs (tens of seconds of traffic at tens of thousands of samples per second).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def run_rounds(arrivals, sample_of, frames, offsets, labels, max_batch, bucket_of, costs):  # pragma: no cover
    """Arrival j (of ``arrivals``, ascending) is sample ``sample_of[j]``, of ``frames[s]`` frames, emitting
    ``labels[offsets[s] + t]`` labels at its frame t. It joins at the first round that starts once it has arrived
    and a slot is free (at most ``max_batch`` occupied), in arrival order. A round of b occupied slots whose slots
    emit at most m labels at their frames costs ``costs[bucket_of[b], min(m, costs.shape[1] - 1)]`` seconds (its
    joint evaluations are m + 1). Rounds ahead are kept in rings as long as the longest sample.

    Returns (when each arrival's last round ends, rounds run per (bucket, evaluations - 1), slot-rounds, rounds).
    """
    n = arrivals.shape[0]
    ring = 2
    for s in range(frames.shape[0]):
        ring = max(ring, frames[s] + 2)
    most = np.zeros(ring, dtype=np.int64)  # per round ahead: the most labels a slot emits at its frame
    head = np.full(ring, -1, dtype=np.int64)  # per round ahead: the first arrival whose last round it ends
    after = np.full(n, -1, dtype=np.int64)  # the next arrival ending at the same round
    done = np.empty(n, dtype=np.float64)
    counts = np.zeros(costs.shape, dtype=np.int64)
    top = costs.shape[1] - 1
    now, rnd, joined, active, slot_rounds = 0.0, 0, 0, 0, 0
    while joined < n or active > 0:
        while joined < n and active < max_batch and arrivals[joined] <= now:
            s = sample_of[joined]
            for t in range(frames[s]):
                k = (rnd + t) % ring
                if labels[offsets[s] + t] > most[k]:
                    most[k] = labels[offsets[s] + t]
            end = (rnd + frames[s]) % ring
            after[joined] = head[end]
            head[end] = joined
            active += 1
            joined += 1
        if active == 0:
            now = arrivals[joined]
            continue
        bucket = bucket_of[active]
        m = min(most[rnd % ring], top)
        most[rnd % ring] = 0
        now += costs[bucket, m]
        counts[bucket, m] += 1
        slot_rounds += active
        rnd += 1
        j = head[rnd % ring]
        head[rnd % ring] = -1
        while j >= 0:
            done[j] = now
            active -= 1
            j = after[j]
    return done, counts, slot_rounds, rnd
