"""The layout keeps its promises: layers import strictly downward, no module imports itself back through
others, Dagster stays in its layer, and no module or function outgrows what a reader takes in at once
(README, "Layout"; docs/design.md, "Layers")."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "condpt_dagster"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Bottom to top. A module imports its own layer and the layers of lower rank, never a layer of the same rank
# (those are independent of each other) and never upward. No exceptions.
LAYERS = [
    {"core"},
    {"conditioning", "labelers", "cleaning", "ingest", "audit", "sample_corpus"},
    {"training", "exports"},
    {"evaluation"},
    {"stages"},
    {"resources", "instance"},
    {"assets"},
    {"defs"},
    {"cli"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
DAGSTER_LAYERS = {"assets", "resources", "instance", "defs", "cli"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "__init__.py")


def layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module named by an import statement, at any depth (lazy imports inside functions count)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from package import module`
    return names


def internal_imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``path`` depends on (``from package import module`` names the module, not
    the package's ``__init__``)."""
    names = {name for name in imported(path) if name in known and name != module_name(path)}
    return {n for n in names if not any(other.startswith(n + ".") for other in names)}


def test_every_layer_has_a_rank():
    assert {layer(p) for p in modules()} <= set(RANK), "a new top-level package needs its place in LAYERS"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_strictly_downward(path):
    own = layer(path)
    names = imported(path)
    if own not in DAGSTER_LAYERS:
        assert not {n for n in names if n == "dagster" or n.startswith("dagster.")}, f"{path} imports dagster"
    used = {n.split(".")[1] for n in names if n.startswith("condpt_dagster.")} - {own}
    wrong = sorted(u for u in used if u in RANK and RANK[u] >= RANK[own])
    assert not wrong, f"{path}: layer {own} (rank {RANK[own]}) imports {wrong} (same rank or above)"


def test_no_import_cycles():
    paths = modules()
    known = {module_name(p) for p in paths} | {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    graph = {module_name(p): internal_imports(p, known) for p in paths}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_rank_rule_can_fail(tmp_path):
    """The check above would catch an upward import (a guard against a test that cannot fail)."""
    upward = tmp_path / "condpt_dagster" / "conditioning" / "bad.py"
    upward.parent.mkdir(parents=True)
    upward.write_text("from condpt_dagster.stages.checkpoint import prepare_launch\n", encoding="utf-8")
    used = {n.split(".")[1] for n in imported(upward) if n.startswith("condpt_dagster.")}
    assert any(RANK[u] >= RANK["conditioning"] for u in used)


def test_no_module_or_function_is_too_long():
    too_long = []
    for path in modules():
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE)}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - start + 1 > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(PACKAGE)}:{start} {node.name}: {node.end_lineno - start + 1}")
    assert not too_long, "over the limits:\n" + "\n".join(too_long)
