"""``probe_video`` / ``read_video`` / ``iter_video_frames`` on tiny clips built here with PyAV.

No binary is committed: every good and bad input is encoded (or cut, or patched) in the test.
The real Sparkle clips in ``../shared/real_clips`` are used when present (marker
``real_clips``), skipped otherwise.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from sparkle_data.errors import CorruptVideoError, RemoteError
from sparkle_data.readers import _video_decode as decode_module
from sparkle_data.readers import video as video_module
from sparkle_data.readers.video import (
    INTERPOLATIONS,
    VideoInfo,
    iter_video_frames,
    probe_video,
    read_video,
)

W, H, T = 64, 48, 81
REAL_CLIPS = Path(
    os.environ.get(
        "SPARKLE_REAL_CLIPS", Path(__file__).resolve().parents[2] / "shared" / "real_clips"
    )
)

# --------------------------------------------------------------------------- clip factory


def synthetic_frame(i: int, w: int = W, h: int = H) -> npt.NDArray[np.uint8]:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (np.arange(w) * 4 + i * 3) % 256
    img[..., 1] = (np.arange(h)[:, None] * 5 + i) % 256
    img[..., 2] = (i * 3) % 256
    return img


def encode_clip(
    tmp: Path,
    *,
    frames: int = T,
    w: int = W,
    h: int = H,
    fmt: str = "mp4",
    options: dict[str, str] | None = None,
) -> bytes:
    """An H.264 yuv420p clip at 16 fps (a file, since faststart rewrites it in place)."""
    path = tmp / f"clip_{frames}_{w}x{h}_{abs(hash(str(options)))}.{fmt}"
    with av.open(str(path), "w", format=fmt, options=options or {}) as c:
        s = c.add_stream("libx264", rate=16)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i, w, h), format="rgb24")
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path.read_bytes()


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def clip(clip_dir: Path) -> bytes:
    """81 frames, 64x48, moov at the front (``faststart``) like a web-ready mp4."""
    return encode_clip(clip_dir, options={"movflags": "faststart"})


@pytest.fixture(scope="module")
def clip_moov_last(clip_dir: Path) -> bytes:
    return encode_clip(clip_dir)


def reference(data: bytes, **kwargs: Any) -> npt.NDArray[np.uint8]:
    """A plain PyAV decode of every frame."""
    with av.open(io.BytesIO(data)) as c:
        return np.stack([f.to_ndarray(**kwargs) for f in c.decode(video=0)])


def packet_ends(data: bytes) -> list[int]:
    with av.open(io.BytesIO(data)) as c:
        return [p.pos + p.size for p in c.demux(video=0) if p.size and p.pos is not None]


def patch_box_u32(data: bytes, box: bytes, offset: int, value: int) -> bytes:
    """Overwrite a big-endian u32 at ``offset`` after the first ``box`` type tag."""
    b = bytearray(data)
    i = b.find(box)
    assert i > 0
    struct.pack_into(">I", b, i + offset, value)
    return bytes(b)


# --------------------------------------------------------------------------- probe


def test_probe(clip: bytes, clip_moov_last: bytes) -> None:
    for data in (clip, clip_moov_last):
        info = probe_video(data)
        assert info == VideoInfo(
            num_frames=T,
            width=W,
            height=H,
            fps=Fraction(16),
            codec="h264",
            pix_fmt="yuv420p",
            duration=info.duration,
            has_audio=False,
        )
        assert info.duration == pytest.approx(T / 16, abs=0.1)
        assert info.shape == (T, H, W)


def test_probe_does_not_decode(clip: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("probe_video must not decode")

    monkeypatch.setattr(decode_module, "_decode", boom)
    assert probe_video(clip).num_frames == T


def test_sources(clip: bytes, tmp_path: Path) -> None:
    path = tmp_path / "Sparkle_location_000001.mp4"
    path.write_bytes(clip)
    ref = reference(clip, format="rgb24")[[0, 40]]
    tar_path = tmp_path / "location_source_video_part00.tar"
    member = "location/source_video/Sparkle_location_000001.mp4"
    with tarfile.open(tar_path, "w") as tf:
        info = tarfile.TarInfo(member)
        info.size = len(clip)
        tf.addfile(info, io.BytesIO(clip))
    with tarfile.open(tar_path) as tf, path.open("rb") as f:
        member_file = tf.extractfile(member)
        assert member_file is not None
        for src in (path, str(path), clip, bytearray(clip), memoryview(clip), f, member_file):
            np.testing.assert_array_equal(read_video(src, indices=[0, 40]), ref)


# --------------------------------------------------------------------------- pixels


def test_read_all_equals_reference(clip: bytes, clip_moov_last: bytes) -> None:
    for data in (clip, clip_moov_last):
        out = read_video(data)
        assert out.dtype == np.uint8
        assert out.shape == (T, H, W, 3)
        assert out.flags.c_contiguous
        np.testing.assert_array_equal(out, reference(data, format="rgb24"))


def test_indices_order_repeats_negative(clip: bytes) -> None:
    ref = reference(clip, format="rgb24")
    for idx in ([5, 2, 2, -1], [80], [0], np.array([3, 1], dtype=np.int16), []):
        got = read_video(clip, indices=idx)
        np.testing.assert_array_equal(got, ref[np.asarray(idx, dtype=int)])


@pytest.mark.parametrize("interpolation", ["BILINEAR", "AREA", "FAST_BILINEAR", "BICUBIC"])
def test_resize_matches_swscale_reference(clip: bytes, interpolation: Any) -> None:
    idx = [0, 7, 80]
    got = read_video(clip, indices=idx, height=30, width=40, interpolation=interpolation)
    ref = reference(clip, format="rgb24", width=40, height=30, interpolation=interpolation)
    np.testing.assert_array_equal(got, ref[idx])


def test_one_side_keeps_aspect(clip: bytes) -> None:
    assert read_video(clip, indices=[0], width=32).shape == (1, 24, 32, 3)
    assert read_video(clip, indices=[0], height=24).shape == (1, 24, 32, 3)


def test_tchw_layout(clip: bytes) -> None:
    idx = [1, 60]
    native = read_video(clip, indices=idx, layout="TCHW")
    assert native.shape == (2, 3, H, W)
    assert native.flags.c_contiguous
    # At native size the planar and packed conversions agree exactly...
    np.testing.assert_array_equal(native, read_video(clip, indices=idx).transpose(0, 3, 1, 2))
    # ...and resized, TCHW is exactly swscale's planar (gbrp) output.
    small = read_video(clip, indices=idx, layout="TCHW", height=24, width=32)
    ref = reference(clip, format="gbrp", width=32, height=24)[idx].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(small, ref)


def test_torch_output(clip: bytes) -> None:
    torch = pytest.importorskip("torch")
    t = read_video(clip, indices=[2, 3], output="torch", layout="TCHW")
    assert isinstance(t, torch.Tensor)
    assert t.dtype == torch.uint8
    assert t.shape == (2, 3, H, W)
    np.testing.assert_array_equal(t.numpy(), read_video(clip, indices=[2, 3], layout="TCHW"))


@pytest.mark.parametrize(("threads", "thread_type"), [(1, "AUTO"), (2, "FRAME"), (2, "SLICE")])
def test_threads_do_not_change_pixels(clip: bytes, threads: int, thread_type: Any) -> None:
    got = read_video(clip, threads=threads, thread_type=thread_type)
    np.testing.assert_array_equal(got, reference(clip, format="rgb24"))


def test_iter_video_frames(clip: bytes) -> None:
    ref = reference(clip, format="rgb24")
    got = list(iter_video_frames(clip, indices=[9, 3, 3]))
    assert [i for i, _ in got] == [3, 9]
    for i, frame in got:
        np.testing.assert_array_equal(frame, ref[i])
    all_frames = list(iter_video_frames(clip, layout="CHW", height=24, width=32))
    assert len(all_frames) == T
    assert all_frames[0][1].shape == (3, 24, 32)


def test_iter_stops_early(clip: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = decode_module._decode

    def spy(*args: Any, **kwargs: Any) -> Any:
        for index, frame in real(*args, **kwargs):
            seen.append(index)
            yield index, frame

    monkeypatch.setattr(decode_module, "_decode", spy)
    read_video(clip, indices=[4, 2])
    assert max(seen) == 4
    it = iter_video_frames(clip)
    next(it)
    it.close()
    assert max(seen) < 10


# --------------------------------------------------------------------------- arguments


def test_index_out_of_range_names_the_range(clip: bytes) -> None:
    with pytest.raises(IndexError, match=r"81 frames.*0\.\.80"):
        read_video(clip, indices=[81])
    with pytest.raises(IndexError):
        read_video(clip, indices=[-82])
    with pytest.raises(IndexError):
        list(iter_video_frames(clip, indices=[100]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"indices": [0.5]},
        {"layout": "HWC"},
        {"interpolation": "nearest"},
        {"threads": -1},
        {"thread_type": "ALL"},
        {"output": "jax"},
        {"height": 0},
        {"width": 1.5},
    ],
)
def test_bad_arguments(clip: bytes, kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        read_video(clip, **kwargs)
    assert not isinstance(info.value, CorruptVideoError)


def test_iter_checks_arguments_eagerly(clip: bytes) -> None:
    with pytest.raises(ValueError, match="height"):
        iter_video_frames(clip, height=0)
    with pytest.raises(ValueError, match="layout"):
        iter_video_frames(clip, layout="THWC")  # type: ignore[arg-type]


def test_expected_frames(clip: bytes) -> None:
    assert read_video(clip, indices=[0], expected_frames=T).shape[0] == 1
    with pytest.raises(CorruptVideoError, match="expected 69"):
        read_video(clip, indices=[0], expected_frames=69)


def test_interpolation_names_are_pyav_names() -> None:
    for name in INTERPOLATIONS:
        assert hasattr(av.video.reformatter.Interpolation, name)


# --------------------------------------------------------------------------- bad inputs


def test_truncated_at_packet_boundary_decodes_fewer_frames(clip: bytes) -> None:
    """The regression of the reliability guide: header says 81, the file decodes 53."""
    cut = clip[: packet_ends(clip)[52]]
    assert probe_video(cut).num_frames == T  # the moov is intact
    assert len(reference(cut, format="rgb24")) == 53  # FFmpeg itself raises nothing
    with pytest.raises(CorruptVideoError, match=r"53 decoded frames.*81 frames"):
        read_video(cut)
    with pytest.raises(CorruptVideoError, match="frame 80 was never reached"):
        read_video(cut, indices=[0, 80])
    with pytest.raises(CorruptVideoError):
        list(iter_video_frames(cut))
    # Frames before the cut are still readable when only they are asked for.
    np.testing.assert_array_equal(
        read_video(cut, indices=[0, 52]), reference(clip, format="rgb24")[[0, 52]]
    )


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_mid_packet(clip: bytes, fraction: float) -> None:
    cut = clip[: int(len(clip) * fraction)]
    with pytest.raises(CorruptVideoError) as info:
        read_video(cut)
    assert isinstance(info.value, ValueError)


def test_truncated_moov_last(clip_moov_last: bytes) -> None:
    # Without faststart the moov is at the end: a cut file has no index at all.
    with pytest.raises(CorruptVideoError):
        probe_video(clip_moov_last[: len(clip_moov_last) // 2])


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", os.urandom(5000), b"ftyp" * 200],
    ids=["empty", "1byte", "random", "ftyp"],
)
def test_garbage(data: bytes) -> None:
    with pytest.raises(CorruptVideoError):
        probe_video(data)
    with pytest.raises(CorruptVideoError):
        read_video(data)


def test_audio_only(tmp_path: Path) -> None:
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    with pytest.raises(CorruptVideoError, match="no video stream"):
        probe_video(path)
    with pytest.raises(CorruptVideoError, match="audio"):
        read_video(path)


def test_zero_frames() -> None:
    # PyAV writes no file for a stream without frames unless the moov is written up front.
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options={"movflags": "empty_moov"}) as c:
        s = c.add_stream("libx264", rate=16)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
    data = buf.getvalue()
    with av.open(io.BytesIO(data)) as c:  # FFmpeg opens it happily: one video stream
        assert len(c.streams.video) == 1
    with pytest.raises(CorruptVideoError, match="zero frames"):
        probe_video(data)
    with pytest.raises(CorruptVideoError, match="zero frames"):
        read_video(data)


def test_zero_frames_no_track(tmp_path: Path) -> None:
    path = tmp_path / "z.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=16)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
    with pytest.raises(CorruptVideoError, match="no video stream"):
        read_video(path)


def test_container_without_frame_count(clip_dir: Path) -> None:
    mkv = encode_clip(clip_dir, frames=5, fmt="matroska")
    with pytest.raises(CorruptVideoError, match="no frame count"):
        probe_video(mkv)


def test_hostile_frame_count_is_refused_before_allocating(
    clip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stts sample count 81 -> 10 million: FFmpeg reports 10M frames from the header.
    forged = patch_box_u32(clip, b"stts", 12, 10_000_000)
    with av.open(io.BytesIO(forged)) as c:
        assert c.streams.video[0].frames == 10_000_000

    def no_alloc(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("allocated before checking the header")

    monkeypatch.setattr(video_module.np, "empty", no_alloc)
    with pytest.raises(CorruptVideoError, match="max_frames"):
        read_video(forged)
    with pytest.raises(CorruptVideoError, match="max_frames"):
        probe_video(forged)


def test_hostile_size_is_refused_before_allocating(
    clip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FFmpeg takes the size from the H.264 SPS, so a forged stsd/tkhd size is not believed;
    # the limit itself is what must be checked before allocation.
    def no_alloc(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("allocated before checking the header")

    monkeypatch.setattr(video_module.np, "empty", no_alloc)
    with pytest.raises(CorruptVideoError, match="max_pixels"):
        read_video(clip, max_pixels=W * H - 1)
    with pytest.raises(CorruptVideoError, match="max_frames"):
        read_video(clip, max_frames=T - 1)


def test_surplus_frames(clip: bytes) -> None:
    # stts claims 50 samples but stsz still lists 81: more frames decode than declared.
    forged = patch_box_u32(clip, b"stts", 12, 50)
    if probe_video(forged).num_frames != 50:
        pytest.skip("this FFmpeg derives the count from another box")
    with pytest.raises(CorruptVideoError, match="more frames than its header"):
        read_video(forged)


def test_corrupt_payload(clip: bytes) -> None:
    b = bytearray(clip)
    ends = packet_ends(clip)
    for i in range(ends[0] - 1500, ends[0] - 100):  # scramble the key frame
        b[i] ^= 0xA5
    try:
        out = read_video(bytes(b))
    except CorruptVideoError:
        return
    # H.264 conceals some damage instead of failing; the count check still holds.
    assert out.shape == (T, H, W, 3)


# --------------------------------------------------------------------------- error plumbing


def test_error_location() -> None:
    name = "location_source_video_part00.tar::location/source_video/Sparkle_location_000001.mp4"
    with pytest.raises(CorruptVideoError) as info:
        read_video(b"junk", name=name, sample_id="Sparkle_location_000001")
    err = info.value
    assert err.path == "location_source_video_part00.tar"
    assert err.member == "location/source_video/Sparkle_location_000001.mp4"
    assert err.sample_id == "Sparkle_location_000001"
    assert isinstance(err.__cause__, av.FFmpegError)


class _Flaky(io.BytesIO):
    def __init__(self, data: bytes, after: int, exc: BaseException) -> None:
        super().__init__(data)
        self.calls, self.after, self.exc = 0, after, exc

    def read(self, n: int | None = -1) -> bytes:
        self.calls += 1
        if self.calls > self.after:
            raise self.exc
        return super().read(n)


@pytest.mark.parametrize("after", [0, 1])
@pytest.mark.parametrize(
    "exc",
    [RemoteError("gone", url="http://127.0.0.1/x", offset=0, attempts=3), MemoryError()],
)
def test_io_and_memory_errors_pass_through(clip: bytes, after: int, exc: BaseException) -> None:
    with pytest.raises(type(exc)):
        read_video(_Flaky(clip, after, exc))


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        probe_video("/nonexistent/clip.mp4")


# --------------------------------------------------------------------------- real clips


def real_clips() -> list[Path]:
    return sorted(REAL_CLIPS.glob("*.mp4")) if REAL_CLIPS.is_dir() else []


needs_real = pytest.mark.skipif(not real_clips(), reason=f"no real clips in {REAL_CLIPS}")


@pytest.mark.real_clips
@needs_real
def test_real_clips_probe() -> None:
    for path in real_clips():
        info = probe_video(path)
        expected = 69 if "openve3m" in path.name else 81
        assert info.num_frames == expected, path.name
        assert (info.width, info.height) == (1280, 720)
        assert info.fps == 16
        assert info.codec == "h264"
        assert info.pix_fmt == "yuv420p"
        assert not info.has_audio


@pytest.mark.real_clips
@needs_real
def test_real_clip_four_frames_resized() -> None:
    path = real_clips()[0]
    idx = [0, 20, 40, 60]
    got = read_video(path, indices=idx, height=480, width=832)
    assert got.shape == (4, 480, 832, 3)
    data = path.read_bytes()
    with av.open(io.BytesIO(data)) as c:
        ref = [
            f.to_ndarray(format="rgb24", width=832, height=480, interpolation="BILINEAR")
            for i, f in enumerate(c.decode(video=0))
            if i in idx
        ]
    np.testing.assert_array_equal(got, np.stack(ref))
    t = read_video(data, indices=idx, height=480, width=832, layout="TCHW", output="torch")
    assert tuple(t.shape) == (4, 3, 480, 832)


@pytest.mark.real_clips
@pytest.mark.slow
@needs_real
def test_real_clips_decode_fully() -> None:
    for path in real_clips():
        out = read_video(path, height=180, width=320, interpolation="FAST_BILINEAR")
        assert out.shape[0] == probe_video(path).num_frames


@pytest.mark.real_clips
@needs_real
def test_real_clip_truncated() -> None:
    data = real_clips()[0].read_bytes()
    cut = data[: packet_ends(data)[40]]
    with pytest.raises(CorruptVideoError):
        read_video(cut, indices=[80], height=90, width=160)


def test_shared_memory_output_is_shared_and_identical(clip: bytes) -> None:
    """Decoding straight into shared memory (what DataLoader workers hand over) changes
    nothing in the pixels, with or without a resize."""
    for kwargs in ({}, {"height": 32, "width": 48}):
        plain = read_video(clip, indices=[0, 5, 80], output="torch", layout="TCHW", **kwargs)
        shared = read_video(
            clip, indices=[0, 5, 80], output="torch", layout="TCHW", shared_memory=True, **kwargs
        )
        assert shared.is_shared()
        assert not plain.is_shared()
        assert bool((plain == shared).all())
    with pytest.raises(ValueError, match="shared_memory"):
        read_video(clip, output="numpy", shared_memory=True)
