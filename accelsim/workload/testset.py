"""Test sets: the lengths of many utterances, listed or drawn from a seeded distribution."""

from __future__ import annotations

import numpy as np

from accelsim.spec.workload import TestSetSpec


def utterance_lengths(test_set: TestSetSpec) -> list[int]:
    """Frames of each utterance, in order (deterministic for a given spec)."""
    if test_set.lengths is not None:
        return list(test_set.lengths)
    rng = np.random.default_rng(test_set.seed)
    drawn = rng.normal(test_set.mean_frames, test_set.std_frames, size=test_set.count)
    high = test_set.max_frames if test_set.max_frames is not None else np.inf
    return [int(x) for x in np.clip(np.rint(drawn), test_set.min_frames, high)]
