"""Validated inputs: pydantic models of the workload and hardware YAML files, and their loaders."""

from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.loader import load_hardware, load_workload
from accelsim.spec.workload import WorkloadSpec

__all__ = ["HardwareSpec", "WorkloadSpec", "load_hardware", "load_workload"]
