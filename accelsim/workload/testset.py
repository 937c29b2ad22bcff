"""Test sets: the lengths of many utterances, listed or drawn from a seeded distribution."""

from __future__ import annotations

import math

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.spec.workload import TestSetSpec

#: Rounds of draws a lognormal test set may take to find its lengths inside [min_frames, max_frames].
_ROUNDS = 100


def utterance_lengths(test_set: TestSetSpec) -> list[int]:
    """Frames of each utterance, in order (deterministic for a given spec)."""
    if test_set.lengths is not None:
        return list(test_set.lengths)
    rng = np.random.default_rng(test_set.seed)
    high = test_set.max_frames if test_set.max_frames is not None else np.inf
    if test_set.distribution == "lognormal":
        return _lognormal(test_set, rng, high)
    drawn = rng.normal(test_set.mean_frames, test_set.std_frames, size=test_set.count)
    return [int(x) for x in np.clip(np.rint(drawn), test_set.min_frames, high)]


def _lognormal(test_set: TestSetSpec, rng: np.random.Generator, high: float) -> list[int]:
    """Lengths of a lognormal of the given mean and standard deviation; a draw outside [min_frames, max_frames] is
    drawn again (the set keeps only lengths inside, as a data set selected by length does)."""
    mean, std, count = test_set.mean_frames, test_set.std_frames, test_set.count
    assert mean is not None and count is not None  # the spec's checks
    sigma = math.sqrt(math.log1p((std / mean) ** 2))
    mu = math.log(mean) - sigma ** 2 / 2
    kept: list[int] = []
    for _ in range(_ROUNDS):
        drawn = np.rint(rng.lognormal(mu, sigma, size=count))
        kept += [int(x) for x in drawn[(drawn >= test_set.min_frames) & (drawn <= high)]]
        if len(kept) >= count:
            return kept[:count]
    raise AccelsimError(f"test_set: a lognormal of mean {mean:g} and standard deviation {std:g} frames puts too few "
                        f"lengths between min_frames {test_set.min_frames} and max_frames {test_set.max_frames}")
