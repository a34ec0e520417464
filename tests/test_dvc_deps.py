"""dvc.yaml's deps cannot go stale: every project file a stage's command imports is under one
of that stage's deps, and every code dep is needed by some import. Outputs are otherwise
called up to date after the code that made them changed."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

COMMAND = re.compile(r"python -m (pipeline\.stages\.\w+)")


def module_file(module: str) -> Path | None:
    """The project file of `pipeline...` module `module`, or None if it is not one."""
    path = ROOT / Path(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of the nodes under `if TYPE_CHECKING:`, which never run."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                  "typing.TYPE_CHECKING"):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def imported_modules(path: Path) -> set[str]:
    """Every `pipeline...` module a file imports, at the top or inside functions (not under
    `if TYPE_CHECKING:`): `from a.b import c` counts `a.b` and, when `c` is a module, `a.b.c`."""
    found = set()
    tree = ast.parse(path.read_text())
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "pipeline"}


def executes_code(path: Path) -> bool:
    """A package's __init__.py that holds only a docstring cannot change what a stage does."""
    body = ast.parse(path.read_text()).body
    return not (path.name == "__init__.py" and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body))


def imported_files(module: str) -> set[Path]:
    """The project files that running `python -m module` executes: the module, what it
    imports, transitively, and the packages they live in."""
    files, pending = set(), [module]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]))
            if path is not None and path not in files:
                files.add(path)
                pending.extend(imported_modules(path))
    return {path for path in files if executes_code(path)}


def stage_commands() -> dict[str, tuple[str, list[str]]]:
    """Each stage's entry-point module and its deps, from dvc.yaml (foreach stages once)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    commands = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        commands[name] = (COMMAND.search(body["cmd"]).group(1), body.get("deps", []))
    return commands


def uncovered(files: set[Path], deps: list[str]) -> list[str]:
    """The files under no dep (a dep is a file or a folder)."""
    roots = [ROOT / dep for dep in deps]
    return sorted(str(path.relative_to(ROOT)) for path in files
                  if not any(path == root or root in path.parents for root in roots))


STAGES = stage_commands()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_imported_project_file_is_a_dep(stage):
    module, deps = STAGES[stage]
    assert uncovered(imported_files(module), deps) == []


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_code_dep_is_needed_and_removing_one_is_caught(stage):
    module, deps = STAGES[stage]
    files = imported_files(module)
    code_deps = [dep for dep in deps if dep.startswith("pipeline")]
    assert code_deps, f"{stage} lists no code"
    for dep in code_deps:
        assert uncovered(files, [d for d in deps if d != dep]), (
            f"{stage}: {dep} covers no imported file (a stale dep)")


def test_the_import_walk_sees_imports_inside_functions_but_not_type_checking_ones(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from pipeline.train import training\n"
                      "def f():\n    from pipeline.fixed import cost\n")
    assert imported_modules(source) == {"pipeline.fixed", "pipeline.fixed.cost"}
