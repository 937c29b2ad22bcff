"""The benchmark's samples: each utterance of the workload's test set with the labels its greedy decode emits per
frame, and the order the load generator issues them in. No hardware."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.spec.workload import WorkloadSpec
from accelsim.workload.greedy import labels_per_frame
from accelsim.workload.search import EmissionModel
from accelsim.workload.testset import utterance_lengths


@dataclass(frozen=True, slots=True)
class Sample:
    """One utterance: its encoder frames and the labels the greedy decoder emits at each."""

    index: int  # in the test set (its emission seed is the base seed + index)
    frames: int
    labels: tuple[int, ...]


def data_set(spec: WorkloadSpec) -> tuple[Sample, ...]:
    """The test set's utterances (or the workload's one utterance), decoded greedily over the synthetic posteriors
    (utterance i with emission seed + i, as :func:`accelsim.pipeline.utterance_points` decodes it)."""
    dec = spec.decoding
    if dec.search != "greedy" or spec.runtime.decode_on != "device":
        raise AccelsimError(f"workload {spec.name!r}: accelsim mlperf runs the greedy search on the device; set "
                            "decoding.search 'greedy' and runtime.decode_on 'device'")
    lengths = utterance_lengths(spec.test_set) if spec.test_set is not None else [spec.utterance.frames]
    base = dec.emission
    pool = base.seed if base.noise_seed is None else base.noise_seed
    out = []
    for index, frames in enumerate(lengths):
        emission = EmissionModel(**{**dict(base), "seed": base.seed + index, "noise_seed": pool}, vocab=spec.model.vocab)
        out.append(Sample(index, frames, labels_per_frame(frames, emission, dec.max_symbols)))
    return tuple(out)


def issue_order(count: int, passes: int, seed: int) -> np.ndarray:
    """The indices of ``count`` samples as the load generator issues them: ``passes`` shuffled passes over the set
    (seeded)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(count) for _ in range(passes)])
