"""MP4 clips (``source_video``, ``edited_video``, ``edited_background_video``, ...) via PyAV.

Sparkle clips are H.264 ``yuv420p``, 1280x720 (Kiwi-family outputs 1280x704), 16 fps, 69-81
frames, one GOP each. What the readers do, and why (``docs/media.md`` has the numbers):

* :func:`probe_video` reads stream metadata only: the frame count is the container's sample
  count, never a decode. It refuses a file without a video stream (audio-only), a header that
  declares no frames, and hostile sizes (``width * height > max_pixels`` or
  ``num_frames > max_frames``) before anything is allocated.
* :func:`read_video` decodes sequentially, converts **only the kept frames**, resizes inside
  swscale (the same call that converts YUV to RGB; never per frame in PIL), writes each frame
  straight into one preallocated ``uint8`` buffer (no ``np.stack``; with
  ``shared_memory=True`` a shared-memory tensor that a DataLoader worker sends without a copy)
  and stops decoding after the last requested index. ``layout="THWC"`` converts to packed
  ``rgb24``; ``layout="TCHW"`` converts to planar ``gbrp`` so that each channel plane is
  copied contiguously.
* The decoded frame count is checked against the header: a truncated file whose header claims
  81 frames but that decodes 53 raises :class:`~sparkle_data.errors.CorruptVideoError`, when all
  frames are requested or when a requested index is never reached. Frames are never padded or
  repeated.
* Threads: one decoding thread by default, which is fastest per core when a data loader runs
  one worker process per core (the RGB conversion is serial anyway). ``threads > 1`` enables
  FFmpeg threading of type ``thread_type`` (``"AUTO"`` lets FFmpeg pick frame threading for
  H.264, which adds ``threads - 1`` frames of latency and memory but scales best in one
  process); ``threads=0`` lets FFmpeg use every core. swscale gets the same thread count.

Every source is read through a Python file object, never handed to FFmpeg as a URL, so a
hostile file cannot make FFmpeg open other files or protocols (HLS playlists, ``concat``,
data references).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Final, Literal, overload

import av
import av.container
import av.video.frame
import av.video.reformatter
import av.video.stream
import numpy as np
import numpy.typing as npt

from sparkle_data.io.shm import shared_empty
from sparkle_data.readers._source import Source, Where, open_source_file, source_size
from sparkle_data.readers._video_decode import (
    INTERPOLATIONS,
    DecodeKeywords,
    FramePlan,
    Interpolation,
    Layout,
    ThreadType,
    VideoDecodeOptions,
    check_dims,
    check_options,
    configure,
    corrupt,
    fill,
    kept_frames,
    rethrow_if_not_data,
    wanted_indices,
)

if TYPE_CHECKING:
    import torch
    from typing_extensions import Unpack

__all__ = [
    "INTERPOLATIONS",
    "MAX_VIDEO_FRAMES",
    "MAX_VIDEO_PIXELS",
    "DecodeKeywords",
    "Interpolation",
    "Layout",
    "Source",
    "ThreadType",
    "VideoFile",
    "VideoInfo",
    "iter_video_frames",
    "open_probed",
    "open_video",
    "probe_video",
    "read_video",
]

MAX_VIDEO_PIXELS: Final = 4096 * 4096
"""Default bound on ``width * height`` (Sparkle clips are 1280x720)."""
MAX_VIDEO_FRAMES: Final = 1024
"""Default bound on the header's frame count (Sparkle clips have at most 81)."""



@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a clip's container header says (no frame is decoded to build it)."""

    num_frames: int
    width: int
    height: int
    fps: Fraction
    codec: str
    pix_fmt: str | None
    duration: float | None
    """Seconds, from the stream (else the container); ``None`` when neither says."""
    has_audio: bool

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, H, W)``, comparable with a mask's shape."""
        return (self.num_frames, self.height, self.width)


# --------------------------------------------------------------------------- open + probe


@contextlib.contextmanager
def _opened(
    source: Source, where: Where, max_pixels: int, max_frames: int
) -> Iterator[tuple[VideoInfo, av.container.InputContainer, av.video.stream.VideoStream]]:
    """The clip opened and its header checked: ``(info, container, video stream)``."""
    with open_source_file(source) as f:
        if source_size(f) == 0:
            raise corrupt(where, "video", "0 bytes", "is empty (zero-byte file or member)")
        try:
            container = av.open(f, mode="r", metadata_errors="replace")
        except av.FFmpegError as e:
            rethrow_if_not_data(e)
            raise corrupt(where, "video", f"{type(e).__name__}: {e}", "cannot be opened") from e
        try:
            info, stream = _probe(container, where, max_pixels, max_frames)
            yield info, container, stream
        finally:
            container.close()


def _probe(
    container: av.container.InputContainer, where: Where, max_pixels: int, max_frames: int
) -> tuple[VideoInfo, av.video.stream.VideoStream]:
    if not container.streams.video:
        kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["none"]
        raise corrupt(
            where, "video", f"streams: {', '.join(kinds)}", "has no video stream (audio-only?)"
        )
    stream = container.streams.video[0]
    cc = stream.codec_context
    width, height = int(cc.width), int(cc.height)
    if width <= 0 or height <= 0:
        raise corrupt(where, "video size", (width, height), "must be positive")
    if width * height > max_pixels:
        raise corrupt(
            where,
            "video size",
            f"{width}x{height}",
            f"width * height exceeds max_pixels={max_pixels} (hostile or unexpected header)",
        )
    duration: float | None = None
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None and container.duration > 0:
        duration = container.duration / av.time_base
    num_frames = int(stream.frames)
    if num_frames <= 0:
        rule = (
            "the container declares no frame count (fragmented MP4, MKV, TS ...); "
            "only containers with a sample table, such as plain MP4, are read"
            if duration
            else "the video has zero frames"
        )
        raise corrupt(where, "frame count", num_frames, rule)
    if num_frames > max_frames:
        raise corrupt(
            where,
            "frame count",
            num_frames,
            f"exceeds max_frames={max_frames} (hostile or unexpected header)",
        )
    fps = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not fps or fps <= 0:
        raise corrupt(where, "frame rate", fps, "is missing from the header")
    info = VideoInfo(
        num_frames=num_frames,
        width=width,
        height=height,
        fps=Fraction(fps),
        codec=cc.name,
        pix_fmt=cc.pix_fmt,
        duration=duration,
        has_audio=bool(container.streams.audio),
    )
    return info, stream


def probe_video(
    source: Source,
    *,
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_frames: int = MAX_VIDEO_FRAMES,
) -> VideoInfo:
    """Read a clip's stream metadata (frame count, size, rate, codec) without decoding it.

    Raises :class:`~sparkle_data.errors.CorruptVideoError` for an unreadable container, no
    video stream, zero or undeclared frames, or a size/frame count above the limits.
    """
    with open_probed(
        source, name=name, sample_id=sample_id, max_pixels=max_pixels, max_frames=max_frames
    ) as (info, _, _):
        return info


@contextlib.contextmanager
def open_probed(
    source: Source,
    *,
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_frames: int = MAX_VIDEO_FRAMES,
) -> Iterator[tuple[VideoInfo, av.container.InputContainer, av.video.stream.VideoStream]]:
    """The clip opened and probed as by :func:`probe_video`: ``(info, container, video
    stream)``, for a caller that goes on reading the same container (the deep check demuxes
    it). Closed when the block exits."""
    with _opened(source, Where.of(source, name, sample_id), max_pixels, max_frames) as opened:
        yield opened


# --------------------------------------------------------------------------- decoding


def _plan(
    info: VideoInfo,
    height: int | None,
    width: int | None,
    layout: Layout,
    interpolation: Interpolation,
    threads: int,
) -> FramePlan:
    src = (info.height, info.width)
    return FramePlan.of(info.num_frames, src, (height, width), layout, interpolation, threads)


def _check_expected(where: Where, info: VideoInfo, expected_frames: int | None) -> None:
    if expected_frames is not None and info.num_frames != expected_frames:
        raise corrupt(
            where,
            "frame count",
            info.num_frames,
            f"expected {expected_frames} frames (e.g. the paired clip or mask)",
        )


@overload
def read_video(
    source: Source,
    *,
    output: Literal["numpy"] = ...,
    name: str | None = ...,
    sample_id: str | None = ...,
    max_pixels: int = ...,
    max_frames: int = ...,
    **decode: Unpack[DecodeKeywords],
) -> npt.NDArray[np.uint8]: ...
@overload
def read_video(
    source: Source,
    *,
    output: Literal["torch"],
    name: str | None = ...,
    sample_id: str | None = ...,
    max_pixels: int = ...,
    max_frames: int = ...,
    **decode: Unpack[DecodeKeywords],
) -> torch.Tensor: ...
def read_video(
    source: Source,
    *,
    output: Literal["numpy", "torch"] = "numpy",
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_frames: int = MAX_VIDEO_FRAMES,
    **decode: Unpack[DecodeKeywords],
) -> npt.NDArray[np.uint8] | torch.Tensor:
    """Decode a clip (or the frames at ``indices``) to ``uint8`` RGB.

    Returns ``(T', H, W, 3)`` for ``layout="THWC"`` or ``(T', 3, H, W)`` for ``"TCHW"``, as a
    numpy array or (``output="torch"``, zero-copy) a CPU tensor. ``indices`` keep their order
    and repeats; negative ones count from the end. ``height``/``width`` resize inside swscale
    with ``interpolation``; give one of them to keep the aspect ratio.

    The decoding keywords (``**decode``, shared with :meth:`VideoFile.read`) and their
    defaults: ``indices=None`` (every frame), ``height=None``, ``width=None``,
    ``layout="THWC"``, ``threads=1`` (0: automatic), ``thread_type="AUTO"``,
    ``interpolation="BILINEAR"``, ``expected_frames=None`` and ``shared_memory=False``.

    ``shared_memory=True`` (``output="torch"`` only) decodes straight into a tensor allocated
    in shared memory: a DataLoader worker then hands it to the main process without copying
    it (a plain tensor is copied into shared memory when it is sent).

    Raises :class:`~sparkle_data.errors.CorruptVideoError` for an unreadable or truncated clip
    (fewer decoded frames than the header declares when every frame is requested, or a
    requested index never reached), a header above the limits, or a frame count different
    from ``expected_frames``; :class:`IndexError` for indices outside the header's range.
    To read the header first and then decode without parsing it again, use
    :func:`open_video`.
    """
    VideoDecodeOptions.of("read_video", output, dict(decode))
    with open_video(
        source, name=name, sample_id=sample_id, max_pixels=max_pixels, max_frames=max_frames
    ) as video:
        return video.read(output=output, **decode)


class VideoFile:
    """An open clip whose header was parsed once: :attr:`info`, then :meth:`read` (once).

    Made by :func:`open_video`; valid inside its ``with`` block. Planning from the header and
    then decoding (what :mod:`sparkle_data.sampling` does for every video field) opens and
    parses the container once instead of twice.
    """

    __slots__ = ("_container", "_read", "_stream", "_where", "info")

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        info: VideoInfo,
        where: Where,
    ) -> None:
        self._container = container
        self._stream = stream
        self._where = where
        self._read = False
        self.info = info
        """What the header says (:func:`probe_video` without a second open)."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, H, W)`` of the header (so a :class:`VideoFile` can be planned like a probe)."""
        return self.info.shape

    def __repr__(self) -> str:
        t, h, w = self.info.shape
        return f"VideoFile({self._where.path or '<stream>'!r}, T={t}, H={h}, W={w})"

    @overload
    def read(
        self, *, output: Literal["numpy"] = ..., **decode: Unpack[DecodeKeywords]
    ) -> npt.NDArray[np.uint8]: ...
    @overload
    def read(
        self, *, output: Literal["torch"], **decode: Unpack[DecodeKeywords]
    ) -> torch.Tensor: ...
    def read(
        self, *, output: Literal["numpy", "torch"] = "numpy", **decode: Unpack[DecodeKeywords]
    ) -> npt.NDArray[np.uint8] | torch.Tensor:
        """Decode as :func:`read_video` does (same arguments, same checks, same errors).

        A clip is decoded once: a second call raises ``RuntimeError`` (open it again).
        """
        o = VideoDecodeOptions.of("read", output, dict(decode))
        if self._read:
            raise RuntimeError(f"{self!r} was already decoded: open it again to decode again.")
        self._read = True
        info, where = self.info, self._where
        _check_expected(where, info, o.expected_frames)
        wanted = wanted_indices(o.indices, info.num_frames)
        plan = _plan(info, o.height, o.width, o.layout, o.interpolation, o.threads)
        shape = (len(wanted), *plan.frame_shape())
        tensor = shared_empty(shape) if o.shared_memory and wanted else None
        buf = np.empty(shape, dtype=np.uint8) if tensor is None else tensor.numpy()
        if wanted:
            configure(self._stream, o.threads, o.thread_type)
            fill(self._container, self._stream, plan, wanted, buf, where, every=o.indices is None)
        if tensor is not None:
            return tensor
        if output == "torch":
            import torch

            return torch.from_numpy(buf)
        return buf


@contextlib.contextmanager
def open_video(
    source: Source,
    *,
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_frames: int = MAX_VIDEO_FRAMES,
) -> Iterator[VideoFile]:
    """Open a clip and parse its header once: ``with open_video(src) as v: v.info; v.read()``.

    The header checks are those of :func:`probe_video` (raised on entering the block); the
    container is closed on leaving it.
    """
    where = Where.of(source, name, sample_id)
    with _opened(source, where, max_pixels, max_frames) as (info, container, stream):
        yield VideoFile(container, stream, info, where)


def iter_video_frames(
    source: Source,
    *,
    indices: Sequence[int] | npt.NDArray[np.integer] | None = None,
    height: int | None = None,
    width: int | None = None,
    layout: Literal["HWC", "CHW"] = "HWC",
    threads: int = 1,
    thread_type: ThreadType = "AUTO",
    interpolation: Interpolation = "BILINEAR",
    name: str | None = None,
    sample_id: str | None = None,
    expected_frames: int | None = None,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_frames: int = MAX_VIDEO_FRAMES,
) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    """Lazily yield ``(index, frame)`` for each requested frame, in increasing index order.

    The lazy twin of :func:`read_video`: the same checks, one ``(H, W, 3)`` (or ``(3, H, W)``)
    array per frame, decoding only as far as the consumer pulls. Repeated indices are yielded
    once. A truncated clip raises :class:`~sparkle_data.errors.CorruptVideoError` when the
    iteration reaches the missing frames (for ``indices=None``: after the last frame).
    """
    if layout not in ("HWC", "CHW"):
        raise ValueError(f"Invalid layout {layout!r}: must be 'HWC' or 'CHW'.")
    video_layout: Layout = "TCHW" if layout == "CHW" else "THWC"
    check_options(video_layout, interpolation, threads, thread_type, "numpy")
    check_dims(height, width)
    return _iter_frames(
        source,
        indices,
        height,
        width,
        video_layout,
        threads,
        thread_type,
        interpolation,
        Where.of(source, name, sample_id),
        expected_frames,
        max_pixels,
        max_frames,
    )


def _iter_frames(
    source: Source,
    indices: Sequence[int] | npt.NDArray[np.integer] | None,
    height: int | None,
    width: int | None,
    video_layout: Layout,
    threads: int,
    thread_type: ThreadType,
    interpolation: Interpolation,
    where: Where,
    expected_frames: int | None,
    max_pixels: int,
    max_frames: int,
) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    with _opened(source, where, max_pixels, max_frames) as (info, container, stream):
        _check_expected(where, info, expected_frames)
        wanted = set(wanted_indices(indices, info.num_frames))
        if not wanted:
            return
        plan = _plan(info, height, width, video_layout, interpolation, threads)
        configure(stream, threads, thread_type)
        reformatter = av.video.reformatter.VideoReformatter()
        found = kept_frames(
            container, stream, info.num_frames, wanted, where, every=indices is None
        )
        for index, frame in found:
            dst = np.empty(plan.frame_shape(), dtype=np.uint8)
            plan.convert(reformatter, frame, dst)
            yield index, dst
