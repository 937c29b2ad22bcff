"""accelsim: discrete-event performance simulation of quantized speech recognition on AI accelerators."""

from accelsim.api import SimResult, explain, simulate, write_trace
from accelsim.errors import AccelsimError, SpecError
from accelsim.spec.loader import Variation, load_hardware, load_workload
from accelsim.sweep.run import run_sweep

__all__ = ["AccelsimError", "SimResult", "SpecError", "Variation", "explain", "load_hardware", "load_workload",
           "run_sweep", "simulate", "write_trace"]
try:  # the version pyproject.toml declares, as installed (one source of truth)
    from importlib.metadata import PackageNotFoundError, version as _installed_version

    __version__ = _installed_version("accelsim")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
