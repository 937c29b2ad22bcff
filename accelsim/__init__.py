"""accelsim: discrete-event performance simulation of quantized speech recognition on AI accelerators."""

from accelsim.api import SimResult, simulate
from accelsim.errors import AccelsimError, SpecError
from accelsim.spec.loader import load_hardware, load_workload

__all__ = ["AccelsimError", "SimResult", "SpecError", "load_hardware", "load_workload", "simulate"]
__version__ = "0.1.0"
