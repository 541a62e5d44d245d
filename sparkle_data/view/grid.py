"""One sample as a picture: a frame grid (PNG) or an animated side-by-side (GIF, MP4).

Columns: ``source | edited | mask overlay | canny`` (the mask drawn on the source; columns
whose artifact is not in the root are left out). A PNG has one row per chosen frame; a GIF or
MP4 has one side-by-side image per frame.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from sparkle_data.errors import MissingArtifactError
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.view import render
from sparkle_data.view.frames import has_artifact, read_frames, read_mask_frames, video_info

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog

__all__ = ["COLUMNS", "FORMATS", "GridFrames", "gif_bytes", "grid_frames", "write_grid"]

COLUMNS: Final[tuple[str, ...]] = ("source", "edited", "mask overlay", "canny")
FORMATS: Final[tuple[str, ...]] = (".png", ".gif", ".mp4")
_ARTIFACT: Final[dict[str, str]] = {
    "source": "source_video",
    "edited": "edited_video",
    "mask overlay": "source_video_mask",
    "canny": "edited_video_canny",
}


@dataclass(frozen=True, eq=False)
class GridFrames:
    """Per chosen frame, one image per column (all ``height`` pixels tall)."""

    sample_id: str
    columns: tuple[str, ...]
    frame_indices: tuple[int, ...]
    panels: tuple[tuple[npt.NDArray[np.uint8], ...], ...]
    fps: Fraction

    def __repr__(self) -> str:
        return (
            f"GridFrames({self.sample_id!r}, columns={self.columns}, "
            f"frames={len(self.frame_indices)})"
        )

    def row(self, i: int) -> npt.NDArray[np.uint8]:
        """Frame ``i`` of the selection as one side-by-side image."""
        return render.hstack(list(self.panels[i]))


def _even_spread(n: int, count: int) -> list[int]:
    if count >= n:
        return list(range(n))
    if count == 1:
        return [0]
    return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


def grid_frames(
    catalog: Catalog,
    sample_id: str,
    *,
    frames: Sequence[int] | None = None,
    num_frames: int = 4,
    height: int = 180,
    columns: Sequence[str] = COLUMNS,
    mask_alpha: float = 0.5,
) -> GridFrames:
    """Decode the chosen frames (``frames``, else ``num_frames`` evenly spread) of each column.

    Raises :class:`MissingArtifactError` when the sample has no source nor edited video.
    """
    unknown = [c for c in columns if c not in _ARTIFACT]
    if unknown:
        raise ValueError(f"Invalid columns {unknown!r}: choose from {COLUMNS}.")
    present = [c for c in columns if has_artifact(catalog, sample_id, _ARTIFACT[c])]
    if "mask overlay" in present and not has_artifact(catalog, sample_id, "source_video"):
        present.remove("mask overlay")
    if not any(c in present for c in ("source", "edited")):
        raise MissingArtifactError.invalid(
            "sample",
            sample_id,
            rule="has neither a source nor an edited video in this root",
            path=catalog.root,
            sample_id=sample_id,
        )
    base = "source_video" if "source" in present else "edited_video"
    info = video_info(catalog, sample_id, base)
    n = info.num_frames
    chosen = list(frames) if frames is not None else _even_spread(n, num_frames)
    for f in chosen:
        if not 0 <= f < n:
            raise IndexError(f"Invalid frame {f} of {sample_id}: the video has {n} frames.")
    decoded: dict[str, npt.NDArray[np.uint8]] = {}
    for col in ("source", "edited", "canny"):
        if col in present or (col == "source" and "mask overlay" in present):
            artifact = _ARTIFACT[col]
            other = video_info(catalog, sample_id, artifact).num_frames
            idx = [min(f, other - 1) for f in chosen]
            decoded[col] = read_frames(catalog, sample_id, artifact, idx, height=height)
    rows = []
    mask = read_mask_frames(catalog, sample_id, chosen) if "mask overlay" in present else None
    for i in range(len(chosen)):
        panels = []
        for col in present:
            if col == "mask overlay" and mask is not None:
                panels.append(render.mask_overlay(decoded["source"][i], mask[i], alpha=mask_alpha))
            else:
                panels.append(decoded[col][i])
        rows.append(tuple(panels))
    return GridFrames(sample_id, tuple(present), tuple(chosen), tuple(rows), info.fps)


def _png(grid: GridFrames, gap: int = 4) -> bytes:
    rows = [grid.row(i) for i in range(len(grid.frame_indices))]
    widths = [p.shape[1] for p in grid.panels[0]]
    header = render.label_strip(list(grid.columns), widths, gap=gap)
    stacked = [header]
    for r in rows:
        stacked.append(np.full((gap, r.shape[1], 3), 24, dtype=np.uint8))
        stacked.append(r)
    return render.png_bytes(np.concatenate(stacked, axis=0))


def gif_bytes(grid: GridFrames, step: int = 1, duration_ms: int | None = None) -> bytes:
    """The grid as an animated GIF, one side-by-side image per frame (loops forever)."""
    from PIL import Image

    widths = [p.shape[1] for p in grid.panels[0]]
    header = render.label_strip(list(grid.columns), widths)
    images = [
        Image.fromarray(np.concatenate([header, grid.row(i)], axis=0)).convert(
            "P", palette=Image.Palette.ADAPTIVE, colors=255
        )
        for i in range(len(grid.frame_indices))
    ]
    buf = io.BytesIO()
    duration = duration_ms or round(1000 * step / float(grid.fps))
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
    )
    return buf.getvalue()


def _mp4(grid: GridFrames, step: int) -> bytes:
    import av

    widths = [p.shape[1] for p in grid.panels[0]]
    header = render.label_strip(list(grid.columns), widths)
    first = np.concatenate([header, grid.row(0)], axis=0)
    h, w = first.shape[:2]
    h2, w2 = h + h % 2, w + w % 2
    buf = io.BytesIO()
    rate = Fraction(grid.fps) / step
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        stream.options = {"crf": "20", "preset": "medium", "threads": "1"}
        for i in range(len(grid.frame_indices)):
            image = np.zeros((h2, w2, 3), dtype=np.uint8)
            image[:h, :w] = np.concatenate([header, grid.row(i)], axis=0)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def write_grid(
    catalog: Catalog,
    sample_id: str,
    out: str | os.PathLike[str],
    *,
    frames: Sequence[int] | None = None,
    num_frames: int | None = None,
    height: int | None = None,
    step: int = 1,
    columns: Sequence[str] = COLUMNS,
) -> Path:
    """Write ``sample_id`` as a grid (``.png``) or an animation (``.gif``, ``.mp4``).

    PNG: ``num_frames`` rows (default 4) evenly spread, or ``frames``; ``height`` defaults to
    180. GIF/MP4: every ``step``-th frame (or ``frames``), ``height`` defaults to 240 (MP4)
    and 160 (GIF). The file is written atomically; the result is deterministic.
    """
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"Invalid output {str(path)!r}: the name must end in one of {FORMATS}.")
    if step < 1:
        raise ValueError(f"Invalid step {step!r}: must be >= 1.")
    if suffix == ".png":
        grid = grid_frames(
            catalog, sample_id, frames=frames, num_frames=num_frames or 4,
            height=height or 180, columns=columns,
        )  # fmt: skip
        data = _png(grid)
    else:
        chosen = frames
        if chosen is None:
            base = (
                "source_video"
                if has_artifact(catalog, sample_id, "source_video")
                else "edited_video"
            )
            n = (
                video_info(catalog, sample_id, base).num_frames
                if has_artifact(catalog, sample_id, base)
                else 0
            )
            chosen = list(range(0, n, step)) if num_frames is None else _even_spread(n, num_frames)
            native = video_info(catalog, sample_id, base).height if n else 0
        else:
            native = 0
        default = 240 if suffix == ".mp4" else 160
        grid = grid_frames(
            catalog, sample_id, frames=chosen or None,
            height=height or (min(default, native) if native else default), columns=columns,
        )  # fmt: skip
        data = gif_bytes(grid, step) if suffix == ".gif" else _mp4(grid, step)
    atomic_write_bytes(path, data)
    return path
