"""Streaming geometry: which frames each chunk computes and attends to, when its audio is complete, and which decode
iterations run on it. Pure arithmetic on the workload; no hardware here.

Assumptions (stated, not measured): a Conformer encoder computes a chunk's look-ahead frames with the chunk and
again with the next one (their outputs are only final then); a recurrent encoder carries its state and only waits
for the look-ahead. The ALSD search's T + U iterations are spread evenly over the frames: iteration i runs on the
chunk holding frame floor(i * T / N) of the N iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.spec.workload import StreamingSpec


@dataclass(frozen=True)
class Chunk:
    index: int
    first: int  # first encoder frame of the chunk
    frames: int  # frames the chunk contributes
    rows: int  # frames the encoder computes for it (with look-ahead frames for a Conformer)
    keys: int  # attention keys per query: left context + the chunk + its look-ahead
    ready_frames: int  # frames of audio that must have arrived before it can run (its end + look-ahead)

    @property
    def end(self) -> int:
        return self.first + self.frames


def plan_chunks(frames: int, streaming: StreamingSpec, recomputes_look_ahead: bool) -> list[Chunk]:
    """The chunks of an utterance of ``frames`` encoder frames."""
    out = []
    size = streaming.chunk_frames
    for index, first in enumerate(range(0, frames, size)):
        n = min(size, frames - first)
        ahead = min(streaming.look_ahead, frames - first - n)
        left = min(streaming.left_context, first)
        rows = n + ahead if recomputes_look_ahead else n
        out.append(Chunk(index, first, n, rows, left + n + ahead, first + n + ahead))
    return out


def chunk_of_iteration(iteration: int, iterations: int, frames: int, chunk_frames: int, chunks: int) -> int:
    """The chunk decode iteration ``iteration`` (0-based, of ``iterations``) runs on."""
    frame = iteration * frames // max(iterations, 1)
    return min(frame // chunk_frames, chunks - 1)
