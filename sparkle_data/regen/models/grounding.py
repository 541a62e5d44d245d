"""Parse Qwen3-VL grounding answers into the card's ``{"bbox_2d": [...], "label": ...}`` objects.

Qwen3-VL answers a grounding request with JSON, usually inside a Markdown fence::

    ```json
    [
      {"bbox_2d": [447, 27, 765, 998], "label": "woman in brown hat and coat"}
    ]
    ```

:func:`parse_grounding` accepts the fenced and the bare form (a list, one object, or an
object wrapping the list), integer or float coordinates in ``[0, 1000]`` (rounded, clipped
to the range, corners sorted), and skips nothing silently: text that holds no such JSON, or
an item without a 4-number ``bbox_2d`` or a non-empty ``label``, raises
:class:`GroundingParseError` carrying the raw text, so a stage counts the sample as failed
and the run report keeps what the model said.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from sparkle_data.errors import GroundingParseError
from sparkle_data.layout import BBOX_SCALE

__all__ = ["GroundingParseError", "ParsedObject", "parse_grounding", "to_record_objects"]

_FENCE: Final = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ParsedObject:
    """One grounded object: ``[x1, y1, x2, y2]`` in ``[0, 1000]`` and its label."""

    bbox_2d: tuple[int, int, int, int]
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"bbox_2d": list(self.bbox_2d), "label": self.label}


def _candidates(text: str) -> list[str]:
    fenced = [m.group(1).strip() for m in _FENCE.finditer(text)]
    out = [f for f in fenced if f]
    stripped = text.strip()
    out.append(stripped)
    # The outermost list, else (no list at all) the outermost object: never an object cut
    # out of a broken list, which would silently drop the rest of the answer.
    open_ch, close_ch = ("[", "]") if "[" in stripped else ("{", "}")
    i, j = stripped.find(open_ch), stripped.rfind(close_ch)
    if 0 <= i < j:
        out.append(stripped[i : j + 1])
    return out


def _coord(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        raise TypeError(v)
    return min(BBOX_SCALE, max(0, round(float(v))))


def _item(obj: Any, k: int, raw: str, sample_id: str | None) -> ParsedObject:
    if not isinstance(obj, dict):
        raise GroundingParseError(f"Invalid grounding item {k}: {obj!r} is not an object.", raw,
                                  sample_id=sample_id)
    box, label = obj.get("bbox_2d"), obj.get("label")
    if not isinstance(label, str) or not label.strip():
        raise GroundingParseError(
            f"Invalid grounding item {k} label {label!r}: must be a non-empty string.", raw,
            sample_id=sample_id)
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise GroundingParseError(
            f"Invalid grounding item {k} bbox_2d {box!r}: must be 4 numbers in [0, 1000].", raw,
            sample_id=sample_id)
    try:
        x1, y1, x2, y2 = (_coord(v) for v in box)
    except TypeError:
        raise GroundingParseError(
            f"Invalid grounding item {k} bbox_2d {box!r}: must be 4 numbers in [0, 1000].", raw,
            sample_id=sample_id) from None
    return ParsedObject((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), label.strip())


def parse_grounding(text: str, *, sample_id: str | None = None) -> list[ParsedObject]:
    """The objects of a Qwen3-VL grounding answer (see the module docstring); ``[]`` for an
    explicit empty list."""
    if not isinstance(text, str):
        raise GroundingParseError(f"Invalid grounding answer type {type(text).__name__}.",
                                  repr(text), sample_id=sample_id)
    data: Any = None
    found = False
    for cand in _candidates(text):
        try:
            data = json.loads(cand)
        except ValueError:
            continue
        found = True
        break
    if not found:
        raise GroundingParseError("Invalid grounding answer: no JSON list of objects found.",
                                  text, sample_id=sample_id)
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = [data] if "bbox_2d" in data else (lists[0] if len(lists) == 1 else None)
    if not isinstance(data, list):
        raise GroundingParseError("Invalid grounding answer: the JSON is not a list of objects.",
                                  text, sample_id=sample_id)
    return [_item(obj, k, text, sample_id) for k, obj in enumerate(data)]


def to_record_objects(objects: list[ParsedObject]) -> list[dict[str, Any]]:
    """``round1_objects`` / ``frame_objects`` items of the card's record schema."""
    return [o.to_dict() for o in objects]
