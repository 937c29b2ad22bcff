"""The packages import strictly downward along the pipeline, and no module imports itself back.

    errors, files, memo -> spec -> workload, importer -> graph -> hw -> sim -> report -> pipeline -> serve -> sweep -> calibrate
    -> api -> measure -> cli

Every import counts, also the ones inside functions: a lazy import that goes upward is still a knot.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "accelsim"

#: Rank of each top-level part of the package: a module may import only parts of lower or equal rank.
RANKS = {
    "errors": 0, "files": 0, "memo": 0, "reference": 0,
    "spec": 1, "workload": 2, "importer": 2, "graph": 3, "hw": 4, "sim": 5, "report": 6,
    "pipeline": 7, "serve": 8, "sweep": 9, "mlperf": 9, "calibrate": 10, "api": 11,
    "measure": 12,  # probe and measure this machine: the reference runtime and its comparison with accelsim.simulate
    "__init__": 13, "cli": 14, "__main__": 15,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """accelsim modules ``path`` imports (``from accelsim.a import b`` counts as accelsim.a.b when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "accelsim")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == "accelsim":
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
    return {m for m in found if m in known}


def _rank(module: str) -> int:
    parts = module.split(".")
    return RANKS["__init__"] if len(parts) == 1 else RANKS[parts[1]]


def test_every_part_of_the_package_has_a_rank():
    tops = {name.split(".")[1] for name in _modules() if "." in name}
    assert tops <= set(RANKS), f"give {sorted(tops - set(RANKS))} a place in the pipeline's order"


def test_imports_go_only_downward():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        for target in _imports(path, set(modules)):
            if _rank(target) > _rank(name):
                upward.append(f"{name} imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        # A package's __init__ re-exporting its own modules is not a cycle of theirs.
        graph[name] = {t for t in _imports(path, set(modules)) if not name.startswith(t + ".") and t != name}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk itself works: an upward import written into a file is found."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from accelsim.api import simulate\n")
    assert "accelsim.api" in _imports(probe, {"accelsim.api"})


def test_execution_never_reaches_into_reports():
    """``sim/`` runs programs and hands back immutable totals; turning them into metrics is ``report/``'s job, so
    nothing in ``sim/`` imports from ``report/`` (nor from anything above it)."""
    modules = _modules()
    found = sorted(f"{name} imports {target}" for name, path in modules.items() if name.startswith("accelsim.sim")
                   for target in _imports(path, set(modules)) if _rank(target) > RANKS["sim"])
    assert not found, "\n".join(found)
