"""No function body is written twice in the package.

A text-based duplicate finder pairs any six lines of the same shape, so it also pairs
declarations (dataclass field lists, ``Literal`` vocabularies, argparse groups) that only look
alike. This test asks the narrower question that matters for upkeep: is the same *logic*
written out twice? Each function's body is compared after its docstring is dropped, its own
names (parameters and locals) are renamed by order of first use and its string constants are
blanked; names it reads from elsewhere (the functions it calls, attributes) are kept. Two
functions of three or more statements that compare equal are one piece of logic in two places:
move it to the lowest layer both can import (see ``docs/architecture.md``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "sparkle_data"
MIN_STATEMENTS = 3

Function = ast.FunctionDef | ast.AsyncFunctionDef


class _Canonical(ast.NodeTransformer):
    """Renames a function's own names to ``v0, v1, ...`` and blanks its strings."""

    def __init__(self, own: set[str]) -> None:
        self.own = own
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.own:
            return ast.copy_location(ast.Name(id=self._rename(node.id), ctx=node.ctx), node)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.arg(arg=self._rename(node.arg))

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant(value="") if isinstance(node.value, str) else node


def canonical_body(fn: Function) -> tuple[str, int]:
    """``(canonical dump of the body, statement count)`` of ``fn`` (see the module doc)."""
    body = list(fn.body)
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:]  # the docstring
    own = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            own.add(node.id)
        elif isinstance(node, ast.arg):
            own.add(node.arg)
    canon = _Canonical(own)
    module = ast.Module(
        body=[canon.visit(ast.parse(ast.unparse(s)).body[0]) for s in body], type_ignores=[]
    )
    count = sum(isinstance(n, ast.stmt) for s in body for n in ast.walk(s))
    return ast.dump(module, annotate_fields=False), count


def repeated_functions(paths: list[Path], root: Path) -> list[list[str]]:
    """Groups of two or more functions with the same canonical body of enough statements."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                key, count = canonical_body(node)
                if count >= MIN_STATEMENTS:
                    groups[key].append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return [places for places in groups.values() if len(places) > 1]


def test_the_check_sees_a_renamed_copy_and_tells_different_logic_apart(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "def is_missing(value):\n"
        '    """Doc."""\n'
        "    import pandas as pd\n"
        "    try:\n"
        "        return bool(pd.isna(value))\n"
        "    except (TypeError, ValueError):\n"
        "        return False\n"
    )
    (tmp_path / "b.py").write_text(
        "def _isna(v):\n"
        "    import pandas as pd\n"
        "    try:\n"
        "        return bool(pd.isna(v))\n"
        "    except (TypeError, ValueError):\n"
        "        return False\n"
        "\n"
        "def other(v):\n"
        "    import pandas as pd\n"
        "    try:\n"
        "        return bool(pd.notna(v))\n"
        "    except (TypeError, ValueError):\n"
        "        return False\n"
    )
    found = repeated_functions(sorted(tmp_path.glob("*.py")), tmp_path)
    assert found == [["a.py:1 is_missing", "b.py:1 _isna"]]


def test_no_function_body_is_written_twice() -> None:
    found = repeated_functions(sorted(ROOT.rglob("*.py")), ROOT)
    assert not found, "the same logic is written out more than once:\n" + "\n".join(
        "  " + " == ".join(places) for places in found
    )
