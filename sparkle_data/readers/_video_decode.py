"""Frame decoding for :mod:`sparkle_data.readers.video` (package-private).

The option checks, the decode loop with its frame-count checks (a truncated clip or one with
more frames than its header declares raises
:class:`~sparkle_data.errors.CorruptVideoError`), and the swscale conversion of the kept
frames straight into a preallocated ``uint8`` buffer (packed ``rgb24`` for ``THWC``, planar
``gbrp`` for ``TCHW``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict, get_args

import av
import av.container
import av.video.frame
import av.video.reformatter
import av.video.stream
import numpy as np
import numpy.typing as npt

from sparkle_data.errors import CorruptVideoError
from sparkle_data.readers._indices import frame_indices
from sparkle_data.readers._source import Where

__all__ = [
    "INTERPOLATIONS",
    "LAYOUTS",
    "THREAD_TYPES",
    "DecodeKeywords",
    "FramePlan",
    "Interpolation",
    "Layout",
    "ThreadType",
    "VideoDecodeOptions",
    "check_dims",
    "check_options",
    "configure",
    "corrupt",
    "fill",
    "kept_frames",
    "rethrow_if_not_data",
    "wanted_indices",
]

Interpolation = Literal[
    "FAST_BILINEAR",
    "BILINEAR",
    "BICUBIC",
    "X",
    "POINT",
    "AREA",
    "BICUBLIN",
    "GAUSS",
    "SINC",
    "LANCZOS",
    "SPLINE",
]
INTERPOLATIONS: Final[tuple[Interpolation, ...]] = get_args(Interpolation)
"""swscale's scaling algorithms, by the names PyAV uses."""
Layout = Literal["THWC", "TCHW"]
ThreadType = Literal["AUTO", "FRAME", "SLICE"]
LAYOUTS: Final[tuple[Layout, ...]] = get_args(Layout)
THREAD_TYPES: Final[tuple[ThreadType, ...]] = get_args(ThreadType)


class DecodeKeywords(TypedDict, total=False):
    """The decoding keyword arguments of ``read_video`` and ``VideoFile.read`` (``**decode``).

    ``indices`` (default every frame; order and repeats kept, negative from the end),
    ``height``/``width`` (default the clip's; one of them keeps the aspect ratio),
    ``layout`` (``"THWC"``), ``threads`` (1; 0 = automatic), ``thread_type`` (``"AUTO"``),
    ``interpolation`` (``"BILINEAR"``), ``expected_frames`` (``None``: not checked),
    ``shared_memory`` (``False``; ``True`` needs ``output="torch"``).
    """

    indices: Sequence[int] | npt.NDArray[np.integer] | None
    height: int | None
    width: int | None
    layout: Layout
    threads: int
    thread_type: ThreadType
    interpolation: Interpolation
    expected_frames: int | None
    shared_memory: bool


@dataclass(frozen=True, slots=True)
class VideoDecodeOptions:
    """The checked decoding options of one read (see :class:`DecodeKeywords`)."""

    output: Literal["numpy", "torch"] = "numpy"
    indices: Sequence[int] | npt.NDArray[np.integer] | None = None
    height: int | None = None
    width: int | None = None
    layout: Layout = "THWC"
    threads: int = 1
    thread_type: ThreadType = "AUTO"
    interpolation: Interpolation = "BILINEAR"
    expected_frames: int | None = None
    shared_memory: bool = False

    def __post_init__(self) -> None:
        check_options(self.layout, self.interpolation, self.threads, self.thread_type, self.output)
        check_dims(self.height, self.width)
        if self.shared_memory and self.output != "torch":
            raise ValueError("Invalid shared_memory=True: it needs output='torch'.")

    @classmethod
    def of(cls, function: str, output: str, decode: dict[str, Any]) -> VideoDecodeOptions:
        """Check ``function``'s ``**decode`` (unknown names raise ``TypeError``) and values."""
        for key in decode:
            if key not in DecodeKeywords.__annotations__:
                raise TypeError(f"{function}() got an unexpected keyword argument {key!r}")
        return cls(output, **decode)  # type: ignore[arg-type]


def rethrow_if_not_data(e: BaseException) -> None:
    """I/O failures and MemoryError are not corrupt data: let them through unchanged."""
    if isinstance(e, (MemoryError, KeyboardInterrupt)):
        raise e
    if isinstance(e, OSError):
        raise e


def corrupt(where: Where, what: str, value: object, rule: str) -> CorruptVideoError:
    """A :class:`~sparkle_data.errors.CorruptVideoError` naming ``where``."""
    return where.error(CorruptVideoError, what, value, rule=rule)


def wanted_indices(
    indices: Sequence[int] | npt.NDArray[np.integer] | None, num_frames: int
) -> list[int]:
    """Every frame for ``None``, else ``indices`` checked (negative ones from the end)."""
    if indices is None:
        return list(range(num_frames))
    checked = frame_indices(indices, num_frames, kind="video", label="indices")
    return [int(i) for i in checked]


def check_dims(height: int | None, width: int | None) -> None:
    for label, v in (("height", height), ("width", width)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise ValueError(f"Invalid {label} {v!r}: must be a positive int or None.")


def check_options(
    layout: str, interpolation: str, threads: int, thread_type: str, output: str
) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"Invalid layout {layout!r}: must be one of {', '.join(LAYOUTS)}.")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"Invalid interpolation {interpolation!r}: must be one of {', '.join(INTERPOLATIONS)}."
        )
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"Invalid threads {threads!r}: must be an int >= 0 (0 = automatic).")
    if thread_type not in THREAD_TYPES:
        raise ValueError(
            f"Invalid thread_type {thread_type!r}: must be one of {', '.join(THREAD_TYPES)}."
        )
    if output not in ("numpy", "torch"):
        raise ValueError(f"Invalid output {output!r}: must be 'numpy' or 'torch'.")


def configure(stream: av.video.stream.VideoStream, threads: int, thread_type: str) -> None:
    stream.codec_context.thread_count = threads
    if threads != 1:
        stream.codec_context.thread_type = thread_type


def _decode(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    stop: int | None,
    where: Where,
) -> Iterator[tuple[int, av.video.frame.VideoFrame]]:
    """Yield ``(index, frame)`` in presentation order; stop after index ``stop - 1``."""
    pos = 0
    try:
        for frame in container.decode(stream):
            yield pos, frame
            pos += 1
            if stop is not None and pos >= stop:
                return
    except av.FFmpegError as e:
        rethrow_if_not_data(e)
        raise corrupt(
            where,
            "video",
            f"{type(e).__name__}: {e}",
            f"decoding failed after {pos} frames (truncated or corrupt)",
        ) from e


def _short(where: Where, decoded: int, declared: int, missing: int | None) -> CorruptVideoError:
    need = f"; frame {missing} was never reached" if missing is not None else ""
    return corrupt(
        where,
        "video",
        f"{decoded} decoded frames",
        f"the header declares {declared} frames{need} (truncated file?)",
    )


def _copy_rgb(frame: av.video.frame.VideoFrame, dst: npt.NDArray[np.uint8]) -> None:
    """Copy a ``rgb24`` frame into ``dst`` (H, W, 3), skipping row padding."""
    plane = frame.planes[0]
    h, w = dst.shape[0], dst.shape[1]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8, count=plane.line_size * h)
    dst[...] = rows.reshape(h, plane.line_size)[:, : w * 3].reshape(h, w, 3)


_GBRP_TO_RGB: Final = ((0, 1), (1, 2), (2, 0))
"""``gbrp`` plane index -> RGB channel: plane 0 is G, 1 is B, 2 is R."""


def _copy_planar(frame: av.video.frame.VideoFrame, dst: npt.NDArray[np.uint8]) -> None:
    """Copy a ``gbrp`` frame into ``dst`` (3, H, W) in RGB channel order."""
    h, w = dst.shape[1], dst.shape[2]
    planes = frame.planes
    for p, c in _GBRP_TO_RGB:
        plane = planes[p]
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8, count=plane.line_size * h)
        dst[c] = rows.reshape(h, plane.line_size)[:, :w]


@dataclass(frozen=True, slots=True)
class FramePlan:
    """How each kept frame of a clip with ``num_frames`` frames of ``src_size`` is converted."""

    num_frames: int
    height: int
    width: int
    layout: Layout
    interpolation: Interpolation
    threads: int

    @classmethod
    def of(
        cls,
        num_frames: int,
        src_size: tuple[int, int],
        size: tuple[int | None, int | None],
        layout: Layout,
        interpolation: Interpolation,
        threads: int,
    ) -> FramePlan:
        """The plan for output ``size`` ``(height, width)``; one ``None`` keeps the aspect."""
        (src_h, src_w), (height, width) = src_size, size
        if height is not None and width is not None:
            h, w = height, width
        elif width is not None:
            h, w = max(1, round(src_h * width / src_w)), width
        elif height is not None:
            h, w = height, max(1, round(src_w * height / src_h))
        else:
            h, w = src_h, src_w
        return cls(num_frames, h, w, layout, interpolation, threads)

    def convert(
        self,
        reformatter: av.video.reformatter.VideoReformatter,
        frame: av.video.frame.VideoFrame,
        dst: npt.NDArray[np.uint8],
    ) -> None:
        planar = self.layout == "TCHW"
        out = reformatter.reformat(
            frame,
            width=self.width,
            height=self.height,
            format="gbrp" if planar else "rgb24",
            interpolation=self.interpolation,
            threads=self.threads,
        )
        if planar:
            _copy_planar(out, dst)
        else:
            _copy_rgb(out, dst)

    def frame_shape(self) -> tuple[int, int, int]:
        if self.layout == "TCHW":
            return (3, self.height, self.width)
        return (self.height, self.width, 3)


def kept_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    num_frames: int,
    want: set[int],
    where: Where,
    *,
    every: bool,
) -> Iterator[tuple[int, av.video.frame.VideoFrame]]:
    """Decode and yield the frames in ``want``; check the decoded count against the header.

    Decoding stops after the last wanted index, except when ``every`` frame is wanted: then it
    runs to the end so that surplus frames are caught too.
    """
    last = max(want)
    decoded = 0
    for index, frame in _decode(container, stream, None if every else last + 1, where):
        decoded = index + 1
        if index >= num_frames:
            raise corrupt(
                where,
                "video",
                f"more than {num_frames} decoded frames",
                "the stream holds more frames than its header declares",
            )
        if index in want:
            yield index, frame
    if decoded <= last:
        raise _short(where, decoded, num_frames, min(i for i in want if i >= decoded))
    if every and decoded != num_frames:
        raise _short(where, decoded, num_frames, None)


def fill(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    plan: FramePlan,
    wanted: list[int],
    buf: npt.NDArray[np.uint8],
    where: Where,
    *,
    every: bool,
) -> None:
    """Decode the ``wanted`` frames (order and repeats kept) into ``buf``."""
    slots: dict[int, list[int]] = {}
    for slot, index in enumerate(wanted):
        slots.setdefault(index, []).append(slot)
    reformatter = av.video.reformatter.VideoReformatter()
    found = kept_frames(container, stream, plan.num_frames, set(slots), where, every=every)
    for index, frame in found:
        first, *others = slots[index]
        plan.convert(reformatter, frame, buf[first])
        for other in others:
            buf[other] = buf[first]
