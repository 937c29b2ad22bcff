"""Dispatchers: which chip of a fleet an utterance goes to, decided when it first needs a machine.

- ``round_robin``: the chips in turn;
- ``join_shortest_queue``: the chip with the fewest utterances in the system (sent to it and not done);
- ``least_loaded``: the chip with the least outstanding work, in seconds of that chip alone
  (:meth:`accelsim.serve.engine.Chip.outstanding_s`): in a mixed fleet a faster chip takes more;
- ``power_of_two_choices``: two distinct chips drawn at random (from the serving seed), the one with fewer
  utterances in the system.

Ties go to the lowest chip index, so a dispatch is a function of the traffic and the seed.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np

from accelsim.spec.serving import ServingSpec


class Chip(Protocol):
    """What a dispatcher sees of a chip (:class:`accelsim.serve.engine.Chip`)."""

    present: dict  # the utterances sent to it and not done

    def outstanding_s(self) -> float: ...


Dispatch = Callable[[Any], int]  # an utterance -> the index of its chip
#: The stream of the serving seed the random choices draw from (the arrivals draw from the seed itself).
CHOICE_STREAM = 1


def dispatcher_for(spec: ServingSpec, chips: Sequence[Chip]) -> Dispatch:
    """The dispatcher ``spec.dispatcher`` over ``chips``."""
    n = len(chips)
    if n == 1:
        return lambda u: 0
    if spec.dispatcher == "round_robin":
        turn = iter(range(10**18))
        return lambda u: next(turn) % n
    if spec.dispatcher == "join_shortest_queue":
        return lambda u: min(range(n), key=lambda i: len(chips[i].present))
    if spec.dispatcher == "least_loaded":
        return lambda u: min(range(n), key=lambda i: chips[i].outstanding_s())
    rng = np.random.default_rng([spec.seed, CHOICE_STREAM])

    def two_choices(u: Any) -> int:
        a, b = sorted(int(i) for i in rng.choice(n, size=2, replace=False))
        return a if len(chips[a].present) <= len(chips[b].present) else b

    return two_choices
