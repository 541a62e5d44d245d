"""``read_png`` / ``probe_png`` / ``write_png``: RGB out, explicit conversions, strict on damage."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from sparkle_data.errors import CorruptImageError
from sparkle_data.readers.image import ImageInfo, encode_png, probe_png, read_png, write_png


def rgb(h: int = 48, w: int = 64, seed: int = 0) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def pil_png(im: Image.Image, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def chunk_offsets(data: bytes) -> dict[bytes, int]:
    """Offset of the first chunk of each type."""
    out: dict[bytes, int] = {}
    i = 8
    while i < len(data):
        (length,) = struct.unpack_from(">I", data, i)
        out.setdefault(data[i + 4 : i + 8], i)
        i += 12 + length
    return out


# --------------------------------------------------------------------------- round trips


def test_write_read_roundtrip(tmp_path: Path) -> None:
    a = rgb()
    path = tmp_path / "edited_frame0" / "Sparkle_location_000001.png"
    write_png(path, a)
    got = read_png(path)
    assert got.dtype == np.uint8
    assert got.shape == (48, 64, 3)
    assert got.flags.writeable
    np.testing.assert_array_equal(got, a)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_write_is_deterministic(tmp_path: Path) -> None:
    a = rgb()
    write_png(tmp_path / "a.png", a)
    write_png(tmp_path / "b.png", a)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes() == encode_png(a)
    assert b"tIME" not in encode_png(a)
    assert b"tEXt" not in encode_png(a)


def test_write_grey_and_rejects_bad_arrays() -> None:
    g = rgb()[..., 0]
    np.testing.assert_array_equal(read_png(encode_png(g)), np.repeat(g[..., None], 3, axis=2))
    for bad in (
        rgb().astype(np.float32),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ):
        with pytest.raises(ValueError, match="Invalid image"):
            encode_png(bad)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 1000))
def test_roundtrip_property(h: int, w: int, seed: int) -> None:
    a = rgb(h, w, seed)
    np.testing.assert_array_equal(read_png(encode_png(a)), a)


def test_probe() -> None:
    data = encode_png(rgb())
    assert probe_png(data) == ImageInfo(64, 48, 8, "RGB", False)
    assert probe_png(data).shape == (48, 64, 3)


def test_sources(tmp_path: Path) -> None:
    a = rgb()
    data = encode_png(a)
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with path.open("rb") as f:
        for src in (path, str(path), data, memoryview(data), io.BytesIO(data), f):
            np.testing.assert_array_equal(read_png(src), a)


# --------------------------------------------------------------------------- conversions


def test_rgba_drops_alpha() -> None:
    a = rgb()
    alpha = np.random.default_rng(1).integers(0, 256, (48, 64, 1), dtype=np.uint8)
    got = read_png(pil_png(Image.fromarray(np.concatenate([a, alpha], axis=2))))
    np.testing.assert_array_equal(got, a)


def test_grey_replicated() -> None:
    g = rgb()[..., 1]
    got = read_png(pil_png(Image.fromarray(g)))
    assert got.shape == (48, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(got[..., c], g)
    la = Image.fromarray(g).convert("LA")
    np.testing.assert_array_equal(read_png(pil_png(la))[..., 0], g)


def test_palette() -> None:
    im = Image.fromarray(rgb()).convert("P")
    np.testing.assert_array_equal(read_png(pil_png(im)), np.asarray(im.convert("RGB")))


def test_bilevel() -> None:
    bits = rgb()[..., 0] > 128
    got = read_png(pil_png(Image.fromarray(bits)))
    np.testing.assert_array_equal(got[..., 2], np.where(bits, 255, 0))


def test_16bit_grey_high_byte() -> None:
    g16 = np.random.default_rng(2).integers(0, 65536, (20, 30), dtype=np.uint16)
    got = read_png(pil_png(Image.fromarray(g16)))
    np.testing.assert_array_equal(got[..., 0], (g16 >> 8).astype(np.uint8))


def test_interlaced() -> None:
    a = rgb()
    data = pil_png(Image.fromarray(a))
    assert probe_png(data).interlaced is False
    # Pillow cannot write Adam7, so only the header flag is checked for interlaced files.


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("cut", [0, 4, 8, 20, 33, 60, -40, -12, -1])
def test_truncated(cut: int) -> None:
    data = encode_png(rgb())
    with pytest.raises(CorruptImageError):
        read_png(data[:cut])


def test_truncated_even_with_load_truncated_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode_png(rgb())
    with pytest.raises(CorruptImageError):
        read_png(data[: len(data) // 2])


def test_bad_crc_in_idat() -> None:
    data = bytearray(encode_png(rgb()))
    idat = chunk_offsets(bytes(data))[b"IDAT"]
    data[idat + 20] ^= 0xFF
    with pytest.raises(CorruptImageError):
        read_png(bytes(data))


def test_bad_ihdr_crc() -> None:
    data = bytearray(encode_png(rgb()))
    data[29] ^= 0xFF  # the IHDR CRC
    with pytest.raises(CorruptImageError, match="IHDR CRC"):
        probe_png(bytes(data))


@pytest.mark.parametrize(
    "data",
    [b"", b"not a png", b"\x89PNG\r\n\x1a\n", b"GIF89a" + bytes(100)],
    ids=["empty", "text", "signature-only", "gif"],
)
def test_not_png(data: bytes) -> None:
    with pytest.raises(CorruptImageError):
        read_png(data)
    with pytest.raises(CorruptImageError):
        probe_png(data)


def test_jpeg_is_not_accepted() -> None:
    buf = io.BytesIO()
    Image.fromarray(rgb()).save(buf, format="JPEG")
    with pytest.raises(CorruptImageError, match="signature"):
        read_png(buf.getvalue())


def bomb(w: int, h: int) -> bytes:
    """A valid-looking PNG header announcing ``w x h`` with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_pillow() -> None:
    data = bomb(100_000, 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail here
        with pytest.raises(CorruptImageError, match="max_pixels"):
            read_png(data)
        with pytest.raises(CorruptImageError, match="max_pixels"):
            probe_png(data)


def test_max_pixels_parameter() -> None:
    data = encode_png(rgb())
    with pytest.raises(CorruptImageError, match="max_pixels"):
        read_png(data, max_pixels=64 * 48 - 1)


@pytest.mark.parametrize(
    "fields",
    [
        (0, 10, 8, 2, 0, 0, 0),
        (10, 10, 7, 2, 0, 0, 0),
        (10, 10, 8, 5, 0, 0, 0),
        (10, 10, 8, 2, 1, 0, 0),
    ],
)
def test_invalid_ihdr_fields(fields: tuple[int, ...]) -> None:
    ihdr = struct.pack(">IIBBBBB", *fields)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    with pytest.raises(CorruptImageError):
        probe_png(data)


def test_idat_too_short_for_size() -> None:
    with pytest.raises(CorruptImageError):
        read_png(bomb(64, 48))


def test_error_location_and_cause() -> None:
    data = encode_png(rgb())
    name = (
        "intermediate_data/location_edited_frame0_part00.tar"
        "::location/edited_frame0/Sparkle_location_000001.png"
    )
    # Valid chunk framing and CRCs around an IDAT that is not a zlib stream: Pillow fails.
    ihdr = data[8 : 8 + 25]
    broken = b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", b"\x00garbage" * 30) + chunk(b"IEND", b"")
    with pytest.raises(CorruptImageError) as info:
        read_png(broken, name=name, sample_id="Sparkle_location_000001")
    err = info.value
    assert err.path == "intermediate_data/location_edited_frame0_part00.tar"
    assert err.member == "location/edited_frame0/Sparkle_location_000001.png"
    assert err.sample_id == "Sparkle_location_000001"
    assert err.__cause__ is not None
    assert isinstance(err, ValueError)


class _Failing(io.BytesIO):
    def __init__(self, data: bytes, exc: BaseException, after: int) -> None:
        super().__init__(data)
        self.exc, self.after, self.calls = exc, after, 0

    def read(self, n: int | None = -1) -> bytes:
        self.calls += 1
        if self.calls > self.after:
            raise self.exc
        return super().read(n)


@pytest.mark.parametrize("after", [0, 1, 3])
@pytest.mark.parametrize(
    "exc", [ConnectionResetError("reset"), TimeoutError("slow"), MemoryError(), OSError(5, "EIO")]
)
def test_io_and_memory_errors_pass_through(exc: BaseException, after: int) -> None:
    with pytest.raises(type(exc)) as info:
        read_png(_Failing(encode_png(rgb()), exc, after))
    assert not isinstance(info.value, CorruptImageError)
