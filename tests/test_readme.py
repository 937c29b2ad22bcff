"""Every command of the README runs, as written, on a fresh copy of the shipped inputs.

The `pip install` halves are what CI itself does before running the tests, and `python -m pytest`
would recurse; everything after `accelsim` is run exactly. `calibrate` and `mlperf --calibrate` get a smaller
evaluation budget appended (`--max-evals 3 --samples 0`, `--max-evals 1 --samples 0`), `mlperf --all` smaller batches
(`--max-batch 64`): the command is the same, only shorter.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _console_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append(line[2:].strip())
    return commands


def _accelsim_part(command: str) -> list[str] | None:
    for part in command.split("&&"):
        words = shlex.split(part)
        if words and words[0] == "accelsim":
            return words[1:]
    return None


COMMANDS = [c for c in _console_commands() if _accelsim_part(c) is not None]
OTHERS = [c for c in _console_commands() if _accelsim_part(c) is None and "pytest" not in c]


def test_readme_opens_with_the_two_commands():
    commands = _console_commands()
    assert commands[0].startswith("pip install -e . && accelsim ")
    assert commands[1] == 'pip install -e ".[test]" && python -m pytest'
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[test]"' in ci and "python -m pytest" in ci


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with the shipped inputs, so that commands writing outputs leave the repo alone."""
    work = tmp_path_factory.mktemp("readme")
    for folder in ("workloads", "hwconfigs", "tests/benchmarks", "examples"):
        shutil.copytree(REPO / folder, work / folder)
    (work / "reports" / "baselines").mkdir(parents=True)
    for recipe in (REPO / "reports").glob("*.yaml"):
        shutil.copy(recipe, work / "reports")
    shutil.copy(REPO / "reports" / "baselines" / "paper.csv", work / "reports" / "baselines")
    (work / "accelsim" / "reference").mkdir(parents=True)
    shutil.copy(REPO / "accelsim" / "reference" / "paper_targets.yaml", work / "accelsim" / "reference")
    return work


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command, workdir):
    args = _accelsim_part(command)
    if args[0] == "calibrate" or args[:1] == ["mlperf"] and "--calibrate" in args:
        args += ["--max-evals", "3" if args[0] == "calibrate" else "1", "--samples", "0"]
    if args[:2] == ["mlperf", "--all"]:
        args += ["--max-batch", "64"]
    # The installed console script, as a user runs it (`python -m` would put the work folder, which
    # holds an accelsim/reference/ copy, first on sys.path).
    script = Path(sys.executable).with_name("accelsim")
    launcher = [str(script)] if script.exists() else [shutil.which("accelsim") or "accelsim"]
    proc = subprocess.run([*launcher, *args], cwd=workdir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    if args[0] == "reproduce":
        assert (workdir / "reports" / "paper" / "fig2a.png").exists()
        assert "qualitative statements" in proc.stdout
    if args[0] == "regress":
        assert "passed" in proc.stdout
    if args[0] == "serve":
        _assert_batches_form(args, proc.stdout)


def _assert_batches_form(args: list[str], stdout: str) -> None:
    """The serving example shows what its paragraph says: batches form, and an utterance need not wait the whole
    --max-wait for its batch (it used to: every utterance waited 100 ms in a batch of 1)."""
    if "--max-batch" not in args or int(args[args.index("--max-batch") + 1]) == 1:
        return
    encoder = re.search(r"^\s*encoder\s+([\d.]+)", stdout, re.M)
    decode = re.search(r"^\s*decode\s+([\d.]+)", stdout, re.M)
    queueing = re.search(r"queueing mean ([\d.]+) ms", stdout)
    assert encoder and decode and queueing, stdout
    assert float(encoder[1]) > 1.0 and float(decode[1]) > 1.0, stdout
    max_wait_ms = float(args[args.index("--max-wait") + 1].split()[0])
    assert float(queueing[1]) < max_wait_ms, stdout


#: What writes into a committed folder of reports/ when run without --out, and the command that made its files.
DEFAULT_OUTPUTS = {"reproduce": lambda args: "reports/paper", "seed": lambda args: f"reports/seed{args[1]}"}


def test_no_readme_example_overwrites_committed_files():
    """A README example writing into a committed folder (reports/paper, reports/seedNNN) must be the very command that
    made its files; any other writes elsewhere (`accelsim seed 003 --chunks 8 16` used to rewrite reports/seed003/
    with fewer rows)."""
    for command in COMMANDS:
        args = _accelsim_part(command)
        if args[0] not in DEFAULT_OUTPUTS:
            continue
        out = args[args.index("--out") + 1] if "--out" in args else DEFAULT_OUTPUTS[args[0]](args)
        committed = (REPO / out).is_dir() and any(p.is_file() for p in (REPO / out).iterdir())
        if committed:
            assert args == [args[0]] + ([args[1]] if args[0] == "seed" else []), command


def test_readme_stands_alone():
    """A clone has nothing outside the repository: the README names no file beside it (it pointed at
    ../shared/DESIGN.md), and the design it points at is docs/DESIGN.md."""
    assert "../" not in re.sub(r"\$schema=\.\./reports/reference/", "", README)
    assert "docs/DESIGN.md" in README


def test_every_readme_command_is_run_here():
    """Besides the accelsim commands and the two start commands, the README shows only the benchmark."""
    assert OTHERS == ["python tests/benchmarks/bench_speed.py --quick"]


def test_readme_benchmark_command_runs(workdir):
    words = shlex.split(OTHERS[0])
    proc = subprocess.run([sys.executable, *words[1:]], cwd=workdir, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    for figure in ("bare SimPy loop", "accelsim reproduce", "test set of 200 utterances", "speed-up"):
        assert figure in proc.stdout


def test_readme_python_example_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)
    assert code
    for snippet in code:
        proc = subprocess.run([sys.executable, "-c", snippet], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr


def test_readme_deep_fuzz_command_names_a_registered_profile():
    """The long fuzzing command of the README: its files exist and its profile has at least 10,000 examples."""
    from hypothesis import settings

    (command,) = [c for c in _console_commands() if "--hypothesis-profile=deep" in c]
    for word in shlex.split(command):
        if word.startswith("tests/"):
            assert (REPO / word).is_file(), word
    assert settings.get_profile("deep").max_examples >= 10_000
