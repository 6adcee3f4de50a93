"""The layout keeps its promises: layers import only downward, Dagster stays in its layer, and no module or
function outgrows what a reader takes in at once (README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "condpt_dagster"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
DAGSTER_LAYER = {"assets", "resources", "defs", "cli"}
# What each Dagster-free layer may import from condpt (besides itself).
ALLOWED = {
    "core": set(),
    "labelers": {"core"},
    "stages": {"core", "cleaning", "labelers", "training", "evaluation"},
    "cleaning": {"core"},
    "training": {"core", "stages"},
    "evaluation": {"core"},
    "experiments": {"core", "labelers", "stages", "training", "evaluation"},
    "sample_corpus.py": {"core"},
}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downward_and_dagster_stays_in_its_layer(path):
    own = layer(path)
    if own in DAGSTER_LAYER or own == "__init__.py":
        return
    names = imported(path)
    assert not {n for n in names if n == "dagster" or n.startswith("dagster.")}, f"{path} imports dagster"
    used = {n.split(".")[1] for n in names if n.startswith("condpt_dagster.")} - {own.removesuffix(".py")}
    assert used <= ALLOWED[own], f"{path}: layer {own} imports {sorted(used - ALLOWED[own])}"


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
