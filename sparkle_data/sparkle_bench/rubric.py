"""The rater's rubric and the six-line answer: load, fill, parse, cap.

The rubric is a text file, or upstream's ``eval_sparkle_bench_gemini.py`` from which the
``BACKGROUND_REPLACEMENT`` string is taken with :mod:`ast` (the script is never executed).
It is filled as upstream does, ``rubric.format(edit_prompt=prompt)``, so literal braces in a
rubric must be doubled.

An answer is valid when it has the six ``Label: value`` lines (lines are stripped; a line
counts for the first label it starts with; a repeated label keeps its last value), each value
parsed as ``int(float(x))`` of the text after the last ``:`` and in 1..5. Dimensions 2-6 are
then clipped to the Instruction Compliance score (the cap rule).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Final

from sparkle_data.sparkle_bench.errors import RubricError

__all__ = [
    "DIMENSIONS",
    "DIMENSION_KEYS",
    "DIMENSION_LABELS",
    "N_DIMENSIONS",
    "RUBRIC_VARIABLE",
    "apply_cap",
    "fill_rubric",
    "load_rubric",
    "parse_answer",
]

DIMENSIONS: Final[tuple[tuple[str, str], ...]] = (
    ("Instruction Compliance", "instruction"),
    ("Overall Visual Quality", "visual"),
    ("Foreground Integrity", "fg_integrity"),
    ("Foreground Motion Consistency", "fg_motion"),
    ("Background Dynamics", "bg_dynamics"),
    ("Background Visual Quality", "bg_visual"),
)
"""``(answer label, short key)`` in score order; index 0 is the cap dimension."""
DIMENSION_LABELS: Final[tuple[str, ...]] = tuple(label for label, _ in DIMENSIONS)
DIMENSION_KEYS: Final[tuple[str, ...]] = tuple(key for _, key in DIMENSIONS)
N_DIMENSIONS: Final = len(DIMENSIONS)
RUBRIC_VARIABLE: Final = "BACKGROUND_REPLACEMENT"
_SLOT: Final = "{edit_prompt}"


def _from_python(source: str, path: str, variable: str) -> str:
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        raise RubricError.invalid(
            "rubric script", path, rule=f"is not valid Python ({e.msg}, line {e.lineno})",
            path=path,
        ) from None
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if any(isinstance(t, ast.Name) and t.id == variable for t in targets):
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
            raise RubricError.invalid(
                "rubric variable", variable, rule="is not assigned a plain string literal",
                path=path, hint="Copy the rubric into a text file and pass that instead.",
            )
    raise RubricError.invalid(
        "rubric script", path, rule=f"assigns no top-level {variable} string", path=path,
        hint="Pass upstream's eval_sparkle_bench_gemini.py or a text file.",
    )


def load_rubric(path: str | os.PathLike[str], *, variable: str = RUBRIC_VARIABLE) -> str:
    """Read the rubric from a text file or, for a ``.py`` file, its ``variable`` string."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RubricError.invalid(
            "rubric file", str(p), rule=f"cannot be read ({e})", path=str(p)
        ) from None
    if p.suffix == ".py":
        text = _from_python(text, str(p), variable)
    if _SLOT not in text:
        raise RubricError.invalid(
            "rubric", str(p), rule=f"has no {_SLOT} slot for the editing instruction", path=str(p),
        )
    try:
        text.format(edit_prompt="")
    except (KeyError, IndexError, ValueError) as e:
        raise RubricError.invalid(
            "rubric", str(p), rule=f"cannot be filled with str.format ({e!r})", path=str(p),
            hint="Double literal braces ({{ and }}), as upstream's .format requires.",
        ) from None
    return text


def fill_rubric(rubric: str, prompt: str) -> str:
    """``rubric.format(edit_prompt=prompt)``, exactly as upstream."""
    return rubric.format(edit_prompt=prompt)


def apply_cap(scores: tuple[int, ...]) -> tuple[int, ...]:
    """Clip dimensions 2-6 to dimension 1 (Instruction Compliance)."""
    cap = scores[0]
    return (cap, *(min(s, cap) for s in scores[1:]))


def parse_answer(text: str) -> tuple[int, ...] | None:
    """The six capped scores of a rater answer, or ``None`` when the answer is invalid."""
    found: dict[int, int] = {}
    for raw in text.strip().splitlines():
        line = raw.strip()
        for i, label in enumerate(DIMENSION_LABELS):
            if line.startswith(label + ":"):
                try:
                    value = int(float(line.split(":")[-1].strip()))
                except (ValueError, OverflowError):
                    return None
                if not 1 <= value <= 5:
                    return None
                found[i] = value
                break
    if len(found) != N_DIMENSIONS:
        return None
    return apply_cap(tuple(found[i] for i in range(N_DIMENSIONS)))
