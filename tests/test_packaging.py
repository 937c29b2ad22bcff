"""Packaging (issue 20 item 6): the example workloads, machines, recipes and reference files travel with the
package, found by name as well as by path, and an installed copy runs away from the repository.

The wheel's layout is what pyproject.toml declares (its package list, the package-dir mapping of the top-level
folders to accelsim/shipped/, the package-data globs). Building a wheel needs setuptools from the network, so
these tests read that declaration and lay the package out as a wheel would, in a temporary folder.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import accelsim
from accelsim.errors import SpecError
from accelsim.files import find_input, shipped_folder, shipped_names

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _source_of(package: str) -> Path:
    mapped = SETUPTOOLS.get("package-dir", {}).get(package)
    return REPO / mapped if mapped else REPO.joinpath(*package.split("."))


def _wheel_files() -> dict[str, Path]:
    """Each file a wheel built from pyproject.toml holds (its path in the wheel -> its source): the packages'
    modules and the files their package-data globs match."""
    files = {}
    for package in SETUPTOOLS["packages"]:
        source, target = _source_of(package), package.replace(".", "/")
        patterns = ["*.py", *SETUPTOOLS.get("package-data", {}).get(package, [])]
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(relative, p) and relative.count("/") == p.count("/") for p in patterns):
                files[f"{target}/{relative}"] = path
    return files


def test_the_package_list_is_every_package_and_the_shipped_folders():
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "accelsim").rglob("__init__.py")}
    declared = set(SETUPTOOLS["packages"])
    shipped = set(SETUPTOOLS["package-dir"])  # the repository's folders the wheel carries as accelsim.shipped.*
    assert shipped and all(name.startswith("accelsim.shipped.") for name in shipped)
    assert declared - found == shipped
    assert found <= declared, f"add {sorted(found - declared)} to [tool.setuptools] packages in pyproject.toml"


def test_the_wheel_holds_every_shipped_input_and_only_one_copy_exists():
    files = _wheel_files()
    for folder in ("workloads", "hwconfigs", "reports"):
        for name in shipped_names(folder):
            assert f"accelsim/shipped/{folder}/{name}.yaml" in files, (folder, name)
    assert "accelsim/reference/paper_targets.yaml" in files
    assert "accelsim/shipped/reports/baselines/paper.csv" in files
    assert not (REPO / "accelsim" / "shipped").exists()  # the repository keeps one copy: its top-level folders
    assert not any(".png" in name or "/out/" in name for name in files)  # outputs are not package data


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package as a wheel lays it out, in a folder of its own (a stand-in for site-packages)."""
    site = tmp_path_factory.mktemp("site")
    for name, source in _wheel_files().items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, site / name)
    return site


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_an_installed_copy_runs_shipped_inputs_by_name_away_from_the_repository(installed, tmp_path):
    proc = _run_installed(installed, tmp_path, "run", "rnnt_lm_fusion", "rapid_7nm")
    assert proc.returncode == 0, proc.stderr
    assert "rnnt_lm_fusion on rapid_7nm" in proc.stdout and "RTF 0.0637" in proc.stdout
    proc = _run_installed(installed, tmp_path, "validate", "workloads/rnnt_lm_fusion.yaml", "hwconfigs/rapid_7nm.yaml",
                          "reports/paper.yaml")  # the README's paths, from a folder that has none of them
    assert proc.returncode == 0, proc.stderr
    proc = _run_installed(installed, tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("accelsim "), proc.stderr


def test_a_shipped_recipe_writes_into_the_current_folder_not_the_package(installed, tmp_path):
    proc = _run_installed(installed, tmp_path, "sweep", "link_whatif", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "out" / "link_whatif" / "results.csv").is_file()
    assert (tmp_path / "reports" / "out" / "link_whatif" / "results.parquet").is_file()
    assert not any(p.name == "out" for p in installed.rglob("*"))


def test_inputs_are_found_by_name_or_by_path(tmp_path, monkeypatch):
    by_path = accelsim.load_workload(REPO / "workloads" / "rnnt_lm_fusion.yaml")
    assert accelsim.load_workload("rnnt_lm_fusion") == by_path
    assert accelsim.load_hardware("rapid_7nm") == accelsim.load_hardware(REPO / "hwconfigs" / "rapid_7nm.yaml")
    assert find_input("paper", "reports") == shipped_folder("reports") / "paper.yaml"
    assert find_input("paper_targets", "reference").is_file()
    monkeypatch.chdir(tmp_path)
    assert find_input("hwconfigs/rapid_7nm.yaml", "hwconfigs") == shipped_folder("hwconfigs") / "rapid_7nm.yaml"
    (tmp_path / "hwconfigs").mkdir()
    (tmp_path / "hwconfigs" / "rapid_7nm.yaml").write_text("a user's own copy")
    assert find_input("hwconfigs/rapid_7nm.yaml", "hwconfigs") == Path("hwconfigs/rapid_7nm.yaml")  # a file wins
    with pytest.raises(SpecError) as info:
        accelsim.load_hardware("rapid_7")
    assert "nor a shipped machine of that name" in str(info.value) and "rapid_7nm" in str(info.value)


def test_python_dash_m_accelsim_is_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "accelsim", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage: accelsim" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "accelsim", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"accelsim {accelsim.__version__}"
    assert accelsim.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
