"""``read_mask`` / ``probe_mask``: equal to the card's ``load_mask``, strict on bad NPZs."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.errors import CorruptMaskError
from sparkle_data.readers import mask as mask_module
from sparkle_data.readers.mask import (
    MAX_MASK_PIXELS,
    MaskInfo,
    encode_mask_npz,
    probe_mask,
    read_mask,
    write_mask,
)

# --------------------------------------------------------------------------- helpers


def load_mask(mask_path: Any) -> npt.NDArray[np.bool_]:
    """The dataset card's helper, verbatim: the oracle."""
    data = np.load(mask_path)
    packed_mask = data["mask"]
    shape = tuple(int(s) for s in data["shape"])
    total = shape[0] * shape[1] * shape[2]
    return np.unpackbits(packed_mask)[:total].reshape(shape).astype(bool)


def random_mask(shape: tuple[int, int, int], seed: int = 0, p: float = 0.3) -> npt.NDArray[Any]:
    return np.random.default_rng(seed).random(shape) < p


def numpy_npz(m: npt.NDArray[np.bool_], *, compressed: bool = True) -> bytes:
    """What the Sparkle pipeline wrote: ``np.savez[_compressed](mask=packbits, shape=shape)``."""
    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, mask=np.packbits(m), shape=m.shape)
    return buf.getvalue()


def npy(array: npt.NDArray[Any], *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def make_zip(
    members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, order: list[str] | None = None
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name in order or list(members):
            zf.writestr(name, members[name])
    return buf.getvalue()


def header_bytes(descr: str, shape: tuple[int, ...], fortran: bool = False) -> bytes:
    """A hand-written ``.npy`` 1.0 header (for headers numpy itself would not write)."""
    d = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(d) + 1) % 64
    text = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def central_entries(data: bytes) -> list[int]:
    """Offsets of the central-directory file headers."""
    out, i = [], data.find(b"PK\x01\x02")
    while i != -1:
        out.append(i)
        i = data.find(b"PK\x01\x02", i + 4)
    return out


def patch_central(data: bytes, member: str, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of ``member``'s central-directory header (offsets per APPNOTE 4.3.12)."""
    b = bytearray(data)
    for i in central_entries(data):
        (name_len,) = struct.unpack_from("<H", b, i + 28)
        if bytes(b[i + 46 : i + 46 + name_len]).decode() == member:
            struct.pack_into(fmt, b, i + offset, value)
            return bytes(b)
    raise AssertionError(member)


class CountingReader(io.BytesIO):
    """A seekable file object that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: int | None = -1) -> bytes:
        out = super().read(n)
        self.bytes_read += len(out)
        return out


SHAPES = [(5, 16, 24), (7, 5, 3), (81, 9, 16), (1, 1, 1), (3, 1, 8), (4, 3, 5)]
FRAME_SELECTIONS: list[Any] = [
    [0],
    [-1],
    [2, 0],
    [1, 1, 0],
    slice(None, None, 2),
    slice(1, None),
    slice(None, 0),
    [],
    np.array([0, 1], dtype=np.int32),
]


# --------------------------------------------------------------------------- equality


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("writer", ["numpy_deflated", "numpy_stored", "ours_deflated", "stored"])
def test_read_mask_equals_card_helper(shape: tuple[int, int, int], writer: str) -> None:
    m = random_mask(shape)
    data = {
        "numpy_deflated": lambda: numpy_npz(m),
        "numpy_stored": lambda: numpy_npz(m, compressed=False),
        "ours_deflated": lambda: encode_mask_npz(m),
        "stored": lambda: encode_mask_npz(m, compress=False),
    }[writer]()
    oracle = load_mask(io.BytesIO(data))
    got = read_mask(data)
    assert got.dtype == np.bool_
    assert got.shape == shape
    np.testing.assert_array_equal(got, oracle)
    for sel in FRAME_SELECTIONS:
        try:
            expected = oracle[sel]
        except IndexError:
            with pytest.raises(IndexError):
                read_mask(data, frames=sel)
            continue
        sub = read_mask(data, frames=sel)
        assert sub.shape == expected.shape
        np.testing.assert_array_equal(sub, expected)


def test_read_mask_all_frames_listed_equals_full() -> None:
    m = random_mask((6, 4, 4))
    data = encode_mask_npz(m)
    frames = [5, 4, 3, 2, 1, 0, 0]
    np.testing.assert_array_equal(read_mask(data, frames=frames), m[frames])


def test_probe_mask() -> None:
    m = random_mask((9, 10, 12))
    info = probe_mask(encode_mask_npz(m))
    assert info == MaskInfo(9, 10, 12, packed_bytes=(9 * 10 * 12 + 7) // 8, compressed=True)
    assert info.shape == (9, 10, 12)
    assert info.byte_aligned
    stored = probe_mask(encode_mask_npz(m[:, :3, :3], compress=False))
    assert not stored.compressed
    assert not stored.byte_aligned


# --------------------------------------------------------------------------- sources


def test_sources(tmp_path: Path) -> None:
    m = random_mask((4, 6, 8))
    data = encode_mask_npz(m)
    path = tmp_path / "Sparkle_location_000001.npz"
    write_mask(path, m)
    assert path.read_bytes() == data
    with path.open("rb") as f:
        f.seek(17)  # readers start at offset 0 whatever the position
        from_file = read_mask(f)
    for got in (
        read_mask(path),
        read_mask(str(path)),
        read_mask(data),
        read_mask(bytearray(data)),
        read_mask(memoryview(data)),
        read_mask(io.BytesIO(data)),
        from_file,
    ):
        np.testing.assert_array_equal(got, m)


def test_tar_member_source(tmp_path: Path) -> None:
    m = random_mask((5, 8, 8))
    data = encode_mask_npz(m, compress=False)
    tar_path = tmp_path / "location_source_video_mask_part00.tar"
    member = "location/source_video_mask/Sparkle_location_000001.npz"
    with tarfile.open(tar_path, "w") as tf:
        pad = tarfile.TarInfo("location/source_video_mask/Sparkle_location_000000.npz")
        pad.size = 1000
        tf.addfile(pad, io.BytesIO(b"\0" * 1000))
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with tarfile.open(tar_path) as tf:
        f = tf.extractfile(member)
        assert f is not None
        np.testing.assert_array_equal(read_mask(f, frames=[3, 1]), m[[3, 1]])
        assert probe_mask(f).shape == (5, 8, 8)


def test_rejects_bad_source_types() -> None:
    with pytest.raises(TypeError):
        read_mask(12345)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="binary"):
        read_mask(io.StringIO("x"))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        read_mask("/nonexistent/mask.npz")


# --------------------------------------------------------------------------- partial decode


def test_stored_partial_read_touches_only_requested_bytes() -> None:
    m = random_mask((81, 72, 128))  # 93 KB packed
    data = encode_mask_npz(m, compress=False)
    f = CountingReader(data)
    got = read_mask(f, frames=[40, 41])
    np.testing.assert_array_equal(got, m[[40, 41]])
    frame_bytes = 72 * 128 // 8
    # zip directory + two .npy headers + exactly two frames.
    assert f.bytes_read < 2 * frame_bytes + 1500, f.bytes_read


def test_deflated_partial_read_stops_early() -> None:
    m = random_mask((81, 72, 128), p=0.5)  # incompressible: compressed ~ packed size
    data = encode_mask_npz(m)
    f = CountingReader(data)
    np.testing.assert_array_equal(read_mask(f, frames=[0, 1]), m[[0, 1]])
    assert f.bytes_read < len(data) // 4, (f.bytes_read, len(data))


def test_probe_reads_headers_only() -> None:
    m = random_mask((81, 72, 128), p=0.5)
    for compress in (True, False):
        data = encode_mask_npz(m, compress=compress)
        f = CountingReader(data)
        probe_mask(f)
        assert f.bytes_read < 80_000 < len(data), (compress, f.bytes_read)


def test_non_aligned_partial_uses_bit_offsets() -> None:
    m = random_mask((11, 7, 9))  # 63 bits per frame: every frame starts mid-byte
    for compress in (True, False):
        data = encode_mask_npz(m, compress=compress)
        for t in range(11):
            np.testing.assert_array_equal(read_mask(data, frames=[t]), m[[t]])
        np.testing.assert_array_equal(read_mask(data, frames=[10, 3, 4]), m[[10, 3, 4]])


@settings(max_examples=60, deadline=None)
@given(
    t=st.integers(1, 8),
    h=st.integers(1, 13),
    w=st.integers(1, 13),
    compress=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_roundtrip_property(
    t: int, h: int, w: int, compress: bool, seed: int, data: st.DataObject
) -> None:
    m = random_mask((t, h, w), seed=seed, p=0.5)
    blob = encode_mask_npz(m, compress=compress)
    np.testing.assert_array_equal(read_mask(blob), m)
    np.testing.assert_array_equal(load_mask(io.BytesIO(blob)), m)
    frames = data.draw(st.lists(st.integers(-t, t - 1), max_size=2 * t))
    np.testing.assert_array_equal(read_mask(blob, frames=frames), m[frames])


# --------------------------------------------------------------------------- frame arguments


def test_frame_index_out_of_range_names_the_range() -> None:
    data = encode_mask_npz(random_mask((5, 4, 4)))
    with pytest.raises(IndexError, match=r"5 frames.*0\.\.4"):
        read_mask(data, frames=[5])
    with pytest.raises(IndexError):
        read_mask(data, frames=[-6])


@pytest.mark.parametrize("frames", [[0.5], [True, False], [[0, 1]]])
def test_frame_index_type(frames: Any) -> None:
    with pytest.raises(TypeError):
        read_mask(encode_mask_npz(random_mask((5, 4, 4))), frames=frames)


# --------------------------------------------------------------------------- bad inputs


def good_members(shape: tuple[int, int, int] = (3, 4, 8)) -> dict[str, bytes]:
    m = random_mask(shape)
    return {"mask.npy": npy(np.packbits(m)), "shape.npy": npy(np.asarray(shape))}


def assert_corrupt(data: bytes, match: str | None = None, **kwargs: Any) -> CorruptMaskError:
    with pytest.raises(CorruptMaskError, match=match) as info:
        read_mask(data, **kwargs)
    with pytest.raises(CorruptMaskError):
        probe_mask(data, **{k: v for k, v in kwargs.items() if k != "frames"})
    return info.value


UNPICKLED: list[str] = []


def _record_unpickle() -> str:
    UNPICKLED.append("called")
    return "boom"


class _Boom:
    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_record_unpickle, ())


@pytest.mark.parametrize("member", ["mask.npy", "shape.npy"])
def test_object_arrays_are_never_unpickled(member: str) -> None:
    members = good_members()
    members[member] = npy(np.array([_Boom(), 1, 2], dtype=object), allow_pickle=True)
    UNPICKLED.clear()
    assert_corrupt(make_zip(members), match="object")
    assert UNPICKLED == []


@pytest.mark.parametrize(
    "names",
    [
        ["mask.npy"],
        ["shape.npy"],
        ["mask.npy", "shape.npy", "extra.npy"],
        ["mask.npy", "other.npy"],
    ],
)
def test_wrong_members(names: list[str]) -> None:
    base = good_members()
    members = {n: base.get(n, base["shape.npy"]) for n in names}
    assert_corrupt(make_zip(members), match="members")


def test_duplicate_member_names() -> None:
    base = good_members()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mask.npy", base["mask.npy"])
        zf.writestr("shape.npy", base["shape.npy"])
        with pytest.warns(UserWarning, match="Duplicate"):
            zf.writestr("mask.npy", base["mask.npy"])
    assert_corrupt(buf.getvalue(), match="members")


@pytest.mark.parametrize(
    ("shape_array", "match"),
    [
        (np.array([3.0, 4.0, 8.0]), "3 integers"),
        (np.array([3, 4]), "3 integers"),
        (np.array([3, 4, 8, 1]), "3 integers"),
        (np.array([[3, 4, 8]]), "3 integers"),
        (np.array([True, True, True]), "3 integers"),
        (np.array([-3, -4, 8]), "positive"),
        (np.array([0, 4, 8]), "positive"),
        (np.array([82, 4, 8]), "<= 81"),
        (np.array([3, 8, 4]), "ceil"),  # swapped H/W: same product, but we check packed length
    ],
)
def test_invalid_shape_array(shape_array: npt.NDArray[Any], match: str) -> None:
    members = good_members((3, 4, 8))
    members["shape.npy"] = npy(shape_array)
    if match == "ceil":
        # A swap keeps T*H*W, so it reads, but as the shape the file claims (card semantics).
        got = read_mask(make_zip(members))
        assert got.shape == (3, 8, 4)
        return
    assert_corrupt(make_zip(members), match=match)


@pytest.mark.parametrize("dtype", ["<u4", ">i8", "<u2", "|i1"])
def test_shape_array_integer_dtypes_accepted(dtype: str) -> None:
    m = random_mask((3, 4, 8))
    members = good_members()
    members["mask.npy"] = npy(np.packbits(m))
    members["shape.npy"] = npy(np.asarray((3, 4, 8), dtype=dtype))
    np.testing.assert_array_equal(read_mask(make_zip(members)), m)


def test_packed_length_mismatch() -> None:
    members = good_members((3, 4, 8))  # 12 packed bytes
    members["mask.npy"] = npy(np.zeros(13, dtype=np.uint8))  # one extra byte
    assert_corrupt(make_zip(members), match="ceil")
    members["mask.npy"] = npy(np.zeros(11, dtype=np.uint8))
    assert_corrupt(make_zip(members), match="ceil")


@pytest.mark.parametrize(
    "array", [np.zeros(12, dtype=np.int8), np.zeros(6, dtype="<u2"), np.zeros((3, 4), np.uint8)]
)
def test_mask_array_must_be_1d_uint8(array: npt.NDArray[Any]) -> None:
    members = good_members((3, 4, 8))
    members["mask.npy"] = npy(array)
    assert_corrupt(make_zip(members), match="1-D uint8")


def test_fortran_order_header() -> None:
    members = good_members((3, 4, 8))
    members["mask.npy"] = header_bytes("|u1", (12,), fortran=True) + bytes(12)
    assert_corrupt(make_zip(members), match="C order")


def test_forged_header_huge_length_rejected_before_allocating() -> None:
    members = good_members((3, 4, 8))
    members["mask.npy"] = header_bytes("|u1", (10**12,)) + bytes(12)
    assert_corrupt(make_zip(members), match="ceil")


def test_header_body_length_mismatch() -> None:
    members = good_members((3, 4, 8))
    members["mask.npy"] = header_bytes("|u1", (12,)) + bytes(11)  # data one byte short
    assert_corrupt(make_zip(members), match="length")
    members["shape.npy"] = header_bytes("<i8", (3,)) + np.asarray([3, 4, 8]).tobytes() + b"\0"
    assert_corrupt(make_zip(members), match="length")


def test_npy_version_and_garbage_header() -> None:
    members = good_members()
    members["mask.npy"] = b"\x93NUMPY\x03\x00" + bytes(60)
    assert_corrupt(make_zip(members), match="version")
    members["mask.npy"] = b"not an npy file at all"
    err = assert_corrupt(make_zip(members))
    assert isinstance(err.__cause__, ValueError)


def test_max_pixels_bound() -> None:
    data = encode_mask_npz(random_mask((2, 64, 64)))
    assert read_mask(data).shape == (2, 64, 64)
    assert_corrupt(data, match="max_pixels", max_pixels=64 * 63)


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_zip(compress: bool) -> None:
    data = encode_mask_npz(random_mask((5, 16, 16)), compress=compress)
    for cut in (0, 10, 40, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        with pytest.raises(CorruptMaskError):
            read_mask(data[:cut])


def test_garbage() -> None:
    err = assert_corrupt(b"\x00" * 10 + b"garbage" * 50)
    assert isinstance(err.__cause__, zipfile.BadZipFile)
    assert_corrupt(b"")


def test_bad_crc_stored() -> None:
    data = bytearray(encode_mask_npz(random_mask((5, 16, 16)), compress=False))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("mask.npy")
    # local header (30) + name (8) + .npy header (128) + a few packed bytes
    data[info.header_offset + 30 + 8 + 128 + 5] ^= 0xFF
    with pytest.raises(CorruptMaskError, match="CRC"):
        read_mask(bytes(data))
    # The headers are intact, so probing still works; only a whole read can check the CRC.
    assert probe_mask(bytes(data)).shape == (5, 16, 16)


def test_bad_crc_deflated() -> None:
    data = encode_mask_npz(random_mask((5, 16, 16)))
    forged = patch_central(data, "mask.npy", 16, "<I", 0x12345678)
    with pytest.raises(CorruptMaskError, match="CRC"):
        read_mask(forged)


def test_corrupt_deflate_stream() -> None:
    m = random_mask((5, 16, 16))
    data = bytearray(encode_mask_npz(m))
    start = data.find(b"mask.npy") + len("mask.npy") + 60  # into the deflate stream
    for i in range(start, start + 8):
        data[i] ^= 0x5A
    with pytest.raises(CorruptMaskError):
        read_mask(bytes(data))


def test_declared_size_over_bound_is_refused_before_inflating() -> None:
    data = encode_mask_npz(random_mask((3, 4, 8)))
    forged = patch_central(data, "mask.npy", 24, "<I", 2**32 - 2)  # uncompressed size
    assert_corrupt(forged, match="declared size")


def test_absurd_compression_ratio_is_refused() -> None:
    data = encode_mask_npz(random_mask((3, 64, 64)))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        csize = zf.getinfo("mask.npy").compress_size
    forged = patch_central(data, "mask.npy", 24, "<I", 2000 * csize)
    assert_corrupt(forged, match="ratio")


def test_zip_bomb_member_is_not_inflated() -> None:
    # 100 MB of zeros behind a header that says 12 bytes: refused after the header prefix.
    members = good_members((3, 4, 8))
    members["mask.npy"] = header_bytes("|u1", (100 * 2**20,)) + bytes(100 * 2**20)
    bomb = make_zip(members)
    assert len(bomb) < 200_000
    f = CountingReader(bomb)
    with pytest.raises(CorruptMaskError, match="ceil"):
        read_mask(f)
    assert f.bytes_read < 80_000


def test_stored_sizes_must_agree() -> None:
    data = encode_mask_npz(random_mask((3, 4, 8)), compress=False)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        size = zf.getinfo("mask.npy").file_size
    forged = patch_central(data, "mask.npy", 24, "<I", size + 1)
    assert_corrupt(forged, match="stored")


def test_encrypted_flag_refused() -> None:
    data = encode_mask_npz(random_mask((3, 4, 8)))
    assert_corrupt(patch_central(data, "mask.npy", 8, "<H", 0x1), match="encrypted")


def test_unsupported_compression_refused() -> None:
    data = make_zip(good_members(), method=zipfile.ZIP_BZIP2)
    assert_corrupt(data, match="compression method")


def test_local_header_name_mismatch() -> None:
    data = bytearray(encode_mask_npz(random_mask((3, 4, 8)), compress=False))
    i = data.find(b"PK\x03\x04")
    data[i + 30 : i + 38] = b"xask.npy"
    assert_corrupt(bytes(data), match="local header")


def test_member_extent_past_end() -> None:
    data = encode_mask_npz(random_mask((3, 4, 8)))
    forged = patch_central(data, "mask.npy", 20, "<I", 10**6)  # compressed size
    assert_corrupt(forged)


# --------------------------------------------------------------------------- error plumbing


def test_error_location() -> None:
    name = (
        "location_source_video_mask_part00.tar"
        "::location/source_video_mask/Sparkle_location_000001.npz"
    )
    with pytest.raises(CorruptMaskError) as info:
        read_mask(b"junk", name=name, sample_id="Sparkle_location_000001")
    err = info.value
    assert err.path == "location_source_video_mask_part00.tar"
    assert err.member == "location/source_video_mask/Sparkle_location_000001.npz"
    assert err.sample_id == "Sparkle_location_000001"
    assert "Sparkle_location_000001.npz" in str(err)
    assert "sample Sparkle_location_000001" in str(err)
    assert isinstance(err, ValueError)


def test_path_is_the_default_location(tmp_path: Path) -> None:
    p = tmp_path / "bad.npz"
    p.write_bytes(b"junk")
    with pytest.raises(CorruptMaskError) as info:
        read_mask(p)
    assert info.value.path == str(p)


class _FailingReader(io.BytesIO):
    def __init__(self, data: bytes, exc: BaseException) -> None:
        super().__init__(data)
        self.exc = exc

    def read(self, n: int | None = -1) -> bytes:
        raise self.exc


@pytest.mark.parametrize("exc", [MemoryError(), ConnectionResetError("reset"), KeyboardInterrupt()])
def test_io_and_memory_errors_pass_through(exc: BaseException) -> None:
    data = encode_mask_npz(random_mask((3, 4, 8)))
    with pytest.raises(type(exc)):
        read_mask(_FailingReader(data, exc))


def test_inflate_backends_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    import zlib

    m = random_mask((9, 5, 7))
    data = encode_mask_npz(m)
    monkeypatch.setattr(mask_module, "_zlib", zlib)
    np.testing.assert_array_equal(read_mask(data), m)
    np.testing.assert_array_equal(read_mask(data, frames=[8, 2]), m[[8, 2]])


def test_default_bound_covers_sparkle_masks() -> None:
    assert MAX_MASK_PIXELS >= 1280 * 720
