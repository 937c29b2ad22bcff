"""Operator graphs: the IR and the lowering of a workload into it."""
