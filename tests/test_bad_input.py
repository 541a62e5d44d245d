"""Issue 17: bad input never yields silent wrong data or a hang.

Every case damages a private copy of one small synthetic tree (``adversarial`` fixture) the
way a hostile or unlucky user would, then checks what the library, ``verify`` (plain and
``--deep``), the dataset and the Kiwi export do with it. The table in
``docs/reliability.md`` ("Bad inputs and what happens") lists the same cases.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from media_fakes import faststart, small_location_tree

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.catalog.deep import deep_verify
from sparkle_data.catalog.verify import verify_catalog
from sparkle_data.cli import main
from sparkle_data.dataset import SparkleDataset
from sparkle_data.errors import (
    CorruptMaskError,
    CorruptRecordError,
    CorruptVideoError,
    JoinError,
    LayoutError,
    ReadError,
    SparkleError,
    SparkleSkipWarning,
)
from sparkle_data.export.kiwi import export_kiwi
from sparkle_data.io.regular import open_regular
from sparkle_data.layout import artifact_relpath
from sparkle_data.readers.consistency import (
    allowed_edited_sizes,
    check_boxes,
    sample_shape_problems,
)
from sparkle_data.readers.grounding_arrays import BoxesArray
from sparkle_data.readers.limits import DEFAULT_MAX_DECODED_BYTES
from sparkle_data.readers.mask import encode_mask_npz, probe_mask, read_mask
from sparkle_data.sampling import DecodeOptions, decode_sample

LOOSE = "Sparkle_location_000000"
"""A corpus sample with loose (preview) files: they are what the catalog reads."""
SHARD_ONLY = "Sparkle_location_000006"
"""A corpus sample held by shard members only (alone in its source video shard)."""
SOURCE_SHARD = "location_source_video_part03.tar"
SOURCE_MEMBER = f"location/source_video/{SHARD_ONLY}.mp4"
RECORD = "intermediate_data/location/edited_video_score.jsonl"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_location_tree(tmp_path_factory.mktemp("bad-input"))


@pytest.fixture
def adversarial(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the small tree, to damage."""
    root = tmp_path / "Sparkle"
    shutil.copytree(pristine, root)
    return root


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """Every test here fails (instead of hanging the run) if it blocks for 60 s."""

    def fire(signum: int, frame: Any) -> None:
        raise TimeoutError("blocked for 60 s (a FIFO opened for reading?)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def catalog_of(root: Path, **kwargs: Any) -> Catalog:
    return build_catalog(root, cache=False, **kwargs)


def loose(root: Path, artifact: str, sample_id: str = LOOSE) -> Path:
    return root / artifact_relpath(sample_id, artifact)


def write_shard(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))


def encode_clip(frames: int, width: int, height: int, path: Path) -> bytes:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=16)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.full((height, width, 3), (i * 7) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path.read_bytes()


def problems(root: Path, **kwargs: Any) -> dict[str, list[str]]:
    report = verify_catalog(catalog_of(root, duplicates="first"), deep=True, **kwargs)
    return report.samples


# --------------------------------------------------------------------------- never block


def test_fifo_shard_is_refused_without_blocking(adversarial: Path) -> None:
    shard = adversarial / SOURCE_SHARD
    shard.unlink()
    os.mkfifo(shard)
    with pytest.raises(LayoutError, match=r"FIFO.*not a regular file") as e:
        catalog_of(adversarial)
    assert e.value.path is not None
    assert e.value.path.endswith(SOURCE_SHARD)


def test_fifo_record_file_is_refused_without_blocking(adversarial: Path) -> None:
    record = adversarial / RECORD
    record.unlink()
    os.mkfifo(record)
    with pytest.raises(LayoutError, match="FIFO") as e:
        catalog_of(adversarial)
    assert str(e.value.path).endswith("edited_video_score.jsonl")


def test_fifo_loose_artifact_is_refused_when_read(adversarial: Path) -> None:
    path = loose(adversarial, "edited_video")
    path.unlink()
    os.mkfifo(path)
    catalog = catalog_of(adversarial)
    with pytest.raises(LayoutError, match="FIFO"):
        catalog.read_bytes(LOOSE, "edited_video")
    with pytest.raises(LayoutError, match="FIFO"):
        decode_sample(catalog, LOOSE, ["edited_video"], DecodeOptions(output="numpy"))


def test_open_regular_refuses_fifo_and_folder(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(LayoutError, match="FIFO"):
        open_regular(tmp_path / "pipe")
    with pytest.raises(LayoutError, match="directory"):
        open_regular(tmp_path)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")
    (tmp_path / "f").write_bytes(b"x")
    with open_regular(tmp_path / "f") as f:
        assert f.read() == b"x"
        assert f.name == str(tmp_path / "f")


def test_directory_shard_is_a_sparkle_error_naming_it(adversarial: Path) -> None:
    shard = adversarial / SOURCE_SHARD
    shard.unlink()
    shard.mkdir()
    with pytest.raises(LayoutError, match=r"is a directory") as e:
        catalog_of(adversarial)
    assert SOURCE_SHARD in str(e.value)


# --------------------------------------------------------------------------- I/O errors


def _on_open(monkeypatch: pytest.MonkeyPatch, suffixes: tuple[str, ...], action: Any) -> None:
    """Make ``os.open`` of paths ending with ``suffixes`` call ``action(open, path, flags)``."""
    real = os.open

    def fake(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith(suffixes):
            return int(action(real, path, flags))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake)


def _eio(real: Any, path: Any, flags: int) -> int:
    raise OSError(errno.EIO, os.strerror(errno.EIO), os.fspath(path))


@pytest.mark.parametrize("target", [SOURCE_SHARD, RECORD])
def test_eio_opening_a_shard_or_record_file_is_a_read_error(
    adversarial: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    _on_open(monkeypatch, (target,), _eio)
    with pytest.raises(ReadError, match=r"cannot be read \(Input/output error, EIO\)") as e:
        catalog_of(adversarial)
    assert isinstance(e.value, OSError)  # `except OSError` keeps working
    assert e.value.errno == errno.EIO
    assert str(e.value.path).endswith(target)


def test_a_path_that_names_no_file_is_not_a_read_error(tmp_path: Path) -> None:
    from sparkle_data.cli import main
    from sparkle_data.io.regular import check_regular

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with pytest.raises(NotADirectoryError):
        check_regular(plain / "inside.tar")  # a file used as a folder: a lookup error
    with pytest.raises(FileNotFoundError):
        check_regular(tmp_path / "missing.tar")
    assert main(["info", str(plain / "inside"), "-q"]) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod-000 file anyway")
@pytest.mark.parametrize("target", [SOURCE_SHARD, RECORD])
def test_chmod_000_shard_or_record_file_is_a_read_error(adversarial: Path, target: str) -> None:
    path = adversarial / target
    path.chmod(0)
    try:
        with pytest.raises(ReadError, match="EACCES") as e:
            catalog_of(adversarial)
    finally:
        path.chmod(0o644)
    assert e.value.errno == errno.EACCES
    assert str(e.value.path).endswith(target)


def test_a_failing_read_is_a_read_error_naming_the_file(
    adversarial: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors while reading (not opening): a write-only descriptor fails every read."""
    catalog = catalog_of(adversarial)

    def write_only(real: Any, path: Any, flags: int) -> int:
        return int(real(path, (flags & ~(os.O_RDONLY | os.O_RDWR)) | os.O_WRONLY))

    _on_open(monkeypatch, (f"{LOOSE}.mp4", "edited_video_score.jsonl"), write_only)
    with pytest.raises(ReadError, match="EBADF") as e:
        catalog.read_bytes(LOOSE, "edited_video")
    assert str(e.value.path).endswith(f"{LOOSE}.mp4")
    with pytest.raises(ReadError, match="EBADF") as e:
        catalog_of(adversarial)
    assert str(e.value.path).endswith("edited_video_score.jsonl")


def test_eio_from_pread_on_a_local_source_is_a_read_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkle_data.io.source import LocalSource

    path = tmp_path / "shard.tar"
    path.write_bytes(b"x" * 1024)
    source = LocalSource(str(path))

    def failing(fd: int, n: int, offset: int) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "pread", failing)
    try:
        with pytest.raises(ReadError, match=r"EIO") as e:
            source.fetch(0, memoryview(bytearray(16)))
    finally:
        source.close()
    assert e.value.errno == errno.EIO
    assert str(e.value.path) == str(path)


def test_zero_byte_member_is_a_corrupt_video_naming_member_and_sample(adversarial: Path) -> None:
    write_shard(adversarial / SOURCE_SHARD, {SOURCE_MEMBER: b""})
    catalog = catalog_of(adversarial)
    with pytest.raises(CorruptVideoError, match="empty") as e:
        decode_sample(catalog, SHARD_ONLY, ["source_video"], DecodeOptions(output="numpy"))
    assert (e.value.member, e.value.sample_id) == (SOURCE_MEMBER, SHARD_ONLY)
    assert "Negative seek" not in str(e.value)


def test_zero_byte_loose_video_is_a_corrupt_video(adversarial: Path) -> None:
    loose(adversarial, "source_video").write_bytes(b"")
    catalog = catalog_of(adversarial)
    with pytest.raises(CorruptVideoError, match="empty") as e:
        decode_sample(catalog, LOOSE, ["source_video"], DecodeOptions(output="numpy"))
    assert e.value.sample_id == LOOSE
    assert "Invalid argument" not in str(e.value)


def _huge_mask_npz(shape: tuple[int, int, int]) -> bytes:
    """A valid packed-bit NPZ of ``shape``, streamed (never holding the packed bytes)."""
    t, h, w = shape
    packed = -(-t * h * w // 8)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": (packed,)}
    )
    header = buf.getvalue()
    shape_npy = io.BytesIO()
    np.lib.format.write_array(shape_npy, np.asarray(shape, dtype=np.int64))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("mask.npy", "w", force_zip64=True) as f:
            f.write(header)
            zeros = bytes(1 << 20)
            left = packed
            while left:
                f.write(zeros[: min(left, len(zeros))])
                left -= min(left, len(zeros))
        zf.writestr("shape.npy", shape_npy.getvalue())
    return out.getvalue()


def test_huge_legal_mask_hits_the_cap_before_allocating(tmp_path: Path) -> None:
    import tracemalloc

    data = _huge_mask_npz((81, 4096, 4096))  # 1.36 GB decoded: legal shape, above 1 GiB
    assert probe_mask(data).shape == (81, 4096, 4096)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptMaskError, match="max_decoded_bytes") as e:
            read_mask(data, name="shard.tar::location/source_video_mask/x.npz", sample_id="S")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
    assert (e.value.member, e.value.sample_id) == ("location/source_video_mask/x.npz", "S")
    assert DEFAULT_MAX_DECODED_BYTES > 81 * 720 * 1280 * 3


def test_decode_cap_is_configurable_and_names_the_sample(adversarial: Path) -> None:
    catalog = catalog_of(adversarial)
    options = DecodeOptions(output="numpy", max_decoded_bytes=1000)
    cases = (("source_video", CorruptVideoError), ("source_video_mask", CorruptMaskError))
    for field, error in cases:
        with pytest.raises(error, match="max_decoded_bytes=1000") as e:
            decode_sample(catalog, SHARD_ONLY, [field], options)
        assert e.value.sample_id == SHARD_ONLY
    with pytest.raises(ValueError, match="max_decoded_bytes"):
        DecodeOptions(max_decoded_bytes=0)


# --------------------------------------------------------------------------- duplicates


def test_same_id_in_two_shards_is_an_error_unless_a_rule_is_picked(adversarial: Path) -> None:
    other = b"not the real clip"
    write_shard(adversarial / "location_source_video_part07.tar", {SOURCE_MEMBER: other})
    with pytest.raises(JoinError, match=rf"{SHARD_ONLY} source_video in several shards"):
        catalog_of(adversarial)
    first = catalog_of(adversarial, duplicates="first")
    last = catalog_of(adversarial, duplicates="last")
    assert first.locate(SHARD_ONLY, "source_video").path == SOURCE_SHARD
    assert last.read_bytes(SHARD_ONLY, "source_video") == other
    assert [d.sample_id for d in first.duplicates] == [SHARD_ONLY]
    report = verify_catalog(first)
    assert not report.ok
    assert any(f.code == "duplicate-id" and SHARD_ONLY in f.examples[0] for f in report.problems)
    assert main(["verify", str(adversarial), "--no-cache"]) == 1
    assert main(["info", str(adversarial), "--no-cache"]) != 0
    assert main(["info", str(adversarial), "--no-cache", "--duplicates", "first"]) == 0
    with pytest.raises(ValueError, match="duplicates"):
        catalog_of(adversarial, duplicates="any")


def test_loose_file_differing_from_its_member_is_reported(adversarial: Path) -> None:
    path = loose(adversarial, "edited_video")
    path.write_bytes(path.read_bytes() + b"\0")  # another size: found without reading
    catalog = catalog_of(adversarial)  # the loose file is read, as documented: no error
    assert [(d.sample_id, d.artifact) for d in catalog.duplicates] == [(LOOSE, "edited_video")]
    assert any(f.code == "duplicate-id" for f in verify_catalog(catalog).problems)


def test_deep_verify_compares_bytes_of_same_size_copies(adversarial: Path) -> None:
    path = loose(adversarial, "edited_background_video")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes inside a later frame
    path.write_bytes(bytes(data))
    assert catalog_of(adversarial).duplicates == ()  # sizes agree: only --deep can tell
    found = problems(adversarial)
    assert list(found) == [LOOSE]
    assert any("different bytes" in m for m in found[LOOSE])


# --------------------------------------------------------------------------- consistency


@pytest.mark.parametrize("kind", ["swapped", "same-bit-count"])
def test_mask_shape_must_match_the_source_video(adversarial: Path, kind: str) -> None:
    catalog = catalog_of(adversarial)
    t, h, w = probe_mask(catalog.read_bytes(LOOSE, "source_video_mask")).shape
    shape = (t, w, h) if kind == "swapped" else (t, h * w // 8, 8)
    loose(adversarial, "source_video_mask").write_bytes(
        encode_mask_npz(np.zeros(shape, dtype=np.bool_))
    )
    catalog = catalog_of(adversarial)
    for fields in (["source_video_mask"], ["source_video", "source_video_mask"]):
        with pytest.raises(CorruptMaskError, match=r"source video's \(frames, height, width\)"):
            decode_sample(catalog, LOOSE, fields, DecodeOptions(output="numpy"))
    found = problems(adversarial)
    assert list(found) == [LOOSE]
    assert any("mask shape" in m for m in found[LOOSE])


def test_edited_video_must_match_the_source(adversarial: Path, tmp_path: Path) -> None:
    loose(adversarial, "edited_video").write_bytes(encode_clip(5, 64, 48, tmp_path / "e.mp4"))
    catalog = catalog_of(adversarial)
    with pytest.raises(CorruptVideoError, match="frame count") as e:
        decode_sample(
            catalog, LOOSE, ["source_video", "edited_video"], DecodeOptions(output="numpy")
        )
    assert e.value.sample_id == LOOSE
    with pytest.raises(CorruptVideoError, match="Kiwi-Edit crop"):
        decode_sample(
            catalog,
            LOOSE,
            ["source_video", "edited_video"],
            DecodeOptions(output="numpy", frame_mismatch="min"),
        )
    found = problems(adversarial)
    assert any("frame count 5" in m for m in found[LOOSE])
    assert any("size '64x48'" in m for m in found[LOOSE])


def test_kiwi_704_rule() -> None:
    assert allowed_edited_sizes(720, 1280) == ((720, 1280), (704, 1280))
    ok = {"source_video": (81, 720, 1280), "edited_video": (81, 704, 1280)}
    assert sample_shape_problems(ok) == []
    bad = {**ok, "edited_video": (81, 720, 1264)}
    assert [p.what for p in sample_shape_problems(bad)] == ["edited_video size"]
    assert sample_shape_problems({"edited_video": (5, 1, 1)}) == []  # no source: no rule


def test_boxes_outside_the_frame_are_refused() -> None:
    inside = np.array([[[0, 0, 96, 54]]], dtype=np.int32)
    arr = BoxesArray(inside, np.ones((1, 1), bool), ("a",), np.array([0], dtype=np.int64))
    check_boxes(arr, (69, 54, 96))
    for box, frame in (([0, 0, 97, 54], 0), ([50, 0, 10, 54], 0), ([0, 0, 96, 54], 69)):
        bad = BoxesArray(
            np.array([[box]], dtype=np.int32),
            np.ones((1, 1), bool),
            ("a",),
            np.array([frame], dtype=np.int64),
        )
        with pytest.raises(CorruptRecordError, match="grounding") as e:
            check_boxes(bad, (69, 54, 96), name="r2.jsonl (line 3)", sample_id="S")
        assert e.value.sample_id == "S"


# --------------------------------------------------------------------------- verify --deep


def _object_array_mask() -> bytes:
    out = io.BytesIO()
    np.savez(out, mask=np.array([{"a": 1}], dtype=object), shape=np.array([1, 1, 1]))
    return out.getvalue()


def _without_shape(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        dst.writestr("mask.npy", src.read("mask.npy"))
    return out.getvalue()


def _audio_only(tmp: Path) -> bytes:
    path = tmp / "audio.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path.read_bytes()


BROKEN: dict[str, tuple[str, Callable[[bytes, Path], bytes]]] = {
    "mp4-zero-bytes": ("source_video", lambda d, tmp: b""),
    "mp4-random-bytes": ("source_video", lambda d, tmp: os.urandom(len(d))),
    "mp4-truncated": ("source_video", lambda d, tmp: d[: len(d) // 2]),
    "mp4-faststart-truncated": (
        "source_video",
        lambda d, tmp: faststart(d, tmp)[: len(d) * 3 // 4],
    ),
    "mp4-audio-only": ("edited_video", lambda d, tmp: _audio_only(tmp)),
    "png-zero-bytes": ("edited_frame0", lambda d, tmp: b""),
    "png-truncated": ("edited_frame0", lambda d, tmp: d[: len(d) // 2]),
    "mask-zero-bytes": ("source_video_mask", lambda d, tmp: b""),
    "mask-no-shape": ("source_video_mask", lambda d, tmp: _without_shape(d)),
    "mask-object-array": ("source_video_mask", lambda d, tmp: _object_array_mask()),
    "mask-bits-disagree": (
        "source_video_mask",
        lambda d, tmp: encode_mask_npz(np.zeros((2, 3, 5), dtype=np.bool_))[:-1] + b"\0",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_deep_verify_looks_inside_media(adversarial: Path, tmp_path: Path, case: str) -> None:
    artifact, damage = BROKEN[case]
    path = loose(adversarial, artifact)
    path.write_bytes(damage(path.read_bytes(), tmp_path))
    plain = verify_catalog(catalog_of(adversarial, duplicates="first"))
    assert plain.ok or all(f.code == "duplicate-id" for f in plain.problems)
    found = problems(adversarial)
    assert LOOSE in found, case
    assert any(artifact in m or "Invalid" in m for m in found[LOOSE])


def test_deep_verify_of_a_clean_tree_is_ok_and_resumable(adversarial: Path, tmp_path: Path) -> None:
    catalog = catalog_of(adversarial)
    state = tmp_path / "state.json"
    first = deep_verify(catalog, state=state, workers=2)
    assert first.problems == []
    assert first.samples == 4
    assert first.resumed == 0
    assert first.artifacts == 4 * 8
    header, *entries = [json.loads(line) for line in state.read_text().splitlines()]
    assert header["root"] == catalog.root
    assert sorted(e["id"] for e in entries) == sorted(catalog.corpus().index)
    again = deep_verify(catalog, state=state)
    assert (again.samples, again.resumed, again.artifacts) == (4, 4, 0)
    # A run killed mid-line: the partial line is ignored, that sample is checked again.
    text = state.read_text()
    state.write_text(text[: text.rstrip("\n").rfind("\n") + 1] + entries[-1]["id"][:7])
    resumed = deep_verify(catalog, state=state)
    assert (resumed.samples, resumed.resumed, resumed.artifacts) == (4, 3, 8)
    assert deep_verify(catalog, state=state).resumed == 4
    state.write_text(json.dumps({**header, "root": "/elsewhere"}) + "\n")
    with pytest.raises(ValueError, match="elsewhere"):
        deep_verify(catalog, state=state)


def test_deep_verify_resumes_after_an_interrupted_run(adversarial: Path, tmp_path: Path) -> None:
    loose(adversarial, "edited_frame0").write_bytes(b"")
    catalog = catalog_of(adversarial)
    state = tmp_path / "state.json"
    part = deep_verify(catalog, ids=[LOOSE], state=state)
    assert [p.sample_id for p in part.problems] == [LOOSE]
    full = deep_verify(catalog, state=state)
    assert full.resumed == 1
    assert full.samples == 4
    assert [p.sample_id for p in full.problems] == [LOOSE]  # read back from the state


def test_cli_verify_deep(
    adversarial: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(adversarial), "--deep", "--no-cache", "--quiet"]) == 0
    loose(adversarial, "source_video").write_bytes(b"")
    out = tmp_path / "deep.json"
    code = main(
        ["verify", str(adversarial), "--deep", "--workers", "2", "--no-cache", "--quiet",
         "--json", str(out), "--state", str(tmp_path / "s.json")]
    )
    assert code == 1
    text = capsys.readouterr().out
    assert "deep-corrupt" in text
    assert LOOSE in text
    samples = json.loads(out.read_text())["samples"]
    assert list(samples) == [LOOSE]
    assert "empty" in samples[LOOSE][0]
    assert main(["verify", str(adversarial), "--state", "x.json"]) == 2


# --------------------------------------------------------------------------- exports


def test_kiwi_export_never_copies_a_clip_truncated_after_its_header(
    adversarial: Path, tmp_path: Path
) -> None:
    path = loose(adversarial, "source_video")
    data = path.read_bytes()
    path.write_bytes(faststart(data, tmp_path)[: len(data) * 3 // 4])
    catalog = catalog_of(adversarial)
    ids = list(catalog.corpus().index)
    with pytest.raises(CorruptVideoError, match="header declares") as e:
        export_kiwi(catalog, ids, tmp_path / "strict", workers=1)
    assert e.value.sample_id == LOOSE
    report = export_kiwi(catalog, ids, tmp_path / "lenient", on_error="skip", workers=1)
    assert report.dropped == {"corrupt_video": 1}
    assert report.samples == len(ids) - 1
    assert not (tmp_path / "lenient" / "location/source_video" / f"{LOOSE}.mp4").exists()


# --------------------------------------------------------------------------- leniency


def _damage_line(root: Path, rel: str, line: int, new: bytes) -> None:
    path = root / rel
    lines = path.read_bytes().split(b"\n")
    lines[line] = new
    path.write_bytes(b"\n".join(lines))


BAD_LINES: dict[str, Callable[[bytes], bytes]] = {
    "nan": lambda line: line.replace(b'"O_score": ', b'"O_score": NaN, "x": ', 1),
    "truncated": lambda line: line[: len(line) // 2],
    "bad-utf8": lambda line: line.replace(b'"prompt": "', b'"prompt": "\xff', 1),
    "huge-number": lambda line: line.replace(b'"O_score": ', b'"O_score": 1e309, "x": ', 1),
    "string-score": lambda line: line.replace(b'"O_score": ', b'"O_score": "8", "x": ', 1),
    "missing-key": lambda line: line.replace(b'"frame_indices"', b'"frame_indexes"', 1),
}


DAMAGED = "Sparkle_location_000002"
"""The corpus sample whose record line is damaged."""


def _damage_record(root: Path, case: str) -> None:
    path = root / RECORD
    lines = path.read_bytes().split(b"\n")
    (i,) = [i for i, line in enumerate(lines) if DAMAGED.encode() in line]
    damaged = BAD_LINES[case](lines[i])
    assert damaged != lines[i]
    lines[i] = damaged
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_one_bad_record_line_costs_one_sample(adversarial: Path, case: str) -> None:
    _damage_record(adversarial, case)
    with pytest.raises(SparkleError):
        SparkleDataset(adversarial, fields=["source_video"])
    ds = SparkleDataset(adversarial, fields=["source_video"], on_error="skip")
    assert ds.report.total == 1
    table = ds.catalog.table
    assert not table.loc[DAMAGED, "in_edited_video_score"]
    assert int(table["in_edited_video_score"].sum()) == 3 + 1  # the 3 others + a rejected id
    reason = table.loc[DAMAGED, "skip_reason"]
    if reason is None:  # the line is too broken to name its sample: counted only
        assert case in ("truncated", "bad-utf8")
        assert len(ds.ids) == 4
    else:  # the sample is marked unusable with the reason, and left out
        assert reason == next(iter(ds.report.counts))
        assert ds.ids == sorted(set(ds.catalog.corpus().index) - {DAMAGED})


def test_bad_csv_row_and_damaged_shard_cost_only_their_samples(adversarial: Path) -> None:
    _damage_line(
        adversarial,
        "prompts/location_train.csv",
        2,
        b'"p",../x/Sparkle_location_000002.mp4,location/edited_video/Sparkle_location_000002.mp4,'
        b"Sparkle_location_000002",
    )
    shard = adversarial / "intermediate_data/location_source_frame0_part00.tar"
    shard.write_bytes(shard.read_bytes()[:3000])  # cut inside the second member
    with pytest.raises(SparkleError):
        catalog_of(adversarial)
    with pytest.raises(SparkleError):
        catalog_of(adversarial, on_error="skip", max_skips=1)  # a budget: the 2nd skip raises
    catalog = catalog_of(adversarial, on_error="skip", max_skips=2)
    counts = dict(catalog.report.counts)
    assert counts.get("truncated_shard") == 1
    assert sum(counts.values()) == 2
    assert len(catalog.corpus()) == 3
    ds = SparkleDataset(catalog, fields=["source_video"])
    assert len(ds.ids) == 3


def test_unattributed_record_lines_are_counted_with_file_and_line(adversarial: Path) -> None:
    path = adversarial / RECORD
    lines = path.read_bytes().split(b"\n")
    (i,) = [k for k, line in enumerate(lines) if DAMAGED.encode() in line]
    lines[i] = lines[i][: len(lines[i]) // 2]  # invalid JSON: its id is never parsed
    lines.insert(i, b'{"prompt": "\xff", "id": "Sparkle_location_000009"}')  # bad UTF-8 first
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptRecordError, match="UTF-8") as e:
        catalog_of(adversarial)  # strict: the first one, by file and line
    assert (e.value.line, e.value.sample_id) == (i + 1, None)
    assert str(e.value.path).endswith("edited_video_score.jsonl")
    with pytest.raises(CorruptRecordError, match="max_skips=1"):
        catalog_of(adversarial, on_error="skip", max_skips=1)  # both count against the budget
    catalog = catalog_of(adversarial, on_error="skip", max_skips=2)
    assert dict(catalog.report.counts) == {"unattributed_record_line": 2}
    found = [(str(x.path).rsplit("/", 1)[-1], x.line) for x in catalog.report.examples]
    assert found == [("edited_video_score.jsonl", i + 1), ("edited_video_score.jsonl", i + 2)]
    assert catalog.table["skip_reason"].isna().all()  # no sample is blamed for them


def test_cli_skip_bad(adversarial: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _damage_record(adversarial, "truncated")
    assert main(["stats", str(adversarial), "--no-cache"]) != 0
    capsys.readouterr()
    assert main(["stats", str(adversarial), "--no-cache", "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "--skip-bad: 1 skipped" in err


def test_hf_load_dataset_skips_bad_lines_and_refuses_duplicates(adversarial: Path) -> None:
    from sparkle_data.hf import load_dataset

    _damage_record(adversarial, "truncated")
    with pytest.raises(CorruptRecordError):
        load_dataset(str(adversarial), "location", progress=False)
    ds = load_dataset(str(adversarial), "location", progress=False, on_error="skip")
    assert len(list(ds)) == 4
    write_shard(adversarial / "location_source_video_part07.tar", {SOURCE_MEMBER: b"x"})
    with pytest.raises(JoinError, match="several shards"):
        load_dataset(str(adversarial), "location", progress=False, on_error="skip")
    ds = load_dataset(
        str(adversarial), "location", progress=False, on_error="skip", duplicates="first"
    )
    assert len(list(ds)) == 4


def test_dataset_decode_cap_skips_and_counts(adversarial: Path) -> None:
    ds = SparkleDataset(
        adversarial, fields=["source_video"], output="numpy", max_decoded_bytes=1000
    )
    with pytest.raises(CorruptVideoError, match="max_decoded_bytes=1000"):
        next(iter(ds))
    lenient = SparkleDataset(
        adversarial,
        fields=["source_video"],
        output="numpy",
        max_decoded_bytes=1000,
        on_error="skip",
    )
    with pytest.warns(SparkleSkipWarning, match="every sample"):
        assert list(lenient) == []
    assert lenient.report.counts == {"CorruptVideoError": 4}


@pytest.mark.parametrize(
    "record", [RECORD, "intermediate_data/location/foreground_grounding_r2.jsonl"]
)
def test_an_oversized_line_is_skipped_to_its_newline(
    adversarial: Path, monkeypatch: pytest.MonkeyPatch, record: str
) -> None:
    import importlib

    lines_module = importlib.import_module("sparkle_data.readers._lines")
    monkeypatch.setattr(lines_module, "MAX_LINE_BYTES", 64 << 10)  # stands for 64 MiB
    monkeypatch.setattr(lines_module, "CHUNK_SIZE", 4 << 10)
    path = adversarial / record
    lines = path.read_bytes().split(b"\n")
    (i,) = [i for i, line in enumerate(lines) if DAMAGED.encode() in line]
    lines[i] = lines[i][:-1] + b', "pad": "' + b"x" * (200 << 10) + b'"}'
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptRecordError, match="longer than") as e:
        catalog_of(adversarial)
    assert e.value.line == i + 1
    catalog = catalog_of(adversarial, on_error="skip")
    assert dict(catalog.report.counts) == {"line_too_long": 1}
    column = "in_" + record.rsplit("/", 1)[-1].removesuffix(".jsonl")
    present = catalog.table[column]
    assert not present[DAMAGED]
    assert int(present.sum()) == sum(1 for line in lines if line.strip()) - 1
