"""Foreground grounding records (Qwen3-VL style) computed from the rendered figure.

Labels name the figure and its parts; each ``bbox_2d`` is the exact pixel box of that part
mapped to Qwen3-VL's ``[0, 1000]`` ``[x1, y1, x2, y2]`` so that the card's ``normalize_bbox``
maps it back onto the part's first and last pixel rows and columns. Round 2 repeats the
labels on frames ``0, 8, 16, ...`` (2 FPS of a 16 fps clip); a few entries have
``bbox_2d: []`` as on the real data (the VLM failed to localize that label on that frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from sparkle_data.layout import BBOX_SCALE, FPS, GROUNDING_FPS
from sparkle_data.testing.synth.render import PartMask, PartName, render_parts
from sparkle_data.testing.synth.scene import Figure, SceneSpec

__all__ = [
    "EMPTY_BOX_SHARE",
    "Grounding",
    "figure_labels",
    "grounding_frame_indices",
    "make_grounding",
    "to_qwen_box",
]

EMPTY_BOX_SHARE: Final = 0.05
"""Share of round-2 entries whose ``bbox_2d`` is ``[]``."""

Box = list[int]
Objects = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Grounding:
    labels: tuple[str, ...]
    round1_objects: Objects
    frame_objects: list[Objects]
    """One list per 2-FPS frame (see :func:`grounding_frame_indices`); empty when not asked."""

    def __repr__(self) -> str:
        return f"Grounding(labels={self.labels}, frames={len(self.frame_objects)})"


def figure_labels(fig: Figure) -> tuple[tuple[str, tuple[PartName, ...]], ...]:
    """``(label, parts)`` pairs: the whole figure first, then its parts."""
    whole = f"person in {fig.coat_name} striped coat"
    if fig.hat_name is not None:
        whole += f" and {fig.hat_name} hat"
    labels: list[tuple[str, tuple[PartName, ...]]] = [
        (whole, ("body", "bag", "head", "hat")),
        (f"{fig.coat_name} striped coat", ("body",)),
        ("head", ("head",)),
    ]
    if fig.hat_name is not None:
        labels.append((f"{fig.hat_name} hat", ("hat",)))
    if fig.bag_name is not None:
        labels.append((f"{fig.bag_name} bag", ("bag",)))
    return tuple(labels)


def _to_qwen(pixel: int, size: int) -> int:
    """The smallest ``[0, 1000]`` value that the card's float arithmetic,
    ``int(v / 1000.0 * size)``, maps back to ``pixel`` (or past it when 1000 units cannot
    resolve it). The exact ceiling ``ceil(pixel * 1000 / size)`` can land one float ulp short
    (580 / 1000.0 * 50 == 28.999...), so step up until the card's formula agrees."""
    v = min(BBOX_SCALE, -(-pixel * BBOX_SCALE // size))
    while v < BBOX_SCALE and int(v / float(BBOX_SCALE) * size) < pixel:
        v += 1
    return v


def to_qwen_box(box: tuple[int, int, int, int], width: int, height: int) -> Box:
    """Inclusive pixel box -> ``[0, 1000]`` ints, rounded up so that the card's
    ``normalize_bbox`` gives the pixel back."""
    x1, y1, x2, y2 = box
    return [
        _to_qwen(x1, width),
        _to_qwen(y1, height),
        _to_qwen(x2, width),
        _to_qwen(y2, height),
    ]


def grounding_frame_indices(n_frames: int) -> range:
    """Video frames sampled at 2 FPS: ``0, 8, 16, ...`` (``ceil(n_frames / 8)`` of them)."""
    return range(0, n_frames, FPS // GROUNDING_FPS)


def _objects(spec: SceneSpec, t: int) -> Objects:
    parts: dict[PartName, PartMask] = {p.name: p for p in render_parts(spec, (t,))}
    out: Objects = []
    for label, names in figure_labels(spec.figure):
        boxes = [b for n in names if n in parts and (b := parts[n].bbox()) is not None]
        if not boxes:
            out.append({"bbox_2d": [], "label": label})
            continue
        union = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        out.append({"bbox_2d": to_qwen_box(union, spec.width, spec.height), "label": label})
    return out


def make_grounding(
    spec: SceneSpec,
    rng: np.random.Generator,
    *,
    round2: bool,
    force_empty: bool = False,
) -> Grounding:
    """Round-1 objects on frame 0 and, with ``round2``, per-frame objects at 2 FPS.

    ``force_empty`` blanks one round-2 entry (so every tree has at least one ``[]`` box).
    """
    labels = tuple(label for label, _ in figure_labels(spec.figure))
    frames: list[Objects] = []
    if round2:
        for t in grounding_frame_indices(spec.n_frames):
            objs = _objects(spec, t)
            for obj in objs:
                if rng.random() < EMPTY_BOX_SHARE:
                    obj["bbox_2d"] = []
            frames.append(objs)
        if force_empty:
            frames[min(1, len(frames) - 1)][-1]["bbox_2d"] = []
    return Grounding(labels=labels, round1_objects=_objects(spec, 0), frame_objects=frames)
