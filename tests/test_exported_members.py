"""The public surface of ``sync`` is explicit: every module's ``__all__`` lists exactly the public
names it defines (plus, for packages and deliberate re-exports, names it imports), and every name
listed exists."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import sync


def _modules() -> list[ModuleType]:
    found = [sync]
    for info in pkgutil.walk_packages(sync.__path__, prefix="sync."):
        found.append(importlib.import_module(info.name))
    return found


def _defined_public_names(module: ModuleType) -> set[str]:
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def _imported_public_names(module: ModuleType) -> set[str]:
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names.update(alias.asname or alias.name for alias in node.names)
    return {n for n in names if not n.startswith("_") and not inspect.ismodule(getattr(module, n))}


MODULES = _modules()


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_all_lists_every_public_name_defined(module: ModuleType) -> None:
    exported = set(module.__all__)
    assert _defined_public_names(module) <= exported
    assert all(hasattr(module, name) for name in exported)


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_all_lists_nothing_but_defined_or_imported_names(module: ModuleType) -> None:
    known = _defined_public_names(module) | _imported_public_names(module)
    assert set(module.__all__) <= known


@pytest.mark.parametrize(
    "package", [m for m in MODULES if hasattr(m, "__path__")], ids=lambda m: m.__name__
)
def test_packages_export_exactly_what_they_import(package: ModuleType) -> None:
    assert set(package.__all__) == _imported_public_names(package) | _defined_public_names(package)


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_all_is_sorted_and_unique(module: ModuleType) -> None:
    assert len(set(module.__all__)) == len(module.__all__)
    assert list(module.__all__) == sorted(
        module.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n)
    )
