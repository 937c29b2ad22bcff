"""Arrivals: when each utterance's audio starts and ends, on which stream, and which test-set utterance it is.

Deterministic for a given spec: Poisson arrival times and closed streams' offsets are drawn from the serving
seed. A non-streaming utterance is ready for the encoder when its audio ends (``ready_s``); a streaming one is
ready chunk by chunk from ``start_s`` on (the serving engine times its chunks, :mod:`accelsim.serve.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from accelsim.spec.serving import ServingSpec


@dataclass(frozen=True, slots=True)
class Arrival:
    index: int  # in order of readiness
    stream: int
    source: int  # which of the distinct utterances (test-set index) it is
    start_s: float  # audio begins
    audio_s: float

    @property
    def ready_s(self) -> float:
        """When the whole utterance is ready for a non-streaming encoder: the end of its audio."""
        return self.start_s + self.audio_s


def ready_times(arrival: Arrival) -> tuple[float, ...]:
    """When a non-streaming utterance's audio is ready for the encoder: the whole of it at the end of its audio
    (a streaming utterance's chunks are timed by the serving engine, ``Utterance.chunk_ready_s``)."""
    return (arrival.ready_s,)


def arrivals(spec: ServingSpec, audio_s: Sequence[float]) -> list[Arrival]:
    """Every utterance whose audio ends within ``spec.duration``, in order of readiness (ties by stream).

    ``audio_s`` are the lengths of the distinct utterances, taken in turn."""
    rng = np.random.default_rng(spec.seed)
    n = len(audio_s)
    found: list[tuple[float, int, int, float, float]] = []
    if spec.arrivals == "poisson":
        assert spec.rate is not None
        t, k = 0.0, 0
        while True:
            t += float(rng.exponential(1.0 / spec.rate))
            length = audio_s[k % n]
            if t + length >= spec.duration:
                if t >= spec.duration:
                    break
                k += 1
                continue
            found.append((t + length, k, k % n, t, float(length)))
            k += 1
    else:
        offsets = rng.uniform(0.0, 1.0, size=spec.streams)
        mean = float(np.mean(audio_s))
        for stream in range(spec.streams):
            t = (stream + offsets[stream]) / spec.streams * mean  # streams staggered over one utterance's length
            k = 0
            while True:
                source = (stream + k * spec.streams) % n
                length = audio_s[source]
                if t + length >= spec.duration:
                    break
                found.append((t + length, stream, source, float(t), float(length)))
                t += length
                k += 1
    found.sort(key=lambda f: (f[0], f[1]))
    return [Arrival(i, stream, source, start, length) for i, (_, stream, source, start, length) in enumerate(found)]
