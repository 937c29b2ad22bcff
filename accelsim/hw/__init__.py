"""Cost models: pure functions from (job, hardware spec) to cost records. The families register here."""

from accelsim.hw import coprocessor, cpu, gpu  # noqa: F401  (register the systolic, cpu and gpu families)
from accelsim.hw.cost import CostTable, JobCost, op_cost

__all__ = ["CostTable", "JobCost", "op_cost"]
