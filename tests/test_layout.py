"""The package's layout holds: each layer imports only the layers below it, each name is imported
from the module that defines it, and no module grows past 350 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "convention_qa"
# What each subpackage may import from the package (besides the shared kernel: config, contract,
# errors, text, _lazy). Higher layers may use lower ones, never the reverse.
KERNEL = {"config", "contract", "errors", "text", "_lazy"}
ALLOWED = {
    "corpus": {"corpus"},
    "conversations": {"conversations"},
    "answering": {"answering", "corpus"},
    "chat": {"answering", "conversations"},
    "factory": {"answering", "conversations", "corpus", "chat"},
    "evaluation": {"evaluation", "answering", "conversations", "corpus", "chat", "factory"},
    "web": {"web", "answering", "conversations", "corpus", "chat", "factory", "evaluation"},
    "cli": {"cli", "answering", "conversations", "corpus", "chat", "factory", "evaluation", "web"},
}


def _modules() -> list[tuple[str, Path, ast.Module]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        found.append((name, path, ast.parse(path.read_text(encoding="utf-8"))))
    return found


def _imports(tree: ast.Module) -> list[ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("convention_qa")]


def test_layers_import_only_what_is_below_them() -> None:
    wrong = []
    for name, _, tree in _modules():
        parts = name.split(".")
        layer = parts[1] if len(parts) > 2 or parts[1] in ALLOWED else None
        if layer not in ALLOWED:
            continue
        for node in _imports(tree):
            target = (node.module or "").split(".")
            used = target[1] if len(target) > 1 else None
            if used is not None and used not in KERNEL and used not in ALLOWED[layer]:
                wrong.append(f"{name} imports {node.module}")
    assert not wrong, "\n".join(wrong)


def test_every_name_is_imported_from_its_home() -> None:
    defined: dict[str, set[str]] = {}
    packages = {name.removesuffix(".__init__") for name, _, _ in _modules() if name.endswith(".__init__")}
    for name, _, tree in _modules():
        names = set()
        for node in tree.body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
        defined[name.removesuffix(".__init__")] = names
    wrong = []
    for name, _, tree in _modules():
        for node in _imports(tree):
            module = node.module or ""
            if module not in defined or module in packages:
                continue  # a package's public surface (its lazy re-exports, its submodules)
            wrong += [f"{name}: {a.name} from {module}" for a in node.names if a.name not in {*defined[module], "*"}]
    assert not wrong, "imported from a module that does not define it:\n" + "\n".join(wrong)


def test_no_module_is_over_350_lines() -> None:
    long = {
        str(path.relative_to(SRC)): n for _, path, _ in _modules() if (n := len(path.read_text().splitlines())) > 350
    }
    assert not long, long


@pytest.mark.parametrize("package", ["convention_qa", "convention_qa.cli"])
def test_importing_the_package_loads_no_heavy_library(package: str) -> None:
    heavy = ("langchain_core", "sqlalchemy", "gradio", "chromadb", "torch")
    code = f"import sys, {package}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"import {package} loads {loaded}"


def test_the_public_names_load_lazily_from_their_homes() -> None:
    import convention_qa

    for name in convention_qa.__all__:
        value = getattr(convention_qa, name)
        assert value is not None and name in dir(convention_qa)
    with pytest.raises(AttributeError):
        convention_qa.NoSuchName  # noqa: B018


def test_a_submodule_of_the_same_name_does_not_shadow_an_export() -> None:
    """``convention_qa.corpus.ingest`` is the function, even after the module ``corpus/ingest.py``
    (where it lives) is imported: Python binds a loaded submodule on its package, over the export.
    Every package, every export, in a fresh interpreter that imports every submodule first."""
    code = """
import importlib, pkgutil, types, convention_qa
subpackages = [m.name for m in pkgutil.iter_modules(convention_qa.__path__) if m.ispkg]
packages = ["convention_qa"] + [f"convention_qa.{name}" for name in subpackages]
for package in packages:
    module = importlib.import_module(package)
    for sub in pkgutil.iter_modules(module.__path__):
        if not sub.name.startswith("__") and sub.name != "migrations":  # __main__ runs the CLI
            importlib.import_module(f"{package}.{sub.name}")
shadowed = []
for package in packages:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            shadowed.append(f"{package}.{name}")
from convention_qa.corpus import ingest
assert callable(ingest) and ingest.__module__ == "convention_qa.corpus.ingest", ingest
print(shadowed)
"""
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert shown == "[]", f"exports shadowed by their submodules: {shown}"
