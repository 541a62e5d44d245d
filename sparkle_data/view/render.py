"""Pure image helpers shared by the viewer, the report and the grid (numpy + Pillow).

Frames are ``uint8 (H, W, 3)`` RGB arrays; masks are ``bool (H, W)``; boxes are pixel
``(x1, y1, x2, y2)``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

__all__ = [
    "BOX_COLORS",
    "MASK_COLOR",
    "draw_boxes",
    "fit_height",
    "hstack",
    "label_strip",
    "mask_overlay",
    "mask_rgba_png",
    "png_bytes",
    "to_rgb",
]

MASK_COLOR: Final[tuple[int, int, int]] = (255, 0, 200)
"""Magenta: stands out on natural backgrounds."""
BOX_COLORS: Final[tuple[tuple[int, int, int], ...]] = (
    (255, 214, 0),
    (0, 200, 255),
    (120, 255, 80),
    (255, 120, 40),
    (190, 120, 255),
    (255, 80, 120),
)

Frame = npt.NDArray[np.uint8]


def to_rgb(frame: npt.NDArray[np.uint8]) -> Frame:
    """``(H, W)`` gray or ``(H, W, 3)`` RGB as ``(H, W, 3)``."""
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"Invalid frame shape {frame.shape}: must be (H, W) or (H, W, 3).")
    return frame


def mask_overlay(
    frame: Frame,
    mask: npt.NDArray[np.bool_],
    *,
    color: tuple[int, int, int] = MASK_COLOR,
    alpha: float = 0.5,
) -> Frame:
    """``frame`` with the mask's pixels blended towards ``color`` (``alpha`` in ``[0, 1]``)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Invalid alpha {alpha!r}: must be in [0, 1].")
    if mask.shape != frame.shape[:2]:
        mask = resize_mask(mask, frame.shape[0], frame.shape[1])
    out = frame.astype(np.float32)
    tint = np.asarray(color, dtype=np.float32)
    out[mask] = out[mask] * (1.0 - alpha) + tint * alpha
    result: Frame = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return result


def resize_mask(mask: npt.NDArray[np.bool_], height: int, width: int) -> npt.NDArray[np.bool_]:
    """Nearest-neighbour resize of a boolean mask."""
    ys = (np.arange(height) * mask.shape[0] // max(height, 1)).clip(0, mask.shape[0] - 1)
    xs = (np.arange(width) * mask.shape[1] // max(width, 1)).clip(0, mask.shape[1] - 1)
    resized: npt.NDArray[np.bool_] = mask[ys[:, None], xs[None, :]]
    return resized


def mask_rgba_png(mask: npt.NDArray[np.bool_], color: tuple[int, int, int] = MASK_COLOR) -> bytes:
    """A PNG the size of the mask: ``color`` where set, transparent elsewhere."""
    h, w = mask.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[mask] = (*color, 255)
    return png_bytes(rgba)


def png_bytes(array: npt.NDArray[np.uint8]) -> bytes:
    """Encode ``(H, W, 3|4)`` as PNG (deterministic: no metadata chunks)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def draw_boxes(
    frame: Frame,
    boxes: Sequence[tuple[int, int, int, int] | None],
    labels: Sequence[str],
    *,
    width: int = 2,
) -> Frame:
    """``frame`` with each localized box outlined and labelled (colors cycle per label)."""
    im = Image.fromarray(to_rgb(frame).copy())
    draw = ImageDraw.Draw(im)
    for j, (box, label) in enumerate(zip(boxes, labels, strict=True)):
        if box is None:
            continue
        color = BOX_COLORS[j % len(BOX_COLORS)]
        x1, y1, x2, y2 = box
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        draw.text((x1 + 2, max(0, y1 - 11) if y1 >= 11 else y1 + 2), label, fill=color)
    return np.asarray(im, dtype=np.uint8)


def fit_height(frame: Frame, height: int) -> Frame:
    """Resize to ``height`` keeping the aspect ratio (bilinear)."""
    h, w = frame.shape[:2]
    if h == height:
        return frame
    width = max(1, round(w * height / h))
    im = Image.fromarray(to_rgb(frame)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def hstack(frames: Sequence[Frame], *, gap: int = 4, background: int = 24) -> Frame:
    """Frames side by side at the height of the first, separated by ``gap`` pixels."""
    if not frames:
        raise ValueError("Invalid frames []: need at least one frame.")
    height = frames[0].shape[0]
    parts = [fit_height(to_rgb(f), height) for f in frames]
    width = sum(p.shape[1] for p in parts) + gap * (len(parts) - 1)
    out = np.full((height, width, 3), background, dtype=np.uint8)
    x = 0
    for p in parts:
        out[:, x : x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out


def label_strip(titles: Sequence[str], widths: Sequence[int], *, gap: int = 4) -> Frame:
    """A 16-pixel header row with one title per column (for grids)."""
    total = sum(widths) + gap * (len(widths) - 1)
    im = Image.new("RGB", (total, 16), (24, 24, 24))
    draw = ImageDraw.Draw(im)
    x = 0
    for title, w in zip(titles, widths, strict=True):
        draw.text((x + 3, 2), title, fill=(235, 235, 235))
        x += w + gap
    return np.asarray(im, dtype=np.uint8)
