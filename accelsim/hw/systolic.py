"""Cycles of a matmul on systolic PE arrays, by dataflow: the analytical model of SCALE-Sim.

Samajdar et al., "A Systematic Methodology for Characterizing Scalability of DNN Accelerators using
SCALE-Sim" (ISPASS 2020), Sec. III, and SCALE-Sim v2's compute models: a dataflow maps two dimensions of the
matmul onto the array's rows and columns (spatial, Sr x Sc) and streams the third through it (temporal, T). A
matrix larger than the array is cut into folds of R x C. One fold, on its own:

- output stationary: ``R + C + T - 2`` cycles -- the operands' skewed wavefront fills the array (R + C - 2) while T
  values stream, and the results drain through the same skew (SCALE-Sim v2's OS demand matrices);
- weight or input stationary: ``2R + C + T - 2`` -- first R cycles to shift the stationary operand into the R
  rows, then T values stream through the fill (R + C - 2).

For an (m x k) @ (k x n) matmul, with k counted in steps of the PE's SIMD lanes (each PE of a RaPiD corelet
reduces ``simd`` products per cycle):

=====================  ==========  ==========  ==========
dataflow               rows (Sr)   cols (Sc)   streamed T
=====================  ==========  ==========  ==========
output_stationary      m           n           k
weight_stationary      k           n           m
input_stationary       k           m           n
=====================  ==========  ==========  ==========

``overlap``: successive folds pipeline, so the fill and drain (R + C - 2) are paid once per call. Output
stationary then streams the folds back to back (T each). Weight and input stationary double-buffer the stationary
operand: the first fold's R-cycle load is paid in full, and each later fold's load runs while the fold before it
streams, so a later fold takes max(T, R) -- at batch 1 (T = 1) a weight-stationary matvec is bound by loading its
weights, R cycles per fold, not by its MACs. The folds of one call are spread over the independent arrays
(corelets) of a core.
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


def load_cycles(dataflow: str, rows: int) -> int:
    """Cycles to shift a fold's stationary operand into the array: R for weights or inputs; outputs start at zero."""
    return 0 if dataflow == "output_stationary" else rows


def fold_cycles(dataflow: str, rows: int, cols: int, streamed: int) -> int:
    """One fold on its own: its stationary load, the fill and drain (R + C - 2) and T streamed values."""
    return load_cycles(dataflow, rows) + rows + cols + streamed - 2


def matmul_cycles(dataflow: str, rows: int, cols: int, m: int, k: int, n: int, arrays: int = 1,
                  overlap: bool = False) -> int:
    """Cycles of an (m x k) @ (k x n) matmul on ``arrays`` independent R x C arrays (k already in SIMD steps).

    Without overlap every fold pays :func:`fold_cycles`; with it (see the module docstring) the first fold's load,
    then one fold after the other at max(T, the next fold's load), then the last T and one fill and drain."""
    sr, sc, t = mapping(dataflow, m, k, n)
    per_array = math.ceil(folds(rows, cols, sr, sc) / arrays)
    if per_array == 0:  # an empty matmul streams nothing
        return 0
    if not overlap:
        return per_array * fold_cycles(dataflow, rows, cols, t)
    load = load_cycles(dataflow, rows)
    return load + (per_array - 1) * max(t, load) + t + rows + cols - 2
