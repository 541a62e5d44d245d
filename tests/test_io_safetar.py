"""Safe tar streaming: every bad archive is built here with ``tarfile`` (no binaries)."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.errors import IntegrityError, UnsafeArchiveError
from sparkle_data.io.safetar import (
    BLOCK_SIZE,
    _parse_header,
    iter_tar_files,
    iter_tar_members,
    padded_size,
    scan_tar,
)
from sparkle_data.layout import validate_member_path
from sparkle_data.policy import SkipReport

SHARD = "location_source_video_part00.tar"


def name(i: int, edit_type: str = "location", artifact: str = "source_video") -> str:
    ext = "mp4" if "video" in artifact else "png"
    return f"{edit_type}/{artifact}/Sparkle_{edit_type}_{i:06d}.{ext}"


def add(
    tf: tarfile.TarFile,
    member: str,
    data: bytes = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    linkname: str = "",
    pax: dict[str, str] | None = None,
) -> None:
    ti = tarfile.TarInfo(member)
    ti.type = kind
    ti.linkname = linkname
    ti.mode = 0o644
    if pax:
        ti.pax_headers = pax
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make_tar(
    members: list[tuple[str, bytes]],
    *,
    fmt: int = tarfile.GNU_FORMAT,
    dirs: bool = True,
    extra: list[tuple[str, bytes, bytes, str]] | None = None,
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        if dirs:
            add(tf, "location", kind=tarfile.DIRTYPE)
            add(tf, "location/source_video", kind=tarfile.DIRTYPE)
        for member, data in members:
            add(tf, member, data)
        for member, data, kind, link in extra or []:
            add(tf, member, data, kind=kind, linkname=link)
    return buf.getvalue()


def good_members(n: int = 3) -> list[tuple[str, bytes]]:
    return [(name(i), bytes([i % 251]) * (100 * i + 7)) for i in range(n)]


def scan(data: bytes, **kwargs: object) -> list[tuple[str, bytes]]:
    return [(m.name, d) for m, d in iter_tar_files(io.BytesIO(data), shard=SHARD, **kwargs)]  # type: ignore[arg-type]


class Stream(io.RawIOBase):
    """A non-seekable stream (a pipe, an HTTP body)."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        chunk = self._f.read(min(len(b), 1000))
        b[: len(chunk)] = chunk
        return len(chunk)


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_regular_members_match_tarfile(fmt: int) -> None:
    members = good_members(5)
    data = make_tar(members, fmt=fmt)
    assert scan(data) == members
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        expected = {m.name: m.offset_data for m in tf.getmembers() if m.isfile()}
    got = {m.name: m.offset for m in iter_tar_members(io.BytesIO(data), shard=SHARD)}
    assert got == expected


def test_directory_entries_that_prefix_the_layout_are_skipped() -> None:
    data = make_tar(good_members(2), dirs=True)
    assert [n for n, _ in scan(data)] == [name(0), name(1)]


def test_streaming_non_seekable_source() -> None:
    members = good_members(4)
    data = make_tar(members)
    assert [(m.name, d) for m, d in iter_tar_files(Stream(data), shard=SHARD)] == members  # type: ignore[arg-type]
    assert [m.size for m in iter_tar_members(Stream(data))] == [len(d) for _, d in members]  # type: ignore[arg-type]


def test_gnu_long_name_and_pax_path() -> None:
    long = "x/" + "a" * 150 + ".bin"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
            add(tf, long, b"hello")
        raw = buf.getvalue()
        if fmt == tarfile.GNU_FORMAT:
            assert b"././@LongLink" in raw
        got = list(iter_tar_files(io.BytesIO(raw), validate=validate_member_path))
        assert [(m.name, d) for m, d in got] == [(long, b"hello")]
        assert got[0][0].header_offset == 0  # the member starts at its extension header
        assert got[0][0].offset > BLOCK_SIZE


def test_pax_path_overrides_header_name_and_global_headers_are_read() -> None:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "made here"}
    ) as tf:
        add(tf, "garbage-name", b"abc", pax={"path": name(3)})
    assert scan(buf.getvalue()) == [(name(3), b"abc")]
    # and a pax path cannot smuggle an unsafe name behind a valid ustar name
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        add(tf, name(3), b"abc", pax={"path": "../evil"})
    with pytest.raises(UnsafeArchiveError, match="evil"):
        scan(buf.getvalue())


def _with_size_field(header: bytes, field: bytes) -> bytes:
    block = bytearray(header)
    block[124:136] = field
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def test_pax_size_and_base256_size() -> None:
    payload = b"z" * 700
    # pax size overrides a zero ustar size (how members > 8 GiB are written)
    ti = tarfile.TarInfo(name(1))
    ti.size = 0
    ti.pax_headers = {"size": str(len(payload))}
    headers = ti.tobuf(tarfile.PAX_FORMAT)
    raw = headers + payload + bytes(padded_size(700) - 700) + bytes(2 * BLOCK_SIZE)
    assert scan(raw) == [(name(1), payload)]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        assert tf.getmembers()[0].size == 700
    # GNU base-256 size field
    ti = tarfile.TarInfo(name(2))
    ti.size = 700
    header = ti.tobuf(tarfile.GNU_FORMAT)
    header = _with_size_field(header, b"\x80" + (700).to_bytes(11, "big"))
    raw = header + payload + bytes(padded_size(700) - 700) + bytes(2 * BLOCK_SIZE)
    assert scan(raw) == [(name(2), payload)]


# --------------------------------------------------------------------------- unsafe


UNSAFE = [
    ("dotdot", [("../x", b"1", tarfile.REGTYPE, "")], "'\\.\\.'"),
    ("absolute", [("/abs/x.mp4", b"1", tarfile.REGTYPE, "")], "absolute"),
    ("symlink", [(name(9), b"", tarfile.SYMTYPE, name(0))], "symbolic link"),
    ("hardlink", [(name(9), b"", tarfile.LNKTYPE, name(0))], "hard link"),
    ("chardev", [(name(9), b"", tarfile.CHRTYPE, "")], "character device"),
    ("blockdev", [(name(9), b"", tarfile.BLKTYPE, "")], "block device"),
    ("fifo", [(name(9), b"", tarfile.FIFOTYPE, "")], "FIFO"),
    ("duplicate", [(name(0), b"again", tarfile.REGTYPE, "")], "duplicate"),
    ("non-layout", [("location/source_video/foo.mp4", b"1", tarfile.REGTYPE, "")], "layout"),
    ("wrong-ext", [(name(9)[:-3] + "avi", b"1", tarfile.REGTYPE, "")], "layout"),
    ("other-shard", [(name(9, "season"), b"1", tarfile.REGTYPE, "")], "does not belong"),
    ("bad-dir", [("etc", b"", tarfile.DIRTYPE, "")], "directories must be a prefix"),
    ("deep-dir", [(name(1) + "/sub", b"", tarfile.DIRTYPE, "")], "directories must be"),
]


@pytest.mark.parametrize(("case", "extra", "match"), UNSAFE, ids=[c[0] for c in UNSAFE])
@pytest.mark.parametrize("lenient", [False, True])
def test_unsafe_members_raise_in_every_mode(
    case: str, extra: list[tuple[str, bytes, bytes, str]], match: str, lenient: bool
) -> None:
    data = make_tar(good_members(2), extra=extra)
    report = SkipReport(on_error="skip") if lenient else None
    with pytest.raises(UnsafeArchiveError, match=match) as info:
        scan(data, report=report)
    assert info.value.path is not None
    with pytest.raises(UnsafeArchiveError):
        list(iter_tar_members(io.BytesIO(data), shard=SHARD, report=report))


def test_symlink_is_rejected_where_tarfile_returns_another_members_bytes() -> None:
    target = name(1).rsplit("/", 1)[1]  # relative to the link's folder
    data = make_tar(good_members(2), extra=[(name(5), b"", tarfile.SYMTYPE, target)])
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        f = tf.extractfile(name(5))
        assert f is not None
        assert f.read() == good_members(2)[1][1]
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        scan(data)


# --------------------------------------------------------------------------- damage


def _offsets(data: bytes) -> list[tuple[int, int]]:
    return [(m.offset, m.size) for m in iter_tar_members(io.BytesIO(data), shard=SHARD)]


def test_truncated_mid_member() -> None:
    data = make_tar(good_members(3))
    off, size = _offsets(data)[2]
    cut = data[: off + size // 2]
    with pytest.raises(IntegrityError, match="truncated inside member data"):
        scan(cut)
    with pytest.raises(IntegrityError, match="truncated"):
        list(iter_tar_files(Stream(cut), shard=SHARD))  # type: ignore[arg-type]


def test_truncated_at_member_boundary_reads_silently_in_tarfile() -> None:
    data = make_tar(good_members(3))
    off, size = _offsets(data)[1]
    cut = data[: off + padded_size(size)]
    with tarfile.open(fileobj=io.BytesIO(cut)) as tf:  # the silent failure we guard against
        assert len([m for m in tf.getmembers() if m.isfile()]) == 2
    with pytest.raises(IntegrityError, match="end-of-archive"):
        scan(cut)


def test_missing_or_lone_end_blocks() -> None:
    data = make_tar(good_members(2))
    members, end = scan_tar(io.BytesIO(data), shard=SHARD)
    assert end is not None
    assert len(members) == 2
    with pytest.raises(IntegrityError, match="two zero end-of-archive blocks"):
        scan(data[:end])
    with pytest.raises(IntegrityError, match="lone zero block"):
        scan(data[: end + BLOCK_SIZE])
    assert [n for n, _ in scan(data[: end + 2 * BLOCK_SIZE])] == [name(0), name(1)]


def test_corrupt_header_checksum() -> None:
    data = bytearray(make_tar(good_members(2), dirs=False))
    data[10] ^= 0xFF  # inside the first member's name
    with pytest.raises(IntegrityError, match="corrupt header"):
        scan(bytes(data))


def test_lenient_report_counts_truncation_and_keeps_complete_members() -> None:
    data = make_tar(good_members(3))
    off, _size = _offsets(data)[2]
    report = SkipReport(on_error="skip")
    got = scan(data[: off + 1], report=report)
    assert [n for n, _ in got] == [name(0), name(1)]
    assert report.counts["truncated_shard"] == 1
    members, end = scan_tar(io.BytesIO(data[: off + 1]), shard=SHARD, report=report)
    assert end is None
    assert len(members) == 2


def test_oversized_member_errors_before_allocating_or_is_skipped() -> None:
    members = good_members(3)
    data = make_tar(members)
    with pytest.raises(IntegrityError, match="max_member_size"):
        scan(data, max_member_size=150)
    report = SkipReport(on_error="skip")
    assert [n for n, _ in scan(data, max_member_size=150, report=report)] == [name(0), name(1)]
    assert report.counts["oversized_member"] == 1


def test_huge_extension_header_is_refused() -> None:
    ti = tarfile.TarInfo("././@LongLink")
    ti.type = tarfile.GNUTYPE_LONGNAME
    ti.size = 5 << 20
    with pytest.raises(UnsafeArchiveError, match="extension header size"):
        scan(ti.tobuf(tarfile.GNU_FORMAT) + bytes(2 * BLOCK_SIZE))


# --------------------------------------------------------------------------- header parser


@settings(max_examples=150, deadline=None)
@given(
    member=st.text(alphabet="abcXYZ019_./-", min_size=1, max_size=240),
    size=st.one_of(st.integers(0, 5000), st.integers(8**11 - 2, 2**40)),
    kind=st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.AREGTYPE]),
    fmt=st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT]),
)
def test_header_parser_agrees_with_tarfile(member: str, size: int, kind: bytes, fmt: int) -> None:
    ti = tarfile.TarInfo(member)
    ti.type = kind
    ti.size = size
    try:
        raw = ti.tobuf(fmt)
    except ValueError:  # too long for ustar, or a size ustar cannot store
        return
    block = raw[-BLOCK_SIZE:]  # the member's own header (after any ././@LongLink)
    ref = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    assert _parse_header(block) == (ref.name, ref.size, ref.type)


@settings(max_examples=200, deadline=None)
@given(noise=st.binary(min_size=BLOCK_SIZE, max_size=BLOCK_SIZE), fix_checksum=st.booleans())
def test_header_parser_on_noise(noise: bytes, fix_checksum: bool) -> None:
    block = bytearray(noise)
    if fix_checksum:  # get past the checksum so the field parsing is exercised
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
    try:
        ref = tarfile.TarInfo.frombuf(bytes(block), "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        if not fix_checksum:
            with pytest.raises(ValueError):
                _parse_header(bytes(block))
        return  # (we ignore fields tarfile also validates: mode, uid, mtime, ...)
    assert _parse_header(bytes(block)) == (ref.name, ref.size, ref.type)
