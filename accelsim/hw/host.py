"""Host CPU cost of the beam search bookkeeping."""

from __future__ import annotations

import math

from accelsim.spec.hardware import HostSpec


def fuse_seconds(host: HostSpec, candidates: int) -> float:
    """Eq. 1 for every candidate: RNN-T log-prob plus weighted LM log-probs plus insertion reward."""
    return host.op_overhead + candidates * host.fuse_per_element


def topk_seconds(host: HostSpec, candidates: int, k: int) -> float:
    """Partial sort of n candidates for the best k: n log2(k) comparisons (a heap of size k)."""
    return host.op_overhead + candidates * math.log2(max(k, 2)) * host.sort_per_element


def merge_seconds(host: HostSpec, hypotheses: int) -> float:
    """Hash each surviving candidate's label prefix and merge equal ones."""
    return host.op_overhead + hypotheses * host.merge_per_element
