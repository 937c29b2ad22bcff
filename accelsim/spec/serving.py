"""Schema of a workload's optional ``serving:`` section: traffic on a fleet of machines and how it is batched.

The traffic is either a fixed number of always-active streams (``closed``: each stream's next utterance starts
when its previous one's audio ends) or utterances arriving as a Poisson process (``poisson``: each its own
stream). Utterance lengths (and decode traces) come from the workload's test set, in turn, or are its
``utterance`` when it has none. A non-streaming utterance is ready for the encoder when its audio ends. A
dispatcher sends each utterance to one of the fleet's ``chips``, which batches the work of its own utterances.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from accelsim.spec.base import PositiveSeconds, Seconds, Strict, Text

#: How an utterance's chip is chosen (accelsim.serve.dispatch).
DISPATCHERS = ("round_robin", "join_shortest_queue", "least_loaded", "power_of_two_choices")
#: Most chips a fleet may have.
MAX_CHIPS = 4096


def _fleet(value: object) -> object:
    """A number of chips (1 to MAX_CHIPS) or a non-empty list of hardware files, one per chip."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_CHIPS:
            raise ValueError(f"expected 1 to {MAX_CHIPS:,} chips, got {value}")
        return value
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_CHIPS:
            raise ValueError(f"expected a list of 1 to {MAX_CHIPS:,} hardware files, got {len(value)}")
        if not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"expected a list of hardware file names, got {value!r}")
        return value
    raise ValueError(f"expected a number of chips or a list of hardware files, got {value!r}")


class ServingSpec(Strict):
    """Many streams on one machine: the traffic, the window it is measured over, and the batching policy."""

    arrivals: Literal["closed", "poisson"] = Field(
        "closed", description="'closed': `streams` always-active streams, each starting its next utterance when the audio "
                              "of the previous one ends; 'poisson': utterances arrive at `rate` per second, each on a stream of its own.")
    streams: int = Field(1, gt=0, le=100_000, description="Concurrent always-active streams (arrivals 'closed'); at most 100,000.")
    rate: float | None = Field(None, gt=0, le=1_000_000, description="Utterances per second (arrivals 'poisson'); at most 1,000,000.")
    duration: PositiveSeconds | None = Field(
        None, description="Traffic window: utterances whose audio ends within it are served (and all of them run to "
                          "completion), e.g. '60 s'. Unset: long enough for `min_utterances` measured utterances at the "
                          "offered load (warm-up added).")
    min_utterances: int = Field(200, gt=0, le=1_000_000, description="Utterances an unset `duration` measures: 200 puts two "
                                                                     "utterances at or above the p99 latency; at most 1,000,000.")
    warmup: Seconds = Field("0 s", description="Utterances ready before this time are served but left out of the statistics.")
    max_batch: int = Field(1, gt=0, le=4096, description="Largest batch across streams; the encoders of that many utterances, or the "
                                                         "decode iterations of that many streams, run as one batched op (one "
                                                         "weight fetch for the batch); at most 4,096.")
    max_wait: Seconds = Field("0 s", description="Longest a ready utterance waits for its encoder batch to fill before a partial "
                                               "batch is started, e.g. '100 ms' (decode iterations batch whatever waits).")
    max_inflight: int = Field(2, gt=0, le=64, description="Batches of one kind (encoder, decode) in flight at once: 2 lets a "
                                                          "batch's weight fetches overlap the one before; at most 64.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the arrival times and stream offsets; 0 to 2,147,483,647.")
    chips: Annotated[int | list[Text], BeforeValidator(_fleet)] = Field(
        1, description="The fleet: that many machines of the command's hardware file, or a list of hardware files, one per "
                       "machine (a mixed fleet; a relative path is relative to the workload file). Each batches its own "
                       f"utterances; at most {MAX_CHIPS:,}.")
    dispatcher: Literal[DISPATCHERS] = Field(  # type: ignore[valid-type]
        "join_shortest_queue", description="Which chip an utterance goes to when its audio is ready: 'round_robin' (in "
                                           "turn), 'join_shortest_queue' (fewest utterances in the system), 'least_loaded' "
                                           "(least outstanding work, in seconds of that chip), 'power_of_two_choices' "
                                           "(the shorter queue of two chips drawn at random from the seed).")
    level: Literal["batch", "op"] = Field(
        "batch", description="'batch': each batch runs as a few phases whose durations the engine measured once per "
                             "machine and batch shape (fast; exact while batches do not overlap); 'op': every op and weight "
                             "fetch of every batch on the machine's resources (the reference).")

    @model_validator(mode="after")
    def _rate_for_poisson(self) -> "ServingSpec":
        if self.arrivals == "poisson" and self.rate is None:
            raise ValueError("arrivals 'poisson' needs rate (utterances per second)")
        if self.duration is not None and self.warmup >= self.duration:
            raise ValueError("warmup must be shorter than duration")
        return self

    @property
    def fleet_size(self) -> int:
        return self.chips if isinstance(self.chips, int) else len(self.chips)
