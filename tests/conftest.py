"""Shared fixtures: the repository root, the shipped inputs (as paths and as loaded specs), and a CLI runner.

Nothing here depends on the current working directory: every path is derived from this file's location.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess as _sp
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
    """``run_cli("size", "--json")`` runs ``accelsim size --json`` in the repo root and returns a CompletedProcess
    (text mode, stdout and stderr captured); never raises on a non-zero exit.

    It calls the CLI's entry point in this process (a new interpreter costs about 1.5 s of imports per call, 120 calls
    in the suite): an uncaught exception, which a subprocess would print as a traceback, fails the test instead.
    ``subprocess=True`` starts a real ``python -m accelsim.cli`` where a test needs one (exit codes of the
    interpreter, a fresh process's state).
    """
    from accelsim.cli import main

    def run(*args: object, timeout: float = 120, subprocess: bool = False) -> _sp.CompletedProcess[str]:
        argv = [str(a) for a in args]
        if subprocess:
            return _sp.run([sys.executable, "-m", "accelsim.cli", *argv], cwd=repo, capture_output=True, text=True,
                           timeout=timeout)
        out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
        try:
            os.chdir(repo)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as exc:  # argparse's usage errors
                    code = exc.code if isinstance(exc.code, int) else 2
        finally:
            os.chdir(cwd)
        return _sp.CompletedProcess(argv, code, out.getvalue(), err.getvalue())

    return run
