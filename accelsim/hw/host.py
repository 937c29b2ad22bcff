"""Host CPU cost of the beam search bookkeeping: each part a physical step of a compiled search loop.

- score fusion (Eq. 1): a few flops per candidate;
- top-k: a partial selection of the beam among the candidates (a heap of size k: n log2 k compare-and-sift steps);
- merging: hashing each survivor's label prefix and merging equal ones;
- state copies: each survivor's recurrent state (h and c of the prediction network and the LMs) copied into
  the next iteration's hypothesis slots, bytes over the host's memory bandwidth.
"""

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


def copy_seconds(host: HostSpec, n_bytes: float) -> float:
    """Copy the surviving hypotheses' recurrent states: bytes over the host's memory bandwidth. The copy is done
    in the merge step's call into the search loop (the merged hypotheses are the ones whose states move), so it
    pays no call overhead of its own."""
    return n_bytes / host.memory_bandwidth
