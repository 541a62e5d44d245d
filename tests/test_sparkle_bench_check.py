"""``check`` on synthetic inference outputs with each kind of defect."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sparkle_data.cli import main
from sparkle_data.io.h264 import open_bitexact_h264
from sparkle_data.readers.video import probe_video
from sparkle_data.sparkle_bench.check import check_outputs, format_check
from sparkle_data.sparkle_bench.items import BenchItem, load_items
from sparkle_data.sparkle_bench.outputs import concat_relpath, output_path
from sparkle_data.testing import SampleTreeSummary


def _encode(frames: int, width: int, height: int) -> bytes:
    buf = io.BytesIO()
    container, stream = open_bitexact_h264(buf, width, height, rate=16, crf=30, preset="ultrafast")
    import av

    for i in range(frames):
        img = np.full((height, width, 3), (i * 7) % 255, dtype=np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return buf.getvalue()


@pytest.fixture
def bench(sample_tree: SampleTreeSummary) -> tuple[Path, list[BenchItem]]:
    assert sample_tree.bench_root is not None
    items = list(load_items(sample_tree.bench_root))
    assert len(items) >= 8  # 2 per theme
    return sample_tree.bench_root, items


def _perfect_outputs(out: Path, items: list[BenchItem]) -> None:
    for it in items:
        dst = output_path(out, it)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(it.source_video, dst)


def test_a_complete_output_dir_is_ok(tmp_path: Path, bench: tuple[Path, list[BenchItem]]) -> None:
    _, items = bench
    _perfect_outputs(tmp_path, items)
    # upstream's side-by-side preview next to an output is not an extra file
    (tmp_path / concat_relpath(items[0])).write_bytes(b"preview")
    report = check_outputs(tmp_path, items)
    assert report.ok, format_check(report)
    assert {t.theme for t in report.themes} == {"location", "season", "time", "style"}
    assert sum(t.present for t in report.themes) == len(items)


def test_each_defect_is_found_in_its_theme(
    tmp_path: Path, bench: tuple[Path, list[BenchItem]]
) -> None:
    _, items = bench
    _perfect_outputs(tmp_path, items)
    by_theme: dict[str, list[BenchItem]] = {}
    for it in items:
        by_theme.setdefault(it.theme, []).append(it)
    loc, sea, tim, sty = (by_theme[t] for t in ("location", "season", "time", "style"))
    output_path(tmp_path, loc[0]).unlink()  # missing
    wrong = tmp_path / "location" / "other---scene" / f"{loc[0].sample_id}_edited.mp4"
    wrong.parent.mkdir()
    wrong.write_bytes(b"x")  # extra (wrong scene folder)
    (tmp_path / "location" / "notes.txt").write_text("x")  # extra
    output_path(tmp_path, sea[0]).write_bytes(b"not an mp4")  # unreadable
    src = probe_video(tim[0].source_video)
    output_path(tmp_path, tim[0]).write_bytes(_encode(src.num_frames - 4, src.width, src.height))
    src_sty = probe_video(sty[0].source_video)
    output_path(tmp_path, sty[0]).write_bytes(_encode(src_sty.num_frames, 64, 36))

    report = check_outputs(tmp_path, items)
    assert not report.ok
    t = {c.theme: c for c in report.themes}
    assert t["location"].missing == (loc[0].sample_id,)
    assert t["location"].extra == tuple(sorted([
        "location/notes.txt", f"location/other---scene/{loc[0].sample_id}_edited.mp4"]))
    assert [u[0] for u in t["season"].unreadable] == [sea[0].sample_id]
    assert [(m.sample_id, m.expected, m.found) for m in t["time"].frame_mismatch] == [
        (tim[0].sample_id, f"{src.num_frames} frames", f"{src.num_frames - 4} frames")]
    assert t["time"].size_mismatch == ()
    assert [(m.sample_id, m.found) for m in t["style"].size_mismatch] == [
        (sty[0].sample_id, "64x36")]
    assert t["style"].frame_mismatch == ()
    # size "aspect": 64x36 has the source's 16:9; frames "none" ignores the short clip
    relaxed = check_outputs(tmp_path, items, size="aspect", frames="none")
    r = {c.theme: c for c in relaxed.themes}
    assert r["style"].ok
    assert r["time"].ok
    assert not r["season"].ok
    # names only: nothing is opened
    names = check_outputs(tmp_path, items, probe=False)
    n = {c.theme: c for c in names.themes}
    assert n["season"].ok
    assert n["time"].ok
    assert not n["location"].ok


def test_max_frames_caps_the_expected_count(
    tmp_path: Path, bench: tuple[Path, list[BenchItem]]
) -> None:
    _, items = bench
    it = items[0]
    src = probe_video(it.source_video)
    dst = output_path(tmp_path, it)
    dst.parent.mkdir(parents=True)
    assert src.num_frames > 33
    dst.write_bytes(_encode(33, src.width, src.height))
    assert check_outputs(tmp_path, [it], max_frames=33).ok
    uncapped = check_outputs(tmp_path, [it], max_frames=0)
    assert uncapped.themes[0].frame_mismatch[0].expected == f"{src.num_frames} frames"


def test_cli_check_exit_codes_and_json(
    tmp_path: Path, bench: tuple[Path, list[BenchItem]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, items = bench
    out = tmp_path / "run"
    _perfect_outputs(out, items)
    argv = ["sparkle-bench", "check", str(out), "--bench-root", str(root), "-q"]
    assert main(argv) == 0
    assert f"OK: {len(items)} of {len(items)} outputs present" in capsys.readouterr().out
    output_path(out, items[-1]).unlink()
    assert main([*argv, "--json", "-"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    missing = [sid for t in doc["themes"] for sid in t["missing"]]
    assert missing == [items[-1].sample_id]
    assert main(["sparkle-bench", "check", str(tmp_path / "nope"), "--bench-root", str(root)]) == 2
