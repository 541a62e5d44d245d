"""``source_video_mask`` NPZ files: bit-packed boolean masks of shape ``(T, H, W)``.

The card's format: an NPZ with exactly two arrays, ``mask`` (``uint8``, 1-D, the output of
``np.packbits`` over the flattened ``(T, H, W)`` boolean mask, big-endian bit order) and
``shape`` (the three integers ``T, H, W``, ``T <= 81``).

Reading is strict and never trusts a size it has not checked:

1. the zip's central directory must list exactly ``mask.npy`` and ``shape.npy``, unencrypted,
   stored or deflated; each member's declared size is bounded *before* anything is inflated
   (``max_pixels``), a deflated member may not claim more than deflate's ~1032:1 ratio, and
   its bytes must lie inside the file;
2. each member's ``.npy`` header is parsed by hand (``read_magic`` and
   ``read_array_header_{1,2}_0``): no object dtype, no Fortran order, ``shape`` is three
   positive integers of an integer dtype, ``mask`` is 1-D ``uint8`` of exactly
   ``ceil(T*H*W/8)`` bytes, and every member is exactly as long as its header says;
3. only then are the packed bytes read: all of them (CRC checked), or, with ``frames=``, only
   the byte ranges of the requested frames (a stored member is read at the ranges' offsets, a
   deflated one is inflated as a stream that stops after the last needed byte).

Nothing is ever unpickled. Any problem raises :class:`~sparkle_data.errors.CorruptMaskError`.
"""

from __future__ import annotations

import importlib
import io
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import IO, Any, Final, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from sparkle_data.errors import CorruptMaskError, SparkleError
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.layout import MAX_FRAMES
from sparkle_data.readers._indices import frame_indices
from sparkle_data.readers._npz import (
    MAX_NPY_HEADER,
    NPY_PREAMBLE,
    Member,
    iter_npz_member,
    locate_members,
    npy_header_bytes,
    parse_npy_header,
    read_npz_member,
)
from sparkle_data.readers._source import Source, Where, open_source_file
from sparkle_data.readers.limits import DEFAULT_MAX_DECODED_BYTES, check_decoded_bytes

__all__ = [
    "INFLATE_BACKEND",
    "MAX_MASK_PIXELS",
    "MaskInfo",
    "encode_mask_npz",
    "probe_mask",
    "read_mask",
    "write_mask",
]

MAX_MASK_PIXELS: Final = 4096 * 4096
"""Default bound on ``H * W`` of a mask (Sparkle masks are 1280x720); ``max_pixels=`` overrides."""

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
def _pick_inflate() -> ModuleType:
    """The fastest zlib-compatible module installed: ``zlib-ng``, ``isal``, else ``zlib``.

    Mask members are long runs of zeros; zlib-ng/ISA-L inflate them 10-20x faster than the
    system zlib. They produce identical bytes and the same API, so the choice is invisible.
    """
    for name in ("zlib_ng.zlib_ng", "isal.isal_zlib"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return zlib


_zlib: Any = _pick_inflate()
INFLATE_BACKEND: Final[str] = _zlib.__name__
"""Which inflate implementation :func:`read_mask` uses (for benchmarks and bug reports)."""

# Third-party exceptions that mean "this is not a valid NPZ"; converted at the boundary only.
_FOREIGN_ERRORS: Final = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    _zlib.error,
    EOFError,
    KeyError,
    ValueError,
    struct.error,
    OverflowError,
    NotImplementedError,
)


# --------------------------------------------------------------------------- public records


@dataclass(frozen=True, slots=True)
class MaskInfo:
    """What a mask NPZ's headers say, read without touching the packed bits."""

    num_frames: int
    height: int
    width: int
    packed_bytes: int
    """Length of the packed ``mask`` array: ``ceil(T * H * W / 8)``."""
    compressed: bool
    """True for a deflated ``mask.npy`` (``savez_compressed``), False for a stored one."""

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.num_frames, self.height, self.width)

    @property
    def byte_aligned(self) -> bool:
        """Frames start on byte boundaries (``H * W % 8 == 0``)."""
        return (self.height * self.width) % 8 == 0


# --------------------------------------------------------------------------- writer


def _npy_bytes(array: npt.NDArray[np.generic]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_mask_npz(mask: npt.NDArray[np.bool_], *, compress: bool = True) -> bytes:
    """Encode a boolean ``(T, H, W)`` mask as the card's packed-bit NPZ, byte-deterministically.

    The result is what ``np.savez_compressed(f, mask=np.packbits(m), shape=m.shape)`` stores,
    with fixed zip timestamps so the same mask always gives the same bytes.
    """
    m = np.asarray(mask)
    if m.ndim != 3 or 0 in m.shape:
        raise ValueError(f"Invalid mask shape {m.shape}: must be (T, H, W) with positive sizes.")
    if m.shape[0] > MAX_FRAMES:
        raise ValueError(f"Invalid mask shape {m.shape}: T must be <= {MAX_FRAMES}.")
    if m.dtype != np.bool_:
        raise ValueError(f"Invalid mask dtype {m.dtype}: must be bool.")
    packed = np.packbits(m.reshape(-1))
    shape = np.asarray(m.shape, dtype=np.int64)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for name, arr in (("mask", packed), ("shape", shape)):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, _npy_bytes(arr))
    return out.getvalue()


def write_mask(
    path: str | os.PathLike[str], mask: npt.NDArray[np.bool_], *, compress: bool = True
) -> None:
    """Write ``mask`` to ``path`` atomically in the card's packed-bit NPZ format."""
    atomic_write_bytes(path, encode_mask_npz(mask, compress=compress))


@dataclass(frozen=True, slots=True)
class _Npz:
    info: MaskInfo
    mask: Member
    data_start: int
    """Offset of the first packed byte inside the uncompressed ``mask.npy``."""



def _open_npz(f: IO[bytes], where: Where, max_pixels: int) -> _Npz:
    members = locate_members(f, where, max_pixels)

    # shape.npy: tiny, read whole and CRC-checked.
    sm = members["shape.npy"]
    raw = read_npz_member(f, sm, where, _zlib)
    dtype, shp, hdr = parse_npy_header(raw[: NPY_PREAMBLE + MAX_NPY_HEADER], sm, where)
    if dtype.kind not in "iu" or shp != (3,):
        raise where.error(
            CorruptMaskError,
            "shape array",
            f"dtype {dtype.str}, shape {shp}",
            rule="must hold 3 integers (T, H, W)",
        )
    if hdr + 3 * dtype.itemsize != len(raw):
        raise where.error(
            CorruptMaskError,
            "shape.npy length",
            len(raw),
            rule=f"must be its header ({hdr} bytes) plus 3 x {dtype.itemsize} bytes",
        )
    values = [int(v) for v in np.frombuffer(raw, dtype=dtype, count=3, offset=hdr)]
    t, h, w = values
    if min(values) <= 0:
        raise where.error(
            CorruptMaskError, "mask shape", tuple(values), rule="T, H and W must be positive"
        )
    if t > MAX_FRAMES:
        raise where.error(
            CorruptMaskError, "mask shape", tuple(values), rule=f"T must be <= {MAX_FRAMES}"
        )
    if h * w > max_pixels:
        raise where.error(
            CorruptMaskError,
            "mask shape",
            tuple(values),
            rule=f"H * W = {h * w} exceeds max_pixels={max_pixels}",
        )
    packed = math.ceil(t * h * w / 8)

    # mask.npy: only its header now.
    mm = members["mask.npy"]
    dtype, shp, hdr = parse_npy_header(npy_header_bytes(f, mm, where, _zlib), mm, where)
    if dtype != np.dtype(np.uint8) or len(shp) != 1:
        raise where.error(
            CorruptMaskError,
            "packed mask array",
            f"dtype {dtype.str}, shape {shp}",
            rule="must be 1-D uint8",
        )
    if shp[0] != packed:
        raise where.error(
            CorruptMaskError,
            "packed mask length",
            shp[0],
            rule=f"must be ceil(T*H*W/8) = {packed} for shape {(t, h, w)}",
        )
    if hdr + packed != mm.file_size:
        raise where.error(
            CorruptMaskError,
            "mask.npy length",
            mm.file_size,
            rule=f"must be its header ({hdr} bytes) plus {packed} packed bytes",
        )
    return _Npz(MaskInfo(t, h, w, packed, mm.deflated), mm, hdr)


# --------------------------------------------------------------------------- frames


def _frame_indices(
    frames: Sequence[int] | npt.NDArray[np.integer] | slice, num_frames: int
) -> npt.NDArray[np.intp]:
    if isinstance(frames, slice):
        return np.arange(num_frames, dtype=np.intp)[frames]
    return frame_indices(
        frames,
        num_frames,
        kind="mask",
        label=f"frames {frames!r}",
        accepted="a slice or a 1-D sequence of ints",
    )


def _read_frames(
    f: IO[bytes], npz: _Npz, wanted: npt.NDArray[np.intp], where: Where
) -> npt.NDArray[np.bool_]:
    """Unpack the sorted, unique frames ``wanted``, reading only their byte ranges."""
    _, h, w = npz.info.shape
    hw = h * w
    n = len(wanted)
    bit0 = wanted.astype(np.int64) * hw
    first = bit0 // 8
    last = (bit0 + hw + 7) // 8  # exclusive
    shift = (bit0 % 8).astype(np.intp)
    row = int((last - first).max())
    rows = np.zeros((n, row), dtype=np.uint8)

    # Merge touching ranges into runs, then route each piece to the rows it overlaps.
    runs: list[tuple[int, int]] = []
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        if runs and a <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], b))
        else:
            runs.append((a, b))
    base = npz.data_start
    if npz.mask.deflated:
        # One inflate pass from the first needed byte to the last; gaps are discarded.
        runs = [(runs[0][0], runs[-1][1])]
    j = 0
    for a, b in runs:
        for pos, piece in iter_npz_member(f, npz.mask, base + a, base + b, where, _zlib):
            lo, hi = pos - base, pos - base + len(piece)
            src = np.frombuffer(piece, dtype=np.uint8)
            k = j
            while k < n and first[k] < hi:
                s, e = max(int(first[k]), lo), min(int(last[k]), hi)
                if e > s:
                    rows[k, s - first[k] : e - first[k]] = src[s - lo : e - lo]
                k += 1
            while j < n and last[j] <= hi:
                j += 1

    if hw % 8 == 0:
        return np.unpackbits(rows, axis=1).view(np.bool_).reshape(n, h, w)
    out = np.empty((n, h, w), dtype=np.bool_)
    for i in range(n):
        sh = int(shift[i])
        out[i] = np.unpackbits(rows[i], count=sh + hw)[sh:].view(np.bool_).reshape(h, w)
    return out


# --------------------------------------------------------------------------- public readers


def probe_mask(
    source: Source,
    *,
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_MASK_PIXELS,
) -> MaskInfo:
    """Read a mask NPZ's headers (zip directory, ``.npy`` headers, the 3-int shape) only.

    Raises :class:`~sparkle_data.errors.CorruptMaskError` for anything :func:`read_mask`
    would refuse before touching the packed bits.
    """
    where = Where.of(source, name, sample_id)
    with open_source_file(source) as f:
        return _guarded(where, _open_npz, f, where, max_pixels).info


def read_mask(
    source: Source,
    *,
    frames: Sequence[int] | npt.NDArray[np.integer] | slice | None = None,
    name: str | None = None,
    sample_id: str | None = None,
    max_pixels: int = MAX_MASK_PIXELS,
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES,
) -> npt.NDArray[np.bool_]:
    """Read a ``source_video_mask`` NPZ as a boolean ``(T', H, W)`` array.

    Equal to the card's ``load_mask(path)[frames]``. ``frames`` is a slice or a sequence of
    frame indices (negative ones count from the end; order and repeats are kept). Only the
    byte ranges of the requested frames are read or inflated; reading all frames also checks
    the member's CRC-32.

    Raises :class:`~sparkle_data.errors.CorruptMaskError` for a malformed file (see the module
    docstring for the rules), :class:`IndexError` for a frame index outside ``[-T, T)`` and
    :class:`TypeError` for frames that are not integers. ``max_pixels`` bounds ``H * W``;
    ``max_decoded_bytes`` bounds the array returned (frames x H x W bytes), checked from the
    headers before anything is inflated or allocated.
    """
    where = Where.of(source, name, sample_id)
    with open_source_file(source) as f:
        npz = _guarded(where, _open_npz, f, where, max_pixels)
        t, h, w = npz.info.shape
        idx = None if frames is None else _frame_indices(frames, t)
        n = t if idx is None else len(idx)
        check_decoded_bytes(
            n * h * w,
            max_decoded_bytes,
            error=CorruptMaskError,
            what="mask",
            shape=(n, h, w),
            path=where.path,
            member=where.member,
            sample_id=where.sample_id,
        )
        if idx is None:
            return _guarded(where, _read_all, f, npz, where)
        if idx.size == 0:
            return np.zeros((0, h, w), dtype=np.bool_)
        wanted = np.unique(idx)
        if wanted.size == t:
            # Every frame is needed: one read with the CRC check, then a gather.
            return _guarded(where, _read_all, f, npz, where)[idx]
        got = _guarded(where, _read_frames, f, npz, wanted, where)
        if wanted.size == idx.size and np.array_equal(wanted, idx):
            return got
        return got[np.searchsorted(wanted, idx)]


def _read_all(f: IO[bytes], npz: _Npz, where: Where) -> npt.NDArray[np.bool_]:
    t, h, w = npz.info.shape
    raw = read_npz_member(f, npz.mask, where, _zlib)
    packed = np.frombuffer(raw, dtype=np.uint8, count=npz.info.packed_bytes, offset=npz.data_start)
    return np.unpackbits(packed, count=t * h * w).view(np.bool_).reshape(t, h, w)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(where: Where, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call ``fn``; third-party parse errors become :class:`CorruptMaskError` (the boundary)."""
    try:
        return fn(*args, **kwargs)
    except SparkleError:
        raise
    except _FOREIGN_ERRORS as e:
        cause = e.__context__
        if isinstance(e, zipfile.BadZipFile) and isinstance(cause, OSError):
            # zipfile turns any OSError while finding the directory into BadZipFile;
            # an I/O failure (network, disk) is not corrupt data, so re-raise it as it was.
            raise cause from None
        raise _foreign(where, e) from e


def _foreign(where: Where, e: BaseException) -> CorruptMaskError:
    return where.error(
        CorruptMaskError,
        "mask NPZ",
        f"{type(e).__name__}: {e}",
        rule="cannot be parsed as the card's packed-bit NPZ",
    )
