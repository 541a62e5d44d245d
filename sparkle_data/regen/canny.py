"""``edited_video_canny``: Canny of the source inside the mask plus Canny of the background
video outside it (pure functions of the decoded inputs; OpenCV).

Frame-count rule: the output has the source's ``T`` frames. The mask must be ``(T, H, W)``
at the source's size; the background video must have the source's size and at least ``T``
frames (Stage 3 renders 81), of which the first ``T`` are used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from sparkle_data.errors import CorruptMaskError, CorruptVideoError
from sparkle_data.readers.video import iter_video_frames, probe_video
from sparkle_data.regen.config import CannyConfig
from sparkle_data.regen.media import Mp4Writer

__all__ = ["Media", "canny_frame", "canny_video_bytes", "edge_map", "edge_maps"]

Media: TypeAlias = str | os.PathLike[str] | bytes
"""An input file: a path or its bytes."""


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            "The canny stage needs OpenCV: pip install 'sparkle-data[regen]' "
            "(opencv-python-headless)."
        ) from e
    return cv2


def edge_map(rgb: npt.NDArray[np.uint8], config: CannyConfig) -> npt.NDArray[np.bool_]:
    """Canny edges of one ``(H, W, 3)`` RGB frame under ``config`` (grey, blur, Canny, dilate)."""
    cv2 = _cv2()
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if config.blur:
        gray = cv2.GaussianBlur(gray, (config.blur, config.blur), config.blur_sigma)
    edges = cv2.Canny(gray, config.low, config.high, L2gradient=config.l2_gradient)
    if config.dilate:
        kernel = np.ones((config.dilate, config.dilate), dtype=np.uint8)
        edges = cv2.dilate(edges, kernel)
    out: npt.NDArray[np.bool_] = edges > 0
    return out


def edge_maps(frames: npt.NDArray[np.uint8], config: CannyConfig) -> npt.NDArray[np.bool_]:
    """:func:`edge_map` of each frame of a ``(T, H, W, 3)`` array."""
    return np.stack([edge_map(f, config) for f in frames]) if len(frames) else np.zeros(
        frames.shape[:3], dtype=np.bool_
    )


def canny_frame(
    source: npt.NDArray[np.uint8],
    background: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.bool_],
    config: CannyConfig,
) -> npt.NDArray[np.uint8]:
    """One output frame: white ``(H, W, 3)`` edges, the source's inside ``mask``."""
    edges = np.where(mask, edge_map(source, config), edge_map(background, config))
    plane = edges.astype(np.uint8) * np.uint8(255)
    return np.repeat(plane[:, :, None], 3, axis=2)


def _check_inputs(
    source: Media,
    background: Media,
    mask: npt.NDArray[np.bool_],
    sample_id: str | None,
    names: tuple[str | None, str | None],
) -> int:
    src = probe_video(source, name=names[0], sample_id=sample_id)
    bg = probe_video(background, name=names[1], sample_id=sample_id)
    if mask.ndim != 3 or mask.dtype != np.bool_:
        raise CorruptMaskError.invalid(
            "mask", f"{mask.dtype}{mask.shape}", rule="must be a bool (T, H, W) array",
            sample_id=sample_id,
        )
    want = (src.num_frames, src.height, src.width)
    if mask.shape != want:
        raise CorruptMaskError.invalid(
            "mask shape",
            mask.shape,
            rule=f"must equal the source video's (T, H, W) {want}",
            sample_id=sample_id,
        )
    if (bg.height, bg.width) != (src.height, src.width) or bg.num_frames < src.num_frames:
        raise CorruptVideoError.invalid(
            "background video",
            f"{bg.num_frames} frames of {bg.width}x{bg.height}",
            rule=f"must be {src.width}x{src.height} with at least {src.num_frames} frames "
            "(the source's)",
            path=names[1],
            sample_id=sample_id,
        )
    return src.num_frames


def canny_video_bytes(
    source: Media,
    background: Media,
    mask: npt.NDArray[np.bool_],
    config: CannyConfig,
    *,
    sample_id: str | None = None,
    names: tuple[str | None, str | None] = (None, None),
) -> bytes:
    """The ``edited_video_canny`` MP4 of a sample, streamed one frame at a time.

    ``source`` and ``background`` are the two MP4s (path, bytes or file), ``mask`` the
    decoded ``source_video_mask``.
    """
    n = _check_inputs(source, background, mask, sample_id, names)
    src_frames: Iterator[tuple[int, npt.NDArray[np.uint8]]] = iter_video_frames(
        source, name=names[0], sample_id=sample_id
    )
    bg_frames = iter_video_frames(
        background, indices=range(n), name=names[1], sample_id=sample_id
    )
    h, w = mask.shape[1:]
    with Mp4Writer(w, h, fps=config.fps, crf=config.crf, preset=config.x264_preset) as out:
        for (i, s), (_, b) in zip(src_frames, bg_frames, strict=True):
            out.add(canny_frame(s, b, mask[i], config))
        return out.finish()
