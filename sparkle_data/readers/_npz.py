"""The NPZ container of a mask: zip members and ``.npy`` headers, read without trusting a size
(private; the rules are in :mod:`sparkle_data.readers.mask`'s docstring, steps 1 and 2).

:func:`locate_members` checks the zip directory and local headers and bounds each member
before anything is inflated; :func:`read_npz_member` reads a member whole (CRC checked) and
:func:`iter_npz_member` a byte range of it; :func:`npy_header_bytes` and
:func:`parse_npy_header` read a member's ``.npy`` header by hand. Every inflate goes through
the ``inflate`` module the caller hands in (zlib or a faster compatible one).
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import IO, Final

import numpy as np

from sparkle_data.errors import CorruptMaskError
from sparkle_data.layout import MAX_FRAMES
from sparkle_data.readers._source import Where, source_size

__all__ = [
    "MAX_NPY_HEADER",
    "NPY_PREAMBLE",
    "Member",
    "iter_npz_member",
    "locate_members",
    "npy_header_bytes",
    "parse_npy_header",
    "read_npz_member",
]

_MEMBERS: Final = ("mask.npy", "shape.npy")
MAX_NPY_HEADER: Final = 10_000
"""numpy's own default ``max_header_size``; a longer header is refused."""
NPY_PREAMBLE: Final = 12
"""Magic (6) + version (2) + header length (at most 4)."""
_MAX_DEFLATE_RATIO: Final = 1100
"""Deflate cannot expand more than ~1032:1, so a larger declared ratio is a forged size."""
_IN_BLOCK_MIN: Final = 4 * 1024
_IN_BLOCK: Final = 64 * 1024
_OUT_CHUNK: Final = 1 << 20
_LOCAL_HEADER: Final = struct.Struct("<4s22xHH")
_LOCAL_MAGIC: Final = b"PK\x03\x04"



@dataclass(frozen=True, slots=True)
class Member:
    """One zip member as the central directory and local header place it."""

    name: str
    deflated: bool
    data_offset: int
    """Absolute offset of the member's (compressed) bytes in the file."""
    compress_size: int
    file_size: int
    crc: int


def _member_limit(name: str, max_pixels: int) -> int:
    if name == "shape.npy":
        return NPY_PREAMBLE + MAX_NPY_HEADER + 3 * 16
    return NPY_PREAMBLE + MAX_NPY_HEADER + math.ceil(MAX_FRAMES * max_pixels / 8)


def locate_members(f: IO[bytes], where: Where, max_pixels: int) -> dict[str, Member]:
    size = source_size(f)
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
    names = sorted(i.filename for i in infos)
    if names != sorted(_MEMBERS):
        raise where.error(
            CorruptMaskError,
            "mask NPZ members",
            names,
            rule="must be exactly ['mask.npy', 'shape.npy']",
        )
    members: dict[str, Member] = {}
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise where.error(CorruptMaskError, "mask NPZ member", name, rule="is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise where.error(
                CorruptMaskError,
                "mask NPZ member",
                name,
                rule=f"uses compression method {info.compress_type}; only stored (0) and "
                "deflated (8) are read",
            )
        deflated = info.compress_type == zipfile.ZIP_DEFLATED
        limit = _member_limit(name, max_pixels)
        if info.file_size > limit:
            raise where.error(
                CorruptMaskError,
                f"declared size of {name}",
                info.file_size,
                rule=f"exceeds the {limit}-byte bound for max_pixels={max_pixels}",
                hint="Refused before inflating (zip bomb or hostile header).",
            )
        if not deflated and info.compress_size != info.file_size:
            raise where.error(
                CorruptMaskError,
                f"sizes of stored member {name}",
                (info.compress_size, info.file_size),
                rule="a stored member's compressed and uncompressed sizes must be equal",
            )
        if deflated and info.file_size > _MAX_DEFLATE_RATIO * max(info.compress_size, 1):
            raise where.error(
                CorruptMaskError,
                f"compression ratio of {name}",
                f"{info.file_size}/{info.compress_size}",
                rule=f"exceeds {_MAX_DEFLATE_RATIO}:1, more than deflate can produce",
                hint="Refused before inflating (zip bomb or forged size).",
            )
        f.seek(info.header_offset)
        raw = f.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size:
            raise where.error(
                CorruptMaskError, "local header of", name, rule="the file is truncated"
            )
        magic, name_len, extra_len = _LOCAL_HEADER.unpack(raw)
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        local_name = f.read(name_len).decode(encoding)
        if magic != _LOCAL_MAGIC or local_name != info.orig_filename:
            raise where.error(
                CorruptMaskError,
                "local header of",
                name,
                rule="does not match the central directory (bad magic or name)",
            )
        data_offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if data_offset + info.compress_size > size:
            raise where.error(
                CorruptMaskError,
                f"extent of {name}",
                (data_offset, info.compress_size),
                rule=f"runs past the end of the {size}-byte file (truncated)",
            )
        members[name] = Member(
            name, deflated, data_offset, info.compress_size, info.file_size, info.CRC
        )
    return members


def read_npz_member(f: IO[bytes], m: Member, where: Where, inflate: ModuleType) -> bytes:
    """The whole uncompressed member, with its length and CRC checked (``inflate``: a
    zlib-compatible module)."""
    f.seek(m.data_offset)
    comp = f.read(m.compress_size)
    if len(comp) != m.compress_size:
        raise where.error(CorruptMaskError, "member", m.name, rule="is truncated")
    if m.deflated:
        d = inflate.decompressobj(-zlib.MAX_WBITS)
        out = d.decompress(comp, m.file_size) if m.file_size else b""
        if d.unconsumed_tail and d.decompress(d.unconsumed_tail, 1):
            raise where.error(
                CorruptMaskError,
                "member",
                m.name,
                rule=f"inflates to more than its declared {m.file_size} bytes",
            )
        if len(out) != m.file_size or not d.eof:
            raise where.error(
                CorruptMaskError,
                "member",
                m.name,
                rule=f"inflates to {len(out)} bytes, not the declared {m.file_size} "
                "(truncated or corrupt deflate stream)",
            )
    else:
        out = comp
    crc = inflate.crc32(out)
    if crc != m.crc:
        raise where.error(
            CorruptMaskError,
            "CRC-32 of",
            m.name,
            rule=f"is {crc:08x}, the zip directory says {m.crc:08x}",
        )
    return out


def iter_npz_member(
    f: IO[bytes], m: Member, start: int, stop: int, where: Where, inflate: ModuleType
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, piece)`` covering ``[start, stop)`` of the uncompressed member.

    Stored: one read at the range's offset. Deflated: a streaming inflate in bounded steps
    that discards output before ``start`` and stops at ``stop``. No CRC (the member is not
    read whole); lengths are still checked.
    """
    if stop <= start:
        return
    if not m.deflated:
        f.seek(m.data_offset + start)
        piece = f.read(stop - start)
        if len(piece) != stop - start:
            raise where.error(CorruptMaskError, "member", m.name, rule="is truncated")
        yield start, piece
        return
    f.seek(m.data_offset)
    left = m.compress_size
    d = inflate.decompressobj(-zlib.MAX_WBITS)
    pos = 0
    data = b""
    block = _IN_BLOCK_MIN  # grows: a header read costs a few KB, a long read 64 KB steps
    while pos < stop:
        if not data:
            if left <= 0:
                break
            data = f.read(min(block, left))
            if not data:
                break
            left -= len(data)
            block = min(2 * block, _IN_BLOCK)
        out = d.decompress(data, min(_OUT_CHUNK, stop - pos))
        data = d.unconsumed_tail
        if out:
            end = pos + len(out)
            if end > start:
                yield pos, out
            pos = end
        elif d.eof:
            break
    if pos < stop:
        raise where.error(
            CorruptMaskError,
            "member",
            m.name,
            rule=f"inflates to only {pos} bytes, {stop} needed (truncated or corrupt)",
        )


def npy_header_bytes(f: IO[bytes], m: Member, where: Where, inflate: ModuleType) -> bytes:
    """The magic, version, length and header text of a ``.npy`` member, nothing more."""

    def prefix(n: int) -> bytes:
        pieces = iter_npz_member(f, m, 0, min(n, m.file_size), where, inflate)
        return b"".join(piece for _, piece in pieces)

    pre = prefix(NPY_PREAMBLE)
    if pre[6:8] == b"\x01\x00" and len(pre) >= 10:
        total = 10 + struct.unpack("<H", pre[8:10])[0]
    elif pre[6:8] == b"\x02\x00" and len(pre) >= 12:
        total = 12 + struct.unpack("<I", pre[8:12])[0]
    else:
        return pre  # let numpy name the problem (bad magic, version or length)
    if total > NPY_PREAMBLE + MAX_NPY_HEADER:
        raise where.error(
            CorruptMaskError,
            f".npy header length of {m.name}",
            total,
            rule=f"exceeds {MAX_NPY_HEADER} bytes",
        )
    return prefix(total)


def parse_npy_header(
    prefix: bytes, m: Member, where: Where
) -> tuple[np.dtype[np.generic], tuple[int, ...], int]:
    buf = io.BytesIO(prefix)
    version = np.lib.format.read_magic(buf)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            buf, max_header_size=MAX_NPY_HEADER
        )
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(
            buf, max_header_size=MAX_NPY_HEADER
        )
    else:
        raise where.error(
            CorruptMaskError, f".npy version of {m.name}", version, rule="must be 1.0 or 2.0"
        )
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise where.error(
            CorruptMaskError,
            f"dtype of {m.name}",
            dtype.str,
            rule="must be a plain numeric dtype (object arrays are never unpickled)",
        )
    if fortran:
        raise where.error(
            CorruptMaskError, f"header of {m.name}", "fortran_order=True", rule="must be C order"
        )
    return dtype, tuple(int(s) for s in shape), buf.tell()
