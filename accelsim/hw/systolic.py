"""Cycles of a matmul on systolic PE arrays, by dataflow: the analytical model of SCALE-Sim.

Samajdar et al., "A Systematic Methodology for Characterizing Scalability of DNN Accelerators using
SCALE-Sim" (ISPASS 2020), Sec. III: a dataflow maps two dimensions of the matmul onto the array's rows and
columns (spatial, Sr x Sc) and streams the third through it (temporal, T). A matrix larger than the array
is cut into folds of R x C; one fold takes ``2R + C + T - 2`` cycles: the operands' skewed wavefront fills
the array (R + C - 2), T cycles of streaming, and R more to drain the stationary results or partial sums.

For an (m x k) @ (k x n) matmul, with k counted in steps of the PE's SIMD lanes (each PE of a RaPiD corelet
reduces ``simd`` products per cycle):

=====================  ==========  ==========  ==========
dataflow               rows (Sr)   cols (Sc)   streamed T
=====================  ==========  ==========  ==========
output_stationary      m           n           k
weight_stationary      k           n           m
input_stationary       k           m           n
=====================  ==========  ==========  ==========

``overlap``: whether successive folds pipeline (the next fold's operands enter while the previous one
drains), so that fill and drain are paid once per call instead of once per fold. The folds of one call are
spread over the independent arrays (corelets) of a core.
"""

from __future__ import annotations

import math

DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")


def mapping(dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(rows, cols, streamed) dimensions of the matmul under ``dataflow`` (see the table above)."""
    if dataflow == "output_stationary":
        return m, n, k
    if dataflow == "weight_stationary":
        return k, n, m
    if dataflow == "input_stationary":
        return k, m, n
    raise ValueError(f"unknown dataflow {dataflow!r}; expected one of {DATAFLOWS}")


def folds(rows: int, cols: int, spatial_rows: int, spatial_cols: int) -> int:
    """Folds of an Sr x Sc spatial extent on an R x C array: partial folds cost a whole one."""
    return math.ceil(spatial_rows / rows) * math.ceil(spatial_cols / cols)


def fold_cycles(rows: int, cols: int, streamed: int) -> int:
    """One fold: fill (R + C - 2), stream T, drain R (SCALE-Sim's 2R + C + T - 2)."""
    return 2 * rows + cols + streamed - 2


def matmul_cycles(dataflow: str, rows: int, cols: int, m: int, k: int, n: int, arrays: int = 1,
                  overlap: bool = False) -> int:
    """Cycles of an (m x k) @ (k x n) matmul on ``arrays`` independent R x C arrays (k already in SIMD steps).

    Without overlap every fold pays ``2R + C + T - 2``; with it the folds stream back to back (T each) and
    the fill and drain, ``2R + C - 2``, are paid once."""
    sr, sc, t = mapping(dataflow, m, k, n)
    per_array = math.ceil(folds(rows, cols, sr, sc) / arrays)
    if overlap:
        return per_array * t + fold_cycles(rows, cols, 0)
    return per_array * fold_cycles(rows, cols, t)
