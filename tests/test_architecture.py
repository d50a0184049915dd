"""The shape of the code: one-way layers, no import cycles, one registry, no eval.

* The layers contract in pyproject.toml (import-linter): registry -> core -> calculus ->
  analysis -> backends | verify -> api -> web -> cli, lazy imports included.
* No cycle between any two modules, inside a layer too.
* Outside the registry, no module names an activation or a loss in its code: everything about
  an op is read from the registry.
* No call of eval, exec, compile, sympify or parse_expr anywhere in the package.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from symbackprop.registry import ACTIVATIONS, LOSSES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "symbackprop"


def test_layers_contract_is_kept():
    command = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("symbackprop")
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported != importer and graph.find_shortest_chain(importer=imported, imported=importer):
                cycles.append(f"{importer} <-> {imported}")
    assert not cycles, cycles


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module's code, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "registry" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_registry_names_activations_and_losses(path):
    names = (set(ACTIVATIONS) | set(LOSSES)) - {"identity"}
    found = [(line, text) for line, text in _code_strings(path) if text in names]
    assert not found, f"{path.name} names registry entries: {found}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_eval_exec_or_sympify(path):
    tree = ast.parse(path.read_text())
    banned = {"eval", "exec", "sympify", "parse_expr", "S"}  # sympy.S(...) sympifies; S.One is fine
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in banned | {"compile", "__import__"}, f"{path.name}:{node.lineno}: {func.id}(...)"
            elif isinstance(func, ast.Attribute):
                assert func.attr not in banned, f"{path.name}:{node.lineno}: .{func.attr}(...)"
