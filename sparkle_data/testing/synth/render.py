"""Pixels of a :class:`~.scene.SceneSpec`, a batch of frames at a time (pure numpy, no I/O).

For frames ``ts`` it gives every layer the card describes, consistent by construction:

* ``source``     figure over the source backdrop (the source video);
* ``edited``     the same figure over the edited backdrop (the edited video);
* ``background`` the edited backdrop alone (``edited_background_video``; frame 0 is
  ``edited_frame0_foreground_removed``);
* ``mask``       the figure's pixels (``source_video_mask``);
* ``canny``      edges of ``source`` inside the mask and of ``background`` outside it
  (``edited_video_canny``), from a thresholded gray-level step instead of OpenCV's Canny.

Arrays carry a leading frame axis. Rendering many small frames at once keeps numpy's
per-call overhead low; :func:`frame_batches` sizes batches so big frames are done one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from sparkle_data.testing.synth.scene import RGB, Backdrop, Figure, SceneSpec

__all__ = [
    "EDGE_THRESHOLD",
    "FrameLayers",
    "PartMask",
    "PartName",
    "edge_map",
    "figure_center",
    "frame_batches",
    "render_backdrop",
    "render_frames",
    "render_parts",
]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

PartName = Literal["body", "bag", "head", "hat"]
EDGE_THRESHOLD: Final = 24.0
"""Gray-level step (0-255) between 4-neighbours above which both count as edges."""
_BATCH_PIXELS: Final = 1 << 20


def frame_batches(spec: SceneSpec) -> Iterator[range]:
    """Consecutive frame ranges of about a million pixels each (at least one frame)."""
    step = max(1, _BATCH_PIXELS // (spec.width * spec.height))
    for start in range(0, spec.n_frames, step):
        yield range(start, min(start + step, spec.n_frames))


@dataclass(frozen=True, slots=True)
class PartMask:
    """One figure part on frames ``ts``, on a window whose top-left pixel is ``(top, left)``."""

    name: PartName
    mask: Bool
    """``(len(ts), h, w)``."""
    top: int
    left: int

    def bbox(self, i: int = 0) -> tuple[int, int, int, int] | None:
        """Inclusive pixel box ``(x1, y1, x2, y2)`` of the part in frame ``i`` of the batch."""
        rows = np.flatnonzero(self.mask[i].any(axis=1))
        cols = np.flatnonzero(self.mask[i].any(axis=0))
        if rows.size == 0:
            return None
        return (
            self.left + int(cols[0]),
            self.top + int(rows[0]),
            self.left + int(cols[-1]),
            self.top + int(rows[-1]),
        )

    def __repr__(self) -> str:
        return f"PartMask({self.name!r}, shape={self.mask.shape}, top={self.top}, left={self.left})"


@dataclass(frozen=True, slots=True)
class FrameLayers:
    """Layers of a batch of frames: RGB ``(n, H, W, 3)`` uint8, mask ``(n, H, W)`` bool."""

    source: U8
    edited: U8
    background: U8
    canny: U8
    mask: Bool

    def __repr__(self) -> str:
        return f"FrameLayers(shape={self.source.shape})"


def _u8(c: RGB) -> U8:
    return np.asarray(c, dtype=np.uint8)


def _grid(width: int, height: int, left: int = 0, top: int = 0) -> tuple[F32, F32]:
    """Pixel-center coordinates shaped ``(1, 1, w)`` and ``(1, h, 1)``."""
    xs = np.arange(left, left + width, dtype=np.float32)[None, None, :] + 0.5
    ys = np.arange(top, top + height, dtype=np.float32)[None, :, None] + 0.5
    return xs, ys


def _frames(ts: Sequence[int]) -> F32:
    return np.asarray(ts, dtype=np.float32)[:, None, None]


def render_backdrop(bd: Backdrop, ts: Sequence[int], width: int, height: int) -> U8:
    """The backdrop on frames ``ts``: sky gradient, drifting disc, wavy panning striped ground."""
    xs, ys = _grid(width, height)
    t = _frames(ts)
    top, bottom = np.asarray(bd.sky_top, np.float32), np.asarray(bd.sky_bottom, np.float32)
    sky = np.clip(top + (bottom - top) * (ys / height)[..., None] + 0.5, 0, 255).astype(np.uint8)
    shift = bd.pan * width * t
    horizon = height * (
        bd.horizon + bd.wave * np.sin(2 * np.pi * (xs + shift) / (bd.wave_len * width))
    )
    ground = ys >= horizon
    band = np.floor((xs + 1.6 * shift + 0.5 * ys) * (1.0 / (bd.stripe_period * height)))
    stripes = (band.astype(np.int64) & 1) == 0
    img: U8 = np.broadcast_to(sky, (len(ts), height, width, 3)).copy()
    img[ground & stripes] = _u8(bd.ground)
    img[ground & ~stripes] = _u8(bd.ground_stripe)
    dcx = ((bd.disc_x + bd.disc_dx * t) % 1.0) * width
    disc = (xs - dcx) ** 2 + (ys - bd.disc_y * height) ** 2 <= (bd.disc_r * height) ** 2
    img[disc & ~ground] = _u8(bd.disc)
    return img


def figure_center(fig: Figure, ts: Sequence[int], n_frames: int) -> tuple[F64, F64]:
    """Body-ellipse centers on frames ``ts`` (pixels): a left-right sway with a bob."""
    u = 2 * np.pi * fig.cycles * np.asarray(ts, dtype=np.float64) / n_frames + fig.phase
    return fig.x0 + fig.x_amp * np.sin(u), fig.y0 + fig.y_amp * np.sin(2 * u)


def render_parts(spec: SceneSpec, ts: Sequence[int]) -> tuple[PartMask, ...]:
    """The figure's parts on frames ``ts``, in paint order (body, bag, head, hat), on the
    smallest window holding the figure in all of them."""
    fig = spec.figure
    cx64, cy64 = figure_center(fig, ts, spec.n_frames)
    rx, ry, hr = fig.body_rx, fig.body_ry, fig.head_r
    reach = max(1.2 * rx, 1.3 * hr)
    left = max(0, int(np.floor(cx64.min() - reach)) - 1)
    right = min(spec.width, int(np.ceil(cx64.max() + reach)) + 2)
    top = max(0, int(np.floor(cy64.min() - ry - 2.3 * hr)) - 1)
    bottom = min(spec.height, int(np.ceil(cy64.max() + ry)) + 2)
    xs, ys = _grid(right - left, bottom - top, left, top)
    cx = cx64.astype(np.float32)[:, None, None]
    cy = cy64.astype(np.float32)[:, None, None]
    head_cy = cy - ry - 0.8 * hr
    parts = [PartMask("body", ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0, top, left)]
    if fig.bag is not None:
        bag_x = (xs >= cx + 0.6 * rx) & (xs <= cx + 1.2 * rx)
        bag = bag_x & (ys >= cy - 0.1 * ry) & (ys <= cy + 0.45 * ry)
        parts.append(PartMask("bag", bag, top, left))
    parts.append(PartMask("head", (xs - cx) ** 2 + (ys - head_cy) ** 2 <= hr**2, top, left))
    if fig.hat is not None:
        hat_y = (ys >= head_cy - 1.5 * hr) & (ys <= head_cy - 0.5 * hr)
        hat = (np.abs(xs - cx) <= 1.3 * hr) & hat_y
        parts.append(PartMask("hat", hat, top, left))
    return tuple(parts)


def _paint_figure(spec: SceneSpec, ts: Sequence[int], parts: tuple[PartMask, ...]) -> U8:
    """RGB of the figure on the parts' window (garbage outside the parts)."""
    fig = spec.figure
    n, h, w = parts[0].mask.shape
    cx64, cy64 = figure_center(fig, ts, spec.n_frames)
    xs, ys = _grid(w, h, parts[0].left, parts[0].top)
    cx = cx64.astype(np.float32)[:, None, None]
    cy = cy64.astype(np.float32)[:, None, None]
    stripes = ((xs - cx + ys - cy) % fig.stripe_period) < fig.stripe_period / 2
    rgb = np.empty((n, h, w, 3), dtype=np.uint8)
    rgb[...] = _u8(fig.coat)
    rgb[~stripes] = _u8(fig.coat_stripe)
    colors: dict[PartName, RGB | None] = {"bag": fig.bag, "head": fig.skin, "hat": fig.hat}
    for part in parts[1:]:
        rgb[part.mask] = _u8(colors[part.name] or (0, 0, 0))
    return rgb


def edge_map(frames: U8) -> Bool:
    """Pixels whose gray level differs by more than :data:`EDGE_THRESHOLD` from a
    4-neighbour; ``frames`` is ``(..., H, W, 3)``."""
    gray = frames.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    dx = np.abs(np.diff(gray, axis=-1)) > EDGE_THRESHOLD
    dy = np.abs(np.diff(gray, axis=-2)) > EDGE_THRESHOLD
    edges = np.zeros(gray.shape, dtype=np.bool_)
    edges[..., :, :-1] |= dx
    edges[..., :, 1:] |= dx
    edges[..., :-1, :] |= dy
    edges[..., 1:, :] |= dy
    return edges


def render_frames(spec: SceneSpec, ts: Sequence[int]) -> FrameLayers:
    """All layers of frames ``ts`` (use :func:`frame_batches` to bound memory)."""
    w, h = spec.width, spec.height
    source = render_backdrop(spec.source, ts, w, h)
    background = render_backdrop(spec.edited, ts, w, h)
    parts = render_parts(spec, ts)
    fg = _paint_figure(spec, ts, parts)
    union = np.logical_or.reduce([p.mask for p in parts])
    top, left = parts[0].top, parts[0].left
    win = (slice(None), slice(top, top + union.shape[1]), slice(left, left + union.shape[2]))
    mask = np.zeros((len(ts), h, w), dtype=np.bool_)
    mask[win] = union
    edited = background.copy()
    edited[win][union] = fg[union]
    source[win][union] = fg[union]
    edges = np.where(mask, edge_map(source), edge_map(background))
    canny = np.repeat((edges.astype(np.uint8) * 255)[..., None], 3, axis=-1)
    return FrameLayers(source=source, edited=edited, background=background, canny=canny, mask=mask)
