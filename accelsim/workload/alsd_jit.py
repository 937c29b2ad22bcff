"""The ALSD loop over the default synthetic posteriors, compiled (numba): the search of a test set's utterances.

:func:`accelsim.workload.search.run_alsd` decodes with this kernel whenever the posteriors are the default
synthetic ones. It performs, value for value, the floating-point operations of the literal loop in
``search.py`` (``joint_logp`` + score + fused LM scores, log-sum-exp merges, then a top-``beam`` cut), in
the same order on the same operands, so the trace is bit-identical (tests/test_search_golden.py compares
digests recorded before this kernel existed). What it does differently is bookkeeping only:

* Prefixes are numbered nodes of a prefix tree (0 is the empty prefix) holding their parent, last label,
  length, on-track flag and three CRC-32 registers, each derived from the parent's in O(1).
* The joint noise row of ``(t, y)`` is ``crc32(pack(t, *y), salt)``, i.e. ``crc32(pack(y), s_t)`` with
  ``s_t = crc32(pack(t), salt)``. CRC-32 is affine in its start register: with ``raw(c, Y)`` the register
  after bytes ``Y`` from register ``c`` (zlib inverts on entry and exit), ``raw(c, Y) = A_n(c) ^ raw(0, Y)``
  where ``A_n`` is the linear advance over ``n = len(Y)`` bytes. So each node keeps ``raw(0, pack(y))``
  and the frame's part is ``A_n`` applied to ``~s_t``, from a table of ``A_n`` on the 32 unit vectors.
* Equal candidate scores among the kept ones (ties are broken by prefix, rare with continuous noise) make
  the kernel stop and report it; the caller then decodes that utterance with the literal loop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

MASK = 0xFFFFFFFF
TIE = 1  # status: equal scores among the kept candidates; decode with the literal loop instead


def crc_table() -> np.ndarray:
    """The byte table of zlib's CRC-32 (reflected polynomial 0xEDB88320)."""
    table = np.empty(256, dtype=np.int64)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table[n] = c
    return table


def advance_columns(labels: int, table: np.ndarray) -> np.ndarray:
    """``out[u, i]``: the raw CRC register ``1 << i`` advanced over ``8 u`` zero bytes (``u`` labels), u <= labels.
    The kernel extends it when a prefix grows longer (:func:`_longer_columns`)."""
    out = np.empty((labels + 1, 32), dtype=np.int64)
    for i in range(32):
        out[0, i] = 1 << i
    _fill_columns(out, 1, table)
    return out


@njit(cache=True)
def _longer_columns(columns, table):
    """``columns`` with twice the rows."""
    out = np.empty((2 * columns.shape[0], 32), dtype=np.int64)
    out[: columns.shape[0]] = columns
    _fill_columns(out, columns.shape[0], table)
    return out


@njit(cache=True)
def _fill_columns(out, start, table):
    for u in range(start, out.shape[0]):
        for i in range(32):
            c = out[u - 1, i]
            for _ in range(8):
                c = table[c & 0xFF] ^ (c >> 8)
            out[u, i] = c


@njit(cache=True)
def _raw_label(c, label, table):
    """The raw register ``c`` advanced over the 8 little-endian bytes of ``label``."""
    for b in range(8):
        c = table[(c ^ (label >> (8 * b))) & 0xFF] ^ (c >> 8)
    return c


@njit(cache=True)
def _crc_label(crc, label, table):
    """``zlib.crc32(struct.pack("<q", label), crc)``."""
    return (~_raw_label(~crc & MASK, label, table)) & MASK


@njit(cache=True)
def _grow(a, size):
    out = np.empty((size,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def top_cells(flat, size, top_values, top_cells_):
    """The ``len(top_values)`` best finite values of ``flat[:size]``, best first, into ``top_values`` and their
    indices into ``top_cells_`` (an insertion into a sorted buffer); returns how many were kept, or -1 if two
    equal values would be among them (the literal loop then orders candidates by prefix).

    An equal pair among the kept values is always seen: when the second one arrives the first is still in
    the buffer (a value that leaves it is below the final cut, and so is its equal).
    """
    beam = top_values.shape[0]
    kept = 0
    tie = -np.inf
    for cell in range(size):
        x = flat[cell]
        if x == -np.inf or (kept == beam and x < top_values[kept - 1]):
            continue
        if kept == beam and x == top_values[kept - 1]:
            tie = max(tie, x)
            continue
        pos = kept if kept < beam else beam - 1
        while pos > 0 and top_values[pos - 1] < x:
            top_values[pos] = top_values[pos - 1]
            top_cells_[pos] = top_cells_[pos - 1]
            pos -= 1
        if pos > 0 and top_values[pos - 1] == x:
            tie = max(tie, x)
        top_values[pos] = x
        top_cells_[pos] = cell
        if kept < beam:
            kept += 1
    if tie > -np.inf and (kept < beam or tie >= top_values[kept - 1]):
        return -1
    return kept


@njit(cache=True)
def decode(frames, beam, vocab, u_max, early_stop, fusion, reference, due,  # noqa: C901 (one loop, as in search.py)
           logw, w, wsum, log_blank, on_conf, on_rest, off_conf, off_rest,
           salt_joint, salt_ext, salt_src, noise_rows, scaled, on_track_ext, rho, table, columns):
    """One utterance's ALSD; returns (status, steps, parent, label, pool nodes, pool scores, columns).

    ``steps[i]`` = (active, misses, merged, kept); the pool is the finals in order of finishing, or the
    last beam if none finished.
    """
    n_ref = reference.shape[0]
    width = vocab - 1
    frame_start = np.empty(frames, dtype=np.int64)  # ~crc32(pack(t), salt): the raw register of frame t
    for t in range(frames):
        frame_start[t] = ~_crc_label(salt_joint, t, table) & MASK

    cap = 1 + 8 * beam
    parent = np.empty(cap, dtype=np.int64)
    label = np.empty(cap, dtype=np.int64)
    length = np.empty(cap, dtype=np.int64)
    on_track = np.empty(cap, dtype=np.bool_)
    raw_y = np.empty(cap, dtype=np.int64)  # raw(0, pack(y))
    crc_ext = np.empty(cap, dtype=np.int64)
    crc_src = np.empty(cap, dtype=np.int64)
    fused = np.empty((cap if fusion else 1, width))
    where = np.full(cap, -1, dtype=np.int64)  # position of a node among this iteration's active ones
    parent[0], label[0], length[0], on_track[0] = -1, 0, 0, True
    raw_y[0], crc_ext[0], crc_src[0] = 0, salt_ext, salt_src
    first_child = np.full(cap, -1, dtype=np.int64)  # children of a node, as a list through next_sibling
    next_sibling = np.empty(cap, dtype=np.int64)
    count = 1

    iterations = frames + u_max
    steps = np.zeros((iterations, 4), dtype=np.int64)
    beam_nodes = np.zeros(1, dtype=np.int64)
    beam_scores = np.zeros(1)
    created_from, created_to = 0, 1
    final_nodes = np.empty(beam * 4, dtype=np.int64)
    final_scores = np.empty(beam * 4)
    finals = 0
    best_final = -np.inf
    done = 0
    nodes = np.empty(beam, dtype=np.int64)
    scores = np.empty(beam)
    table_s = np.empty((beam, vocab))
    blank_cells = np.empty(beam, dtype=np.int64)
    label_cells = np.empty(beam, dtype=np.int64)
    pair = np.empty(beam)
    top_values = np.empty(beam)
    top_cells_ = np.empty(beam, dtype=np.int64)

    for i in range(iterations):
        n = 0
        for j in range(beam_nodes.shape[0]):
            if length[beam_nodes[j]] > i - frames:
                nodes[n] = beam_nodes[j]
                scores[n] = beam_scores[j]
                n += 1
        if n == 0:
            break
        misses = created_to - created_from
        if fusion:
            for node in range(created_from, created_to):  # mu log P_ext - lam log P_src + rho, rows of `scaled`
                e = crc_ext[node] % noise_rows
                s = noise_rows + crc_src[node] % noise_rows
                u = length[node]
                if on_track[node] and u < on_track_ext.shape[0]:
                    for c in range(width):
                        fused[node, c] = on_track_ext[u, c] - scaled[s, c]
                else:
                    for c in range(width):
                        fused[node, c] = scaled[e, c] - scaled[s, c]
                for c in range(width):
                    fused[node, c] += rho

        # joint_logp(t, y) + score (+ fused label scores) for every active hypothesis.
        for r in range(n):
            node = nodes[r]
            u = length[node]
            v = frame_start[i - u]
            x = raw_y[node]
            for b in range(32):
                if (v >> b) & 1:
                    x ^= columns[u, b]
            row = ((~x) & MASK) % logw.shape[0]
            target = 0
            if on_track[node]:
                if u < n_ref and i - u >= due[u]:
                    target = reference[u]
                offset = on_rest - (log_blank[row] if target == 0 else math.log(wsum[row] - w[row, target]))
                conf = on_conf
            else:
                offset = off_rest - log_blank[row]
                conf = off_conf
            for c in range(vocab):
                table_s[r, c] = logw[row, c] + offset
            if target != 0:
                table_s[r, target] = conf
            else:
                table_s[r, 0] = conf
            score = scores[r]
            for c in range(vocab):
                table_s[r, c] += score
            if fusion:
                for c in range(width):
                    table_s[r, c + 1] += fused[node, c]

        # Merge the blank extension of y with label y[-1] of its parent y[:-1].
        for r in range(n):
            where[nodes[r]] = r
        merged = 0
        for r in range(n):
            p = parent[nodes[r]]
            if p >= 0 and where[p] >= 0:
                blank_cells[merged] = r * vocab
                label_cells[merged] = where[p] * vocab + label[nodes[r]]
                merged += 1
        for r in range(n):
            where[nodes[r]] = -1
        flat = table_s[:n].ravel()
        for m in range(merged):
            pair[m] = np.logaddexp(flat[blank_cells[m]], flat[label_cells[m]])
        for m in range(merged):
            flat[blank_cells[m]] = pair[m]
            flat[label_cells[m]] = -np.inf

        if i + 1 >= frames:  # blank extensions that reach t == T are final
            for r in range(n):
                if length[nodes[r]] == i + 1 - frames:
                    if finals == final_nodes.shape[0]:
                        final_nodes = _grow(final_nodes, 2 * finals)
                        final_scores = _grow(final_scores, 2 * finals)
                    final_nodes[finals] = nodes[r]
                    final_scores[finals] = flat[r * vocab]
                    best_final = max(best_final, flat[r * vocab])
                    finals += 1

        # The next beam. Equal scores among the kept ones are ordered by prefix in the literal loop: report them.
        kept = top_cells(flat, n * vocab, top_values, top_cells_)
        if kept < 0:
            return TIE, steps[:0], parent[:0], label[:0], final_nodes[:0], final_scores[:0], columns
        if count + kept > parent.shape[0]:
            size_new = 2 * (count + kept)
            parent, label, length = _grow(parent, size_new), _grow(label, size_new), _grow(length, size_new)
            on_track, raw_y = _grow(on_track, size_new), _grow(raw_y, size_new)
            crc_ext, crc_src = _grow(crc_ext, size_new), _grow(crc_src, size_new)
            next_sibling, first_child = _grow(next_sibling, size_new), _grow(first_child, size_new)
            first_child[count:] = -1
            where = np.full(size_new, -1, dtype=np.int64)
            if fusion:
                fused = _grow(fused, size_new)
        new_nodes = np.empty(kept, dtype=np.int64)
        new_scores = np.empty(kept)
        created_from = count
        for j in range(kept):
            cell = top_cells_[j]
            r, k = cell // vocab, cell % vocab
            node = nodes[r]
            if k != 0:
                child = first_child[node]
                while child >= 0 and label[child] != k:
                    child = next_sibling[child]
                if child >= 0:
                    node = child
                else:
                    next_sibling[count] = first_child[node]
                    first_child[node] = count
                    u = length[node]
                    if u + 1 >= columns.shape[0]:
                        columns = _longer_columns(columns, table)
                    parent[count], label[count], length[count] = node, k, u + 1
                    on_track[count] = on_track[node] and u < n_ref and reference[u] == k
                    raw_y[count] = _raw_label(raw_y[node], k, table)
                    crc_ext[count] = _crc_label(crc_ext[node], k, table)
                    crc_src[count] = _crc_label(crc_src[node], k, table)
                    node = count
                    count += 1
            new_nodes[j] = node
            new_scores[j] = top_values[j]
        created_to = count
        beam_nodes, beam_scores = new_nodes, new_scores
        steps[i, 0], steps[i, 1], steps[i, 2], steps[i, 3] = n, misses, merged, kept
        done = i + 1
        if early_stop and finals:
            stop = True
            for j in range(kept):
                if i + 1 - length[beam_nodes[j]] < frames and beam_scores[j] > best_final:
                    stop = False
                    break
            if stop:
                break

    if finals:
        return 0, steps[:done], parent[:count], label[:count], final_nodes[:finals], final_scores[:finals], columns
    return 0, steps[:done], parent[:count], label[:count], beam_nodes, beam_scores, columns
