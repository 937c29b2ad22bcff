"""Shared fixtures: the repository root, the shipped inputs (as paths and as loaded specs), and a CLI runner.

Nothing here depends on the current working directory: every path is derived from this file's location.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import accelsim

REPO = Path(__file__).resolve().parents[1]

# Property-based tests (tests/test_fuzz_specs.py): a small profile for every run, and `deep` for a long
# search on demand: python -m pytest tests/test_fuzz_specs.py --hypothesis-profile=deep
_FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=60, **_FUZZ)  # x 4 tests: about 250 examples, a few seconds
settings.register_profile("deep", max_examples=10_000, **_FUZZ)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the directory holding pyproject.toml)."""
    return REPO


@pytest.fixture(scope="session")
def workload_path(repo: Path) -> Path:
    return repo / "workloads" / "rnnt_lm_fusion.yaml"


@pytest.fixture(scope="session")
def hw_path(repo: Path) -> Path:
    return repo / "hwconfigs" / "rapid_7nm.yaml"


@pytest.fixture(scope="session")
def workload_spec(workload_path: Path):
    """The shipped workload, validated (specs are frozen, so sharing one across tests is safe)."""
    return accelsim.load_workload(workload_path)


@pytest.fixture(scope="session")
def hw_spec(hw_path: Path):
    """The shipped hardware config, validated."""
    return accelsim.load_hardware(hw_path)


@pytest.fixture(scope="session")
def run_cli(repo: Path):
    """``run_cli("size", "--json")`` runs ``python -m accelsim.cli size --json`` in the repo root.

    Returns the CompletedProcess (text mode, stdout and stderr captured); never raises on a non-zero exit.
    """

    def run(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "accelsim.cli", *map(str, args)],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
