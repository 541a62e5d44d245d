"""The error and warning tree lives in one place (``sparkle_data/errors.py``) and its drawing
cannot go stale: every class is drawn, every drawn class exists with the drawn parents."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import warnings
from pathlib import Path

import pytest

import sparkle_data
from sparkle_data import errors

BUILTINS = (ValueError, LookupError, ConnectionError, RuntimeError, OSError, ImportError)
DOCS_TREE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
_DRAWN = re.compile(r"^\s*(?:[│ ]*[├└]── )?([A-Z][A-Za-z]+)(?:\(([A-Za-z]+)\))?(?:\s|$)")


def public_classes() -> dict[str, type]:
    return {
        name: obj
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and obj.__module__ == errors.__name__ and not name.startswith("_")
    }


def drawn_tree(text: str) -> dict[str, tuple[str | None, str | None]]:
    """``{class: (drawn parent, drawn built-in)}`` from the box drawings in ``text``."""
    drawn: dict[str, tuple[str | None, str | None]] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = _DRAWN.match(line)
        if not m:
            continue
        is_root = "── " not in line and m.group(2) in {"Exception", "UserWarning"}
        if "── " not in line and not is_root:
            continue
        name, builtin = m.group(1), m.group(2)
        depth = line.index(name)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        drawn[name] = (stack[-1][1] if stack else None, builtin)
        stack.append((depth, name))
    return drawn


def test_every_error_subclasses_sparkle_error_and_a_builtin() -> None:
    found = [c for c in public_classes().values() if issubclass(c, BaseException)]
    exceptions = [c for c in found if not issubclass(c, Warning)]
    assert len(exceptions) > 20
    for cls in exceptions:
        assert issubclass(cls, errors.SparkleError), cls
        if cls is not errors.SparkleError:
            assert issubclass(cls, BUILTINS), f"{cls.__name__} subclasses no built-in error"


def test_every_warning_subclasses_sparkle_warning() -> None:
    found = [c for c in public_classes().values() if issubclass(c, Warning)]
    assert errors.SparkleWarning in found
    for cls in found:
        assert issubclass(cls, errors.SparkleWarning), cls
    assert issubclass(errors.SparkleWarning, UserWarning)


def test_every_class_is_public_and_in_all() -> None:
    assert set(public_classes()) <= set(errors.__all__)


@pytest.mark.parametrize("where", ["docstring", "docs/architecture.md"])
def test_drawing_names_every_class_with_its_parents(where: str) -> None:
    if where == "docstring":
        text = errors.__doc__ or ""
    else:
        if not DOCS_TREE.exists():
            pytest.skip("docs/architecture.md not written yet")
        text = DOCS_TREE.read_text(encoding="utf-8")
    drawn = drawn_tree(text)
    classes = public_classes()
    assert set(classes) <= set(drawn), f"not drawn in {where}: {set(classes) - set(drawn)}"
    for name, (parent, builtin) in drawn.items():
        if name not in classes:
            continue  # a built-in drawn as a root's base (Exception, UserWarning)
        cls = classes[name]
        if parent is not None:
            assert cls.__bases__[0] is classes[parent], f"{name} is drawn under {parent}"
        if builtin is not None:
            assert builtin in {b.__name__ for b in cls.__bases__}, f"{name}({builtin})"


def _all_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(sparkle_data.__path__, "sparkle_data."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def test_no_error_or_warning_is_defined_outside_errors_py() -> None:
    """Every SparkleError and every warning class of the package is defined in errors.py."""
    root = Path(sparkle_data.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "errors.py" and path.parent == root:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {getattr(b, "id", None) or getattr(b, "attr", "") for b in node.bases}
            if bases & {"SparkleError", "Warning", "UserWarning", "SparkleWarning"} or (
                bases & set(public_classes())
            ):
                offenders.append(f"{path.relative_to(root.parent)}: {node.name}")
    assert offenders == []


def test_package_reexports_are_the_same_classes() -> None:
    """Old import paths keep working and name the very class of errors.py."""
    seen = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in _all_modules():
            try:
                module = importlib.import_module(name)
            except ImportError:  # an optional extra that is not installed
                continue
            for attr in getattr(module, "__all__", ()):
                value = getattr(module, attr, None)
                if (
                    inspect.isclass(value)
                    and issubclass(value, (errors.SparkleError, Warning))
                    and value.__module__.startswith("sparkle_data")
                ):
                    assert value.__module__ == errors.__name__, f"{name}.{attr}"
                    assert getattr(errors, attr) is value, f"{name}.{attr}"
                    seen += 1
    assert seen > 20
