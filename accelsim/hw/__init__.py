from accelsim.hw.cost import OpCost, op_cost

__all__ = ["OpCost", "op_cost"]
