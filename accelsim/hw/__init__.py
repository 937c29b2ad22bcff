"""Cost models: pure functions from (job, hardware spec) to cost records. The families register here."""

from accelsim.hw import coprocessor  # noqa: F401  (registers the systolic family)
from accelsim.hw.cost import CostTable, JobCost, op_cost

__all__ = ["CostTable", "JobCost", "op_cost"]
