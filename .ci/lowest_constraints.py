"""Print pip constraints that pin every dependency of pyproject.toml (and its test extra) at its lower bound.

CI installs the project with them in a second environment and runs the golden and paper tests there, so a
declared lower bound is a version that was tried, not a guess. The bounds are read from pyproject.toml: one
source of truth. Usage: python .ci/lowest_constraints.py > constraints.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def lowest_pins(project: dict, extras: tuple[str, ...] = ("test",)) -> list[str]:
    """``name==X`` for every ``name>=X`` requirement; a requirement without a lower bound is an error."""
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(,.*)?", requirement)
        if match is None:
            raise SystemExit(f"{PYPROJECT}: {requirement!r} has no lower bound (name>=version)")
        pins[match[1].lower()] = match[2]
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


if __name__ == "__main__":
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    sys.stdout.write("\n".join(lowest_pins(project)) + "\n")
