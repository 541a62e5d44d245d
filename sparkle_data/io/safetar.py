"""Stream tar members safely: never ``extractall``, only regular files named by the layout.

The parser reads 512-byte headers itself, with ``tarfile``'s semantics (unsigned or signed
checksum, octal or GNU base-256 numbers, the ustar ``prefix`` field, V7 directories written as
names ending in ``/``) but about 5x faster than ``tarfile.TarInfo.frombuf``, and handles the
extension headers:

* **pax** (``x``: per member, ``g``: global): ``path`` and ``size`` override the header (pax
  ``size`` is how members over 8 GiB are written), other keys are ignored, ``GNU.sparse.*``
  is refused;
* **GNU** ``././@LongLink`` (``L`` long name, ``K`` long link name).

What is accepted, for every archive and in every error mode:

* regular files (types ``0``, ``\\0``, ``7``) whose name passes ``validate`` (by default
  :func:`~sparkle_data.layout.parse_member_name`: ``{edit_type}/{artifact}/{id}.{ext}``) and,
  when the shard name is known, belongs to that shard's edit type and artifact;
* directory entries whose path is a *prefix* of the layout (``location``,
  ``location/source_video``), as ``tar -cf shard.tar location/source_video`` writes them.
  They carry no data and are skipped.

Everything else raises :class:`~sparkle_data.errors.UnsafeArchiveError`: symbolic and hard
links, character and block devices, FIFOs, sparse/volume/unknown types, absolute or ``..``
names, names outside the layout, a name seen twice (``tarfile`` silently returns the last copy)
and extension headers larger than 1 MiB.

Damage raises :class:`~sparkle_data.errors.IntegrityError`: a corrupt header (bad checksum), an
archive cut inside a header or a member, and an archive that ends without its two zero
end-of-archive blocks (a tar cut at a member boundary: ``tarfile`` reads it back with **no
error** and fewer members). With ``report=SkipReport(on_error="skip")`` damage stops the
iteration instead, counted as ``truncated_shard``.
"""

from __future__ import annotations

import io
import re
import struct
import tarfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, Final

from sparkle_data.errors import IntegrityError, LayoutError, UnsafeArchiveError
from sparkle_data.layout import (
    MemberName,
    ShardName,
    artifact_spec,
    parse_edit_type,
    parse_member_name,
    validate_member_path,
)
from sparkle_data.policy import SkipReport

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_MAX_MEMBER_SIZE",
    "TarMember",
    "iter_tar_files",
    "iter_tar_members",
    "padded_size",
    "scan_tar",
    "tar_file_size",
    "tar_header",
    "tar_member_size",
]

BLOCK_SIZE: Final = 512
DEFAULT_MAX_MEMBER_SIZE: Final = 1 << 30
""":func:`iter_tar_files` refuses to load a member larger than this (1 GiB) into memory."""
MAX_EXTENSION_SIZE: Final = 1 << 20
_ZERO_BLOCK: Final = bytes(BLOCK_SIZE)
_REGULAR: Final = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_FORBIDDEN: Final = {
    tarfile.SYMTYPE: "symbolic links are not allowed",
    tarfile.LNKTYPE: "hard links are not allowed",
    tarfile.CHRTYPE: "character devices are not allowed",
    tarfile.BLKTYPE: "block devices are not allowed",
    tarfile.FIFOTYPE: "FIFOs are not allowed",
    tarfile.GNUTYPE_SPARSE: "sparse files are not supported",
}
_EXTENSIONS: Final = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE}
    | {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)


def padded_size(size: int) -> int:
    """``size`` rounded up to a whole number of 512-byte blocks."""
    return -(-size // BLOCK_SIZE) * BLOCK_SIZE


def tar_member_size(size: int) -> int:
    """Bytes one member of ``size`` bytes takes in a tar: its header plus padded data."""
    return BLOCK_SIZE + padded_size(size)


def tar_header(name: str, size: int, *, mtime: int) -> bytes:
    """The fixed USTAR header of a regular member: mode ``0o644``, owner 0, no user or group
    names, the given ``mtime``. Equal names, sizes and mtimes give equal bytes on any machine
    (what the exports and ``regen --pack`` write)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def tar_file_size(members_size: int) -> int:
    """Size of a tar whose members take ``members_size`` bytes: plus the two end blocks,
    padded to a whole record (10240 bytes), as ``tarfile`` and GNU tar write it."""
    return -(-(members_size + 2 * BLOCK_SIZE) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


@dataclass(frozen=True, slots=True)
class TarMember:
    """One regular file of a tar: its name and where its bytes are."""

    name: str
    header_offset: int
    """Offset of the first header block of the member (its pax/GNU headers included)."""
    offset: int
    """Offset of the member's first data byte."""
    size: int

    @property
    def end(self) -> int:
        """Offset just past the member's data."""
        return self.offset + self.size

    @property
    def next_header(self) -> int:
        """Offset of the next header (data padded to 512 bytes)."""
        return self.offset + padded_size(self.size)


class _Reader:
    """Sequential reads with seeks over data when the file allows them."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        try:
            self.seekable = bool(f.seekable())
        except (AttributeError, OSError, ValueError):
            self.seekable = False
        self.pos = f.tell() if self.seekable else 0
        self.total: int | None = None
        if self.seekable:
            self.total = f.seek(0, io.SEEK_END)
            f.seek(self.pos)

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at end of file."""
        chunks = []
        left = n
        while left > 0:
            chunk = self.f.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.pos += len(data)
        return data

    def skip_to(self, target: int) -> bool:
        """Move to ``target``; False if the file ends first (only detectable when streaming)."""
        if target == self.pos:
            return True
        if self.seekable:
            self.f.seek(target)
            self.pos = target
            return self.total is None or target <= self.total
        while self.pos < target:
            if not self.read(min(1 << 20, target - self.pos)):
                return False
        return True


def _parse_pax(data: bytes, where: str, offset: int) -> dict[str, str]:
    """Records ``"%d %s=%s\\n"`` of a pax extended header."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # NUL padding after the last record
            break
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            length = -1
        record = data[pos : pos + length] if space > pos and length > 0 else b""
        if not record.endswith(b"\n") or b"=" not in record[space - pos :]:
            raise IntegrityError.invalid(
                "pax header",
                bytes(data[pos : pos + 40]),
                rule=f"malformed record at offset {offset}",
                path=where,
            )
        key, _, value = record[space - pos + 1 : -1].partition(b"=")
        try:
            out[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeArchiveError.invalid(
                "pax header", record[:80], rule="keys and values must be UTF-8", path=where
            ) from None
        pos += length
    return out


def _is_zero(block: bytes) -> bool:
    return block == _ZERO_BLOCK


_SIGNED: Final = struct.Struct("148b8x356b")
_GNU_TYPES: Final = frozenset(
    {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.GNUTYPE_SPARSE}
)


class _HeaderError(ValueError):
    pass


def _number(field: bytes) -> int:
    """A numeric header field: NUL/space-terminated octal, or GNU base-256."""
    if field[0] in (0o200, 0o377):
        n = int.from_bytes(field[1:], "big")
        return n - 256 ** (len(field) - 1) if field[0] == 0o377 else n
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise _HeaderError(f"invalid number {field!r}") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _parse_header(block: bytes) -> tuple[str, int, bytes]:
    """``(name, size, type)`` of one 512-byte header (same rules as ``TarInfo.frombuf``)."""
    stored = _number(block[148:156])
    unsigned = sum(block) - sum(block[148:156]) + 256
    if stored != unsigned and stored != sum(_SIGNED.unpack_from(block)) + 256:
        raise _HeaderError("bad checksum")
    name = _text(block[0:100])
    size = _number(block[124:136])
    kind = block[156:157]
    if kind == tarfile.AREGTYPE and name.endswith("/"):
        kind = tarfile.DIRTYPE
    if kind == tarfile.DIRTYPE:
        name = name.rstrip("/")
    prefix = block[345:500]
    if prefix[0] and kind not in _GNU_TYPES:
        name = _text(prefix) + "/" + name
    return name, size, kind


def _check_dir(name: str, shard: ShardName | None, where: str) -> None:
    """A directory entry must be ``{edit_type}`` or ``{edit_type}/{artifact}``."""
    try:
        validate_member_path(name)
        parts = name.split("/")
        if len(parts) > 2:
            raise LayoutError("deeper than {edit_type}/{artifact}")
        edit_type = parse_edit_type(parts[0])
        artifact = artifact_spec(parts[1]).name if len(parts) == 2 else None
    except LayoutError as e:
        rule = "directories must be a prefix of {edit_type}/{artifact}/"
        raise _unsafe("directory entry", name, where, rule, hint=str(e)) from e
    if shard is not None and (
        edit_type != shard.edit_type or (artifact is not None and artifact != shard.artifact)
    ):
        raise _unsafe("directory entry", name, where, f"does not belong to shard {shard}")


def _fast_name_check(
    validate: Callable[[str], object], shard: ShardName | None
) -> re.Pattern[str] | None:
    """For the default validator and a known shard: the one regex a valid member matches
    (``parse_member_name`` would accept exactly these names, so it can be skipped)."""
    if shard is None or validate is not parse_member_name:
        return None
    ext = artifact_spec(shard.artifact).extension
    et = shard.edit_type
    return re.compile(rf"{et}/{shard.artifact}/Sparkle_{et}_[0-9]{{6}}\.{ext}")


def _check_name(
    name: str,
    validate: Callable[[str], object],
    shard: ShardName | None,
    where: str,
) -> None:
    try:
        parsed = validate(name)
    except LayoutError as e:
        rule = "name does not match the layout {edit_type}/{artifact}/{id}.{ext}"
        raise _unsafe("tar member", name, where, rule, hint=str(e)) from e
    if (
        shard is not None
        and isinstance(parsed, MemberName)
        and (parsed.sample_id.edit_type != shard.edit_type or parsed.artifact != shard.artifact)
    ):
        rule = f"does not belong to shard {shard} ({shard.edit_type}/{shard.artifact}/...)"
        raise _unsafe("tar member", name, where, rule, sample_id=str(parsed.sample_id))


def _unsafe(
    what: str,
    name: str,
    where: str,
    rule: str,
    *,
    hint: str | None = None,
    sample_id: str | None = None,
) -> UnsafeArchiveError:
    """The error of a member or folder entry ``name`` of the shard at ``where``."""
    return UnsafeArchiveError.invalid(
        what, name, rule=rule, hint=hint, path=where, member=name, sample_id=sample_id
    )


def _damage(rule: str, where: str, offset: int, member: str | None = None) -> IntegrityError:
    return IntegrityError.invalid(
        "tar archive", f"at byte {offset}", rule=rule, path=where, member=member
    )


def _scan(
    reader: _Reader,
    *,
    where: str,
    validate: Callable[[str], object],
    shard: ShardName | None,
) -> Generator[TarMember, None, int]:
    """Yield validated regular members; returns the offset of the end-of-archive marker.

    After each yield the scan continues at the member's padded end, whether or not the caller
    read its data through ``reader``.
    """
    seen: set[str] = set()
    fast = _fast_name_check(validate, shard)
    pending: dict[str, str] = {}
    global_pax: dict[str, str] = {}
    chain_start: int | None = None  # first pax/GNU header of the member being read
    pos = reader.pos
    while True:
        header_offset = pos
        block = reader.read(BLOCK_SIZE)
        if len(block) < BLOCK_SIZE:
            if not block and not pending:
                rule = (
                    "ends without its two zero end-of-archive blocks "
                    "(truncated at a member boundary?)"
                )
            else:
                rule = "ends inside a header (truncated)"
            raise _damage(rule, where, header_offset)
        if _is_zero(block):
            if pending:
                raise _damage("an extension header is not followed by a member", where, pos)
            second = reader.read(BLOCK_SIZE)
            if not _is_zero(second) or len(second) < BLOCK_SIZE:
                raise _damage(
                    "has a lone zero block instead of two end-of-archive blocks (truncated?)",
                    where,
                    header_offset,
                )
            return header_offset
        try:
            header_name, header_size, kind = _parse_header(block)
        except _HeaderError as e:
            raise _damage(f"corrupt header ({e})", where, header_offset) from e
        data_offset = header_offset + BLOCK_SIZE
        if kind in _EXTENSIONS:
            if not 0 <= header_size <= MAX_EXTENSION_SIZE:
                raise UnsafeArchiveError.invalid(
                    "extension header size",
                    header_size,
                    rule=f"must be at most {MAX_EXTENSION_SIZE} bytes",
                    path=where,
                )
            data = reader.read(header_size)
            if len(data) < header_size:
                raise _damage("ends inside an extension header (truncated)", where, data_offset)
            if kind in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK) and chain_start is None:
                chain_start = header_offset
            if kind == tarfile.GNUTYPE_LONGNAME:
                pending["path"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif kind == tarfile.GNUTYPE_LONGLINK:
                pending["linkpath"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            else:
                records = _parse_pax(data, where, header_offset)
                if any(k.startswith("GNU.sparse.") for k in records):
                    raise UnsafeArchiveError.invalid(
                        "pax header",
                        sorted(records),
                        rule="GNU sparse files are not supported",
                        path=where,
                    )
                (global_pax if kind == tarfile.XGLTYPE else pending).update(records)
            if kind != tarfile.XGLTYPE and chain_start is None:
                chain_start = header_offset
            pos = data_offset + padded_size(header_size)
            if not reader.skip_to(pos):
                raise _damage("ends inside an extension header (truncated)", where, data_offset)
            continue

        fields = {**global_pax, **pending}
        pending.clear()
        name = fields.get("path", header_name)
        size = header_size
        if "size" in fields:
            try:
                size = int(fields["size"])
            except ValueError:
                raise _damage(
                    f"invalid pax size {fields['size']!r}", where, header_offset
                ) from None
        if size < 0:
            raise _damage(f"negative member size {size}", where, header_offset, name)
        member_start = header_offset if chain_start is None else chain_start
        chain_start = None
        if kind == tarfile.DIRTYPE:
            name = name.rstrip("/")
            _check_dir(name, shard, where)
            if size:
                raise UnsafeArchiveError.invalid(
                    "directory entry", name, rule="directories carry no data", path=where
                )
            pos = data_offset
            continue
        if kind not in _REGULAR:
            rule = _FORBIDDEN.get(kind, f"unsupported member type {kind!r}")
            raise _unsafe("tar member", name, where, rule)
        if name in seen:
            rule = "duplicate name (readers would silently see only one copy)"
            raise _unsafe("tar member", name, where, rule)
        if fast is None or fast.fullmatch(name) is None:
            _check_name(name, validate, shard, where)
        seen.add(name)
        if reader.total is not None and data_offset + size > reader.total:
            raise _damage(
                f"truncated inside member data ({size} bytes at {data_offset}, file has "
                f"{reader.total} bytes)",
                where,
                data_offset,
                name,
            )
        yield TarMember(name, member_start, data_offset, size)
        pos = data_offset + padded_size(size)
        if not reader.skip_to(pos):
            raise _damage("truncated inside member data", where, reader.pos, name)


def _where(f: IO[bytes], name: str | None) -> str:
    if name is not None:
        return name
    return str(getattr(f, "name", "<tar stream>"))


def _shard_of(shard: ShardName | str | None) -> ShardName | None:
    if shard is None or isinstance(shard, ShardName):
        return shard
    from sparkle_data.layout import parse_shard_name

    return parse_shard_name(shard)


def iter_tar_members(
    fileobj: IO[bytes],
    *,
    name: str | None = None,
    shard: ShardName | str | None = None,
    validate: Callable[[str], object] = parse_member_name,
    report: SkipReport | None = None,
) -> Iterator[TarMember]:
    """Yield each regular member (name, offset, size) without reading member data.

    ``fileobj`` is any binary file: seekable ones (local files, :class:`RangeFile`) are
    scanned by hopping from header to header; others (pipes, HTTP streams) are read through.
    Scanning starts at the current position; offsets are positions in ``fileobj`` (for a
    non-seekable stream: counted from the first byte read).
    ``name`` is the shard path used in error messages; ``shard`` (a shard name) also requires
    every member to belong to that shard's edit type and artifact. See the module docstring
    for what raises.
    """
    where = _where(fileobj, name)
    scan = _scan(_Reader(fileobj), where=where, validate=validate, shard=_shard_of(shard))
    try:
        yield from scan
    except IntegrityError as e:
        _handle_damage(e, report)


def _handle_damage(error: IntegrityError, report: SkipReport | None) -> None:
    if report is None:
        raise error
    report.handle(error, "truncated_shard")


def iter_tar_files(
    fileobj: IO[bytes],
    *,
    name: str | None = None,
    shard: ShardName | str | None = None,
    validate: Callable[[str], object] = parse_member_name,
    max_member_size: int | None = DEFAULT_MAX_MEMBER_SIZE,
    report: SkipReport | None = None,
) -> Iterator[tuple[TarMember, bytes]]:
    """Yield ``(member, data)`` for each regular member, reading the archive once, in order.

    A member larger than ``max_member_size`` raises :class:`IntegrityError` before anything
    is allocated (or is skipped and counted as ``oversized_member`` under a lenient
    ``report``). Same safety rules as :func:`iter_tar_members`.
    """
    where = _where(fileobj, name)
    reader = _Reader(fileobj)
    scan = _scan(reader, where=where, validate=validate, shard=_shard_of(shard))
    try:
        for member in scan:
            if max_member_size is not None and member.size > max_member_size:
                error = IntegrityError.invalid(
                    "member size",
                    member.size,
                    rule=f"exceeds max_member_size={max_member_size}",
                    hint="Pass a larger max_member_size, or use open_member() to stream it.",
                    path=where,
                    member=member.name,
                )
                if report is None:
                    raise error
                report.handle(error, "oversized_member")
                continue
            data = reader.read(member.size)
            if len(data) < member.size:
                raise _damage(
                    f"truncated inside member data ({len(data)} of {member.size} bytes)",
                    where,
                    member.offset + len(data),
                    member.name,
                )
            yield member, data
    except IntegrityError as e:
        _handle_damage(e, report)


def scan_tar(
    fileobj: IO[bytes],
    *,
    name: str | None = None,
    shard: ShardName | str | None = None,
    validate: Callable[[str], object] = parse_member_name,
    report: SkipReport | None = None,
) -> tuple[list[TarMember], int | None]:
    """All members and the offset of the end-of-archive marker, by header hops.

    Damage raises :class:`IntegrityError`; under a lenient ``report`` it is counted as
    ``truncated_shard`` and the members before the damage are returned with ``None`` as the
    end offset.
    """
    where = _where(fileobj, name)
    scan = _scan(_Reader(fileobj), where=where, validate=validate, shard=_shard_of(shard))
    members: list[TarMember] = []
    while True:
        try:
            members.append(next(scan))
        except StopIteration as stop:
            return members, int(stop.value)
        except IntegrityError as e:
            _handle_damage(e, report)
            return members, None
