"""Lazy re-exports for package ``__init__`` files (PEP 562).

A package that re-exports names from its submodules without importing them up front writes::

    from typing import TYPE_CHECKING

    from sparkle_data._lazy import lazy_exports

    if TYPE_CHECKING:                       # what mypy and editors see: the real types
        from sparkle_data.io.fs import resolve

    __all__ = ["resolve"]
    lazy_exports(__name__, {"resolve": "fs"})

The table maps each name to the module that defines it, relative to the package (``"fs"``,
``"synth.tree"``). The first access imports that module and caches the value in the package's
namespace, so later accesses are plain attribute lookups. The call installs the package's
``__getattr__`` and ``__dir__`` itself, so mypy never sees a catch-all ``__getattr__``: it
types the package's names from the ``TYPE_CHECKING`` imports. ``tests/test_structure.py`` reads
these tables (they must be literal dicts) to put the lazy edges in the import graph and to
check that each table, the ``TYPE_CHECKING`` imports and ``__all__`` name the same things.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> None:
    """Make ``package`` re-export ``homes`` lazily: install its ``__getattr__`` and ``__dir__``.

    ``homes`` maps an exported name to its module, relative to ``package``. Call it from the
    package's own ``__init__`` (the package is in ``sys.modules`` while its body runs).
    """
    table = dict(homes)

    def module_getattr(name: str) -> Any:
        home = table.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def module_dir() -> list[str]:
        return sorted({*vars(sys.modules[package]), *table})

    namespace = vars(sys.modules[package])
    namespace["__getattr__"] = module_getattr
    namespace["__dir__"] = module_dir
