"""Lazy re-exports for a package's ``__init__``: a name is imported from its home module the first
time it is used, so ``import convention_qa`` (and ``convention-qa --help``) pays for nothing it
does not use. Each name still lives in exactly one module; the package only points at it.

A package lists its public names once, as the imports of its ``if TYPE_CHECKING:`` block (what type
checkers and editors read), and ends with::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)

A name can be both an export and a submodule (``convention_qa.corpus.ingest`` is the function
and the module it lives in). Importing the submodule makes Python set the package's attribute to
the module, which would shadow the export from then on; the package's module type
(``_Package``) keeps the export instead.
"""

from __future__ import annotations

import ast
import importlib
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["lazy_exports"]


def _homes(init_file: str) -> dict[str, str]:
    """Each name the ``if TYPE_CHECKING:`` block of ``init_file`` imports -> the module it comes from."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    where: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            if not isinstance(statement, ast.ImportFrom) or not statement.module:
                continue
            for alias in statement.names:
                if alias.name == "*":  # every name the module's __all__ lists (a small module, read now)
                    where.update(dict.fromkeys(importlib.import_module(statement.module).__all__, statement.module))
                else:
                    where[alias.asname or alias.name] = statement.module
    return where


class _Package(types.ModuleType):
    """A package whose exports a submodule of the same name cannot shadow."""

    _lazy_homes: dict[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        homes = self.__dict__.get("_lazy_homes", {})
        home = homes.get(name)
        if (
            isinstance(value, types.ModuleType)
            and home is not None
            and value.__name__ == f"{self.__name__}.{name}"
            and home == value.__name__
            and hasattr(value, name)
        ):
            # The import system binds the submodule ``name`` on its package: bind the export instead.
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_exports(package: str, init_file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for the package whose ``__init__`` is ``init_file``."""
    where = _homes(init_file)
    module = sys.modules.get(package)
    if module is not None and type(module) is types.ModuleType:
        module.__dict__["_lazy_homes"] = where
        module.__class__ = _Package

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)
