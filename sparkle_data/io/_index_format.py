"""The index file format (``docs/io.md`` is normative): :func:`encode_indexes` and
:func:`decode_indexes` turn shard indexes into the versioned binary container and back (no
I/O). Documented import path: :mod:`sparkle_data.io.index`."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from sparkle_data._version import __version__
from sparkle_data.errors import IntegrityError
from sparkle_data.io._index_model import IndexEntry, ShardIndex
from sparkle_data.io.safetar import BLOCK_SIZE

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGIC",
    "READ_VERSIONS",
    "decode_indexes",
    "encode_indexes",
]

FORMAT_NAME: Final = "sparkle-data/tar-index"
FORMAT_VERSION: Final = 2
"""Newest container version written: 2 when any entry has a checksum, else 1 (which every
reader of version 1 understands). Readers accept 1 and 2."""
READ_VERSIONS: Final = (1, 2)
MAGIC: Final = b"SPRKLIDX"
_CHECKSUM_SIZE: Final = 32
_NAME_RE_DIGITS: Final = 6


def _shuffle(values: npt.NDArray[np.uint64]) -> bytes:
    """uint64 column -> its 8 byte planes, least significant first (compresses well)."""
    planes: npt.NDArray[np.uint8] = np.ascontiguousarray(values, dtype="<u8").view(np.uint8)
    return bytes(planes.reshape(-1, 8).T.tobytes())


def _unshuffle(raw: bytes, count: int) -> npt.NDArray[np.int64]:
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(8, count)
    values: npt.NDArray[np.uint64] = np.ascontiguousarray(planes.T).view("<u8").reshape(count)
    return values.astype(np.int64)


def _zigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    return ((values << 1) ^ (values >> 63)).astype(np.uint64)


def _unzigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    u = values.astype(np.uint64)
    half: npt.NDArray[np.int64] = (u >> np.uint64(1)).astype(np.int64)
    sign: npt.NDArray[np.int64] = (u & np.uint64(1)).astype(np.int64)
    return half ^ -sign


def _name_pattern(names: Sequence[str]) -> tuple[str, str] | None:
    """(prefix, suffix) when every name is ``prefix + 6 digits + suffix``."""
    if not names:
        return None
    first = names[0]
    stem, dot, ext = first.rpartition(".")
    suffix = dot + ext if dot else ""
    prefix = stem[:-_NAME_RE_DIGITS]
    n = len(prefix)
    for name in names:
        digits = name[n : n + _NAME_RE_DIGITS]
        if (
            len(name) != n + _NAME_RE_DIGITS + len(suffix)
            or not name.startswith(prefix)
            or not name.endswith(suffix)
            or not (digits.isascii() and digits.isdigit())
        ):
            return None
    return prefix, suffix


def _encode_shard(index: ShardIndex) -> tuple[dict[str, Any], bytes]:
    names = [e.name for e in index.entries]
    count = len(names)
    sizes = np.fromiter((e.size for e in index.entries), dtype=np.int64, count=count)
    offsets = np.fromiter((e.offset for e in index.entries), dtype=np.int64, count=count)
    base = _base_offsets(sizes)
    gaps = np.diff(offsets - base, prepend=0)
    if (gaps < 0).any():  # ShardIndex.__post_init__ already forbids this
        raise ValueError("member offsets must increase with a header before each member")
    columns = [sizes.astype(np.uint64), gaps.astype(np.uint64)]
    crcs = [e.crc32 for e in index.entries]
    checksummed = bool(crcs) and all(c is not None for c in crcs)
    if not checksummed and any(c is not None for c in crcs):
        raise ValueError(f"Shard {index.shard!r}: either every entry has a checksum or none.")
    if checksummed:
        columns.append(np.fromiter((int(c or 0) for c in crcs), dtype=np.uint64, count=count))
    pattern = _name_pattern(names)
    if pattern is not None:
        prefix, suffix = pattern
        start = len(prefix)
        ids = np.fromiter(
            (int(n[start : start + _NAME_RE_DIGITS]) for n in names), dtype=np.int64, count=count
        )
        columns.insert(0, _zigzag(np.diff(ids, prepend=0)))
        names_meta: dict[str, Any] = {"mode": "pattern", "prefix": prefix, "suffix": suffix}
        tail = b""
    else:
        if any("\0" in n for n in names):
            raise ValueError("member names must not contain NUL")
        names_meta = {"mode": "list"}
        tail = "\0".join(names).encode("utf-8")
    raw = b"".join(_shuffle(c) for c in columns) + tail
    payload = zlib.compress(raw, 9)
    meta = {
        "shard": index.shard,
        "source": index.source,
        "size": index.shard_size,
        "etag": index.etag,
        "sha256": index.sha256,
        "end": index.end_offset,
        "count": count,
        "names": names_meta,
        "columns": (["id_delta"] if pattern else [])
        + ["size", "gap"]
        + (["crc32"] if checksummed else []),
        "codec": "zlib",
        "raw_length": len(raw),
    }
    return meta, payload


def _base_offsets(sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Data offsets if every member had exactly one 512-byte header and no gap."""
    padded = (sizes + (BLOCK_SIZE - 1)) // BLOCK_SIZE * BLOCK_SIZE
    before = np.concatenate(([0], np.cumsum(padded)[:-1])).astype(np.int64)
    return BLOCK_SIZE * (np.arange(len(sizes), dtype=np.int64) + 1) + before


def encode_indexes(indexes: Iterable[ShardIndex]) -> bytes:
    """Serialise one or more shard indexes into the container of ``docs/io.md``: version 1,
    or version 2 when entries carry checksums."""
    metas = []
    payloads = []
    offset = 0
    seen = set()
    version = 1
    for index in indexes:
        if index.shard in seen:
            raise ValueError(f"Shard {index.shard!r} appears twice in one index file.")
        seen.add(index.shard)
        meta, payload = _encode_shard(index)
        if "crc32" in meta["columns"]:
            version = 2
        meta["payload"] = [offset, len(payload)]
        offset += len(payload)
        metas.append(meta)
        payloads.append(payload)
    header = {
        "format": FORMAT_NAME,
        "version": version,
        "created_by": f"sparkle-data {__version__}",
        "shards": metas,
    }
    hjson = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    body = MAGIC + struct.pack("<I", len(hjson)) + hjson + b"".join(payloads)
    return body + hashlib.sha256(body).digest()


def _bad(where: str, rule: str, value: object = None) -> IntegrityError:
    shown = value if value is not None else where
    return IntegrityError.invalid("index file", shown, rule=rule, path=where)


def decode_indexes(data: bytes, *, where: str = "<index>") -> list[ShardIndex]:
    """Parse a version-1 or -2 index container; :class:`IntegrityError` on any damage."""
    head = len(MAGIC) + 4
    if len(data) < head + _CHECKSUM_SIZE or not data.startswith(MAGIC):
        raise _bad(where, "not a sparkle-data index (bad magic or too short)")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
    if head + hlen + _CHECKSUM_SIZE > len(data):
        raise _bad(where, "header length beyond the end of the file (truncated?)")
    try:
        header = json.loads(data[head : head + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(where, f"header is not valid JSON ({e})") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _bad(where, f"header does not declare format {FORMAT_NAME!r}")
    version = header.get("version")
    if version not in READ_VERSIONS:
        raise IntegrityError.invalid(
            "index format version",
            version,
            rule=f"this sparkle-data ({__version__}) reads versions "
            f"{', '.join(map(str, READ_VERSIONS))} only",
            hint="Upgrade sparkle-data to read it, or rebuild the index with this version.",
            path=where,
        )
    body, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
    if hashlib.sha256(body).digest() != checksum:
        raise _bad(where, "checksum mismatch (corrupt or truncated file)")
    payload = memoryview(data)[head + hlen : len(data) - _CHECKSUM_SIZE]
    shards = header.get("shards")
    if not isinstance(shards, list):
        raise _bad(where, "header has no shard list")
    try:
        return [_decode_shard(meta, payload, where) for meta in shards]
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, IntegrityError):
            raise
        raise _bad(where, f"malformed shard entry ({type(e).__name__}: {e})") from e


def _decode_shard(meta: dict[str, Any], payload: memoryview, where: str) -> ShardIndex:
    count = int(meta["count"])
    start, length = (int(x) for x in meta["payload"])
    if count < 0 or start < 0 or length < 0 or start + length > len(payload):
        raise _bad(where, "payload range out of bounds", meta.get("shard"))
    if meta.get("codec") != "zlib":
        raise _bad(where, f"unknown codec {meta.get('codec')!r}", meta.get("shard"))
    names_meta = meta["names"]
    mode = names_meta["mode"]
    columns = list(meta["columns"])
    expected = (["id_delta"] if mode == "pattern" else []) + ["size", "gap"]
    checksummed = columns[-1:] == ["crc32"]
    if checksummed:
        expected.append("crc32")
    if columns != expected or mode not in ("pattern", "list"):
        raise _bad(where, f"unknown column layout {columns!r} / {mode!r}", meta.get("shard"))
    raw_length = int(meta["raw_length"])
    numeric = 8 * count * len(columns)
    if raw_length < numeric or (mode == "pattern" and raw_length != numeric):
        raise _bad(where, "raw length disagrees with the member count", meta.get("shard"))
    inflater = zlib.decompressobj()
    raw = inflater.decompress(payload[start : start + length], raw_length + 1)
    if len(raw) != raw_length or not inflater.eof:
        raise _bad(where, "payload does not inflate to its declared length", meta.get("shard"))
    cols = [
        _unshuffle(raw[i * 8 * count : (i + 1) * 8 * count], count) for i in range(len(columns))
    ]
    crcs: list[int | None] = [None] * count
    if checksummed:
        crcs = cols.pop().tolist()
    sizes, gaps = cols[-2], cols[-1]
    if count and ((sizes < 0).any() or (gaps < 0).any()):
        raise _bad(where, "negative size or gap", meta.get("shard"))
    offsets = _base_offsets(sizes) + np.cumsum(gaps)
    if mode == "pattern":
        ids = np.cumsum(_unzigzag(cols[0]))
        if count and (ids.min() < 0 or ids.max() >= 10**_NAME_RE_DIGITS):
            raise _bad(where, "sample index out of range", meta.get("shard"))
        prefix, suffix = str(names_meta["prefix"]), str(names_meta["suffix"])
        names = [f"{prefix}{i:06d}{suffix}" for i in ids.tolist()]
    else:
        text = raw[numeric:].decode("utf-8")
        names = text.split("\0") if count else []
        if len(names) != count:
            raise _bad(where, "name list disagrees with the member count", meta.get("shard"))
    if len(set(names)) != count:
        raise _bad(where, "duplicate member names", meta.get("shard"))
    entries = tuple(
        IndexEntry(n, o, s, c)
        for n, o, s, c in zip(names, offsets.tolist(), sizes.tolist(), crcs, strict=True)
    )
    end = meta.get("end")
    return ShardIndex(
        shard=str(meta["shard"]),
        shard_size=int(meta["size"]),
        entries=entries,
        end_offset=None if end is None else int(end),
        etag=meta.get("etag"),
        sha256=meta.get("sha256"),
        source=meta.get("source"),
    )

