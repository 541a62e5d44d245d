"""PNG frames (``source_frame0``, ``edited_frame0``, ``edited_frame0_foreground_removed``,
Sparkle-Bench ``ref_images``) via Pillow.

:func:`read_png` always returns ``uint8`` RGB ``(H, W, 3)``; other PNG colour types are
converted explicitly:

========================  ===========================================================
PNG as Pillow opens it    conversion
========================  ===========================================================
``RGB``                   as is (16-bit RGB is reduced to its high byte by Pillow)
``RGBA`` / ``LA`` / ``PA``  alpha is **dropped**, not composited over a background
``P`` (palette)           palette lookup; palette transparency is ignored
``L`` / ``1``             grey replicated to the three channels (``1`` -> 0 or 255)
``I;16`` / ``I``          16-bit grey reduced to its high byte (``v >> 8``), replicated
========================  ===========================================================

Before Pillow sees the file, the ``IHDR`` chunk is parsed by hand and ``width * height`` is
checked against ``max_pixels`` (a decompression bomb is refused without inflating anything and
without Pillow's global ``MAX_IMAGE_PIXELS`` warning). Then every chunk's length and CRC-32 and
the final ``IEND`` are verified (one pass over the bytes, no inflate), so a truncated or
bit-flipped file raises even if some other code set ``ImageFile.LOAD_TRUNCATED_IMAGES``.
Errors raise :class:`~sparkle_data.errors.CorruptImageError`.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Final, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from sparkle_data.errors import CorruptImageError, SparkleError
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.readers._source import Source, Where, open_source_file

__all__ = ["MAX_IMAGE_PIXELS", "ImageInfo", "encode_png", "probe_png", "read_png", "write_png"]

MAX_IMAGE_PIXELS: Final = 4096 * 4096
"""Default bound on ``width * height`` (Sparkle frames are 1280x720)."""

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_IHDR: Final = struct.Struct(">I4sIIBBBBBI")
_MAX_CHUNK: Final = 2**31 - 1
_CRC_BLOCK: Final = 1 << 20
_COLOR_TYPES: Final = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
_VALID_DEPTHS: Final = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A PNG's header (``IHDR``), read without decoding pixels."""

    width: int
    height: int
    bit_depth: int
    color_type: str
    """``"grey"``, ``"RGB"``, ``"palette"``, ``"grey+alpha"`` or ``"RGBA"``."""
    interlaced: bool

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(H, W, 3)``: the shape :func:`read_png` returns."""
        return (self.height, self.width, 3)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(where: Where, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call ``fn``; Pillow/zlib parse errors become :class:`CorruptImageError`.

    I/O failures (an ``OSError`` with an errno, ``ConnectionError``, ``TimeoutError``, the
    library's own errors) and ``MemoryError`` pass through unchanged.
    """
    try:
        return fn(*args, **kwargs)
    except SparkleError:
        raise
    except (ConnectionError, TimeoutError):
        raise
    except OSError as e:
        if e.errno is not None and not isinstance(e, UnidentifiedImageError):
            raise
        raise _foreign(where, e) from e
    except (SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as e:
        raise _foreign(where, e) from e


def _foreign(where: Where, e: BaseException) -> CorruptImageError:
    return where.error(
        CorruptImageError, "PNG", f"{type(e).__name__}: {e}", rule="cannot be decoded"
    )


def _read_ihdr(f: IO[bytes], where: Where, max_pixels: int) -> ImageInfo:
    head = f.read(len(_PNG_SIGNATURE) + _IHDR.size)
    if not head.startswith(_PNG_SIGNATURE):
        raise where.error(CorruptImageError, "PNG signature", head[:8], rule="not a PNG file")
    if len(head) < len(_PNG_SIGNATURE) + _IHDR.size:
        raise where.error(CorruptImageError, "PNG", len(head), rule="truncated inside IHDR")
    length, ctype, w, h, depth, color, comp, filt, interlace, crc = _IHDR.unpack_from(
        head, len(_PNG_SIGNATURE)
    )
    body = head[len(_PNG_SIGNATURE) + 4 : len(_PNG_SIGNATURE) + 4 + 4 + 13]
    if ctype != b"IHDR" or length != 13:
        raise where.error(
            CorruptImageError, "first PNG chunk", ctype, rule="must be a 13-byte IHDR"
        )
    if zlib.crc32(body) != crc:
        raise where.error(CorruptImageError, "IHDR CRC", f"{crc:08x}", rule="does not match")
    if w <= 0 or h <= 0:
        raise where.error(CorruptImageError, "PNG size", (w, h), rule="must be positive")
    if color not in _VALID_DEPTHS or depth not in _VALID_DEPTHS[color]:
        raise where.error(
            CorruptImageError, "PNG colour type/bit depth", (color, depth), rule="not allowed"
        )
    if comp != 0 or filt != 0 or interlace not in (0, 1):
        raise where.error(
            CorruptImageError,
            "PNG compression/filter/interlace",
            (comp, filt, interlace),
            rule="not allowed",
        )
    if w * h > max_pixels:
        raise where.error(
            CorruptImageError,
            "PNG size",
            f"{w}x{h}",
            rule=f"width * height exceeds max_pixels={max_pixels}",
            hint="Refused before decoding (decompression bomb?).",
        )
    return ImageInfo(w, h, depth, _COLOR_TYPES[color], bool(interlace))


def _to_rgb(im: Image.Image) -> npt.NDArray[np.uint8]:
    mode = im.mode
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("L", "1", "LA"):
        grey = np.asarray(im.convert("L"), dtype=np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    # RGBA (alpha dropped), P / PA (palette lookup, transparency ignored), anything else.
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _check_chunks(f: IO[bytes], where: Where) -> None:
    """Walk every chunk after the signature: lengths, CRC-32s, and a final ``IEND``."""
    f.seek(len(_PNG_SIGNATURE))
    while True:
        head = f.read(8)
        if len(head) < 8:
            raise where.error(CorruptImageError, "PNG", "no IEND chunk", rule="truncated")
        length, ctype = struct.unpack(">I4s", head)
        if length > _MAX_CHUNK:
            raise where.error(CorruptImageError, "PNG chunk length", length, rule="exceeds 2^31-1")
        crc = zlib.crc32(ctype)
        left = length
        while left:
            block = f.read(min(left, _CRC_BLOCK))
            if not block:
                raise where.error(
                    CorruptImageError, "PNG chunk", ctype, rule="truncated inside its data"
                )
            crc = zlib.crc32(block, crc)
            left -= len(block)
        tail = f.read(4)
        if len(tail) < 4 or struct.unpack(">I", tail)[0] != crc:
            raise where.error(
                CorruptImageError, "CRC-32 of PNG chunk", ctype, rule="is missing or wrong"
            )
        if ctype == b"IEND":
            return


def _decode(f: IO[bytes], where: Where, max_pixels: int) -> npt.NDArray[np.uint8]:
    info = _read_ihdr(f, where, max_pixels)
    _check_chunks(f, where)
    f.seek(0)
    with Image.open(f, formats=["PNG"]) as im:
        if im.size != (info.width, info.height):
            raise where.error(
                CorruptImageError, "PNG size", im.size, rule="disagrees with the IHDR chunk"
            )
        im.load()
        return _to_rgb(im)


def probe_png(
    source: Source,
    *,
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ImageInfo:
    """Read a PNG's ``IHDR`` (size, bit depth, colour type) without decoding it."""
    where = Where.of(source, name, sample_id)
    with open_source_file(source) as f:
        return _guarded(where, _read_ihdr, f, where, max_pixels)


def read_png(
    source: Source,
    *,
    size: tuple[int, int] | None = None,
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> npt.NDArray[np.uint8]:
    """Decode a PNG to a ``uint8`` RGB ``(H, W, 3)`` array (conversions: module docstring).

    ``size=(H, W)`` resizes the RGB image to that size (Pillow's bilinear, which is area-aware
    when shrinking) when it has another size; the image is returned as decoded otherwise.

    Raises :class:`~sparkle_data.errors.CorruptImageError` for a file that is not a PNG, is
    truncated, fails a CRC, or is larger than ``max_pixels``.
    """
    if size is not None:
        _check_size(size)
    where = Where.of(source, name, sample_id)
    with open_source_file(source) as f:
        rgb = _guarded(where, _decode, f, where, max_pixels)
    if size is not None and rgb.shape[:2] != size:
        h, w = size
        resized = Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR)
        rgb = np.asarray(resized, dtype=np.uint8)
    return rgb


def _check_size(size: tuple[int, int]) -> None:
    ok = isinstance(size, tuple) and len(size) == 2
    if not ok or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in size):
        raise ValueError(f"Invalid size {size!r}: must be a (height, width) of positive ints.")


def encode_png(array: npt.NDArray[np.uint8], *, compress_level: int = 6) -> bytes:
    """Encode ``(H, W, 3)`` RGB or ``(H, W)`` grey ``uint8`` as PNG bytes, deterministically.

    No metadata chunks (no time, no text) are written, so equal arrays give equal bytes for a
    given zlib.
    """
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise ValueError(f"Invalid image dtype {a.dtype}: must be uint8.")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or 0 in a.shape:
        raise ValueError(f"Invalid image shape {a.shape}: must be (H, W, 3) or (H, W).")
    im = Image.fromarray(np.ascontiguousarray(a))
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=compress_level, optimize=False)
    return buf.getvalue()


def write_png(
    path: str | os.PathLike[str], array: npt.NDArray[np.uint8], *, compress_level: int = 6
) -> None:
    """Write ``array`` to ``path`` as PNG, atomically (see :func:`encode_png`)."""
    atomic_write_bytes(path, encode_png(array, compress_level=compress_level))
