"""The curated public API: fails when it drifts, so changes are deliberate.

The rule (docs/architecture.md, "Public vocabulary"): one name per concept, one documented
import path per name. ``sparkle_data`` exports only the names a training script starts with
and the roots of the error and warning trees; everything else is documented under its package,
errors and warnings under ``sparkle_data.errors``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import sparkle_data
from sparkle_data import errors

EXPECTED = [
    "Catalog", "SparkleDataset", "SparkleError", "SparkleMapDataset", "SparkleWarning",
    "__version__", "build_catalog",
]  # fmt: skip

REPO = Path(__file__).resolve().parent.parent
DOC_FILES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
_PY_BLOCK = re.compile(r"^( *)```(?:python|py)\n(.*?)^\1```", re.S | re.M)


def test_public_api_is_curated() -> None:
    assert sorted(sparkle_data.__all__) == sorted(EXPECTED)
    assert sorted(sparkle_data.__all__) == sorted([*sparkle_data._HOME, "__version__"])
    for name in sparkle_data.__all__:
        assert getattr(sparkle_data, name) is not None


def test_errors_subclass_builtins() -> None:
    assert issubclass(errors.LayoutError, ValueError)
    assert issubclass(errors.CorruptVideoError, errors.CorruptArtifactError)
    assert issubclass(errors.RemoteError, ConnectionError)
    assert issubclass(errors.MissingArtifactError, LookupError)
    assert sparkle_data.SparkleError is errors.SparkleError
    assert sparkle_data.SparkleWarning is errors.SparkleWarning


def _doc_imports() -> dict[str, set[tuple[str, str]]]:
    """``{name: {(module, doc file)}}`` for every ``from sparkle_data... import`` in the docs."""
    homes: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in DOC_FILES:
        for m in _PY_BLOCK.finditer(path.read_text(encoding="utf-8")):
            code = "\n".join(line[len(m.group(1)) :] for line in m.group(2).splitlines())
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "sparkle_data"
                ):
                    for alias in node.names:
                        homes[alias.name].add((str(node.module), path.name))
    return homes


def test_docs_use_one_import_path_per_name() -> None:
    homes = _doc_imports()
    assert "build_catalog" in homes
    problems = []
    for name, where in sorted(homes.items()):
        modules = {module for module, _ in where}
        if len(modules) > 1:
            problems.append(f"{name} is imported from {sorted(modules)}: {sorted(where)}")
        for module in modules:
            value = getattr(importlib.import_module(module), name, None)
            if value is None:
                problems.append(f"{module}.{name} does not exist ({sorted(where)})")
            elif (
                inspect.isclass(value)
                and issubclass(value, (errors.SparkleError, errors.SparkleWarning))
                and module != "sparkle_data.errors"
            ):
                problems.append(f"{name}: import errors from sparkle_data.errors, not {module}")
    assert problems == []


#: Modules left out of the homonym check, and why.
HOMONYM_EXEMPT = (
    "sparkle_data.cli.",  # every command module exposes `register(subparsers)` by convention
    "sparkle_data.testing.synth.",  # writes the card's formats independently of the readers
)


def test_no_homonyms_in_public_names() -> None:
    """A public name means one thing: every ``__all__`` that lists it gives the same class or
    function (or an equal constant), e.g. no two ``select_ids`` with different signatures."""
    seen: dict[str, dict[object, str]] = defaultdict(dict)
    for info in pkgutil.walk_packages(sparkle_data.__path__, "sparkle_data."):
        if info.name.endswith("__main__") or info.name.startswith(HOMONYM_EXEMPT):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                seen[name][id(value)] = info.name
            elif name.isupper():
                seen[name][repr(value)] = info.name
    clashes = {n: sorted(homes.values()) for n, homes in seen.items() if len(homes) > 1}
    assert clashes == {}


def test_import_is_light() -> None:
    code = (
        "import sys, sparkle_data; "
        "print(sorted(m for m in ('torch', 'av', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
