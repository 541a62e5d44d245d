"""Sparkle-Bench items (local and hf://), sharding, output paths and rubric loading."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sparkle_bench_fakes import write_fake_bench

from sparkle_data.errors import JoinError, LayoutError, MissingArtifactError
from sparkle_data.sparkle_bench.errors import RubricError
from sparkle_data.sparkle_bench.items import BenchItem, load_items, shard_items
from sparkle_data.sparkle_bench.outputs import (
    find_score_files,
    output_relpath,
    rater_tag,
    score_file_name,
)
from sparkle_data.sparkle_bench.rubric import fill_rubric, load_rubric
from sparkle_data.testing import SampleTreeSummary

THEMES = ("location", "time")


def test_items_join_csv_and_metadata_in_csv_order(tmp_path: Path) -> None:
    ids = write_fake_bench(tmp_path / "b", tmp_path / "o", per_theme=3)
    items = load_items(tmp_path / "b", themes=THEMES)
    assert [it.sample_id for it in items] == ids
    assert [it.index for it in items] == [0, 1, 2, 0, 1, 2]
    first = items[0]
    assert (first.theme, first.subtheme, first.scene) == ("location", "urban", "scene number 1")
    assert first.prompt == f"Replace the background with scene 1 ({ids[0]})"
    assert first.source_video == str(tmp_path / "b" / "source_videos/location" / f"{ids[0]}.mp4")
    assert first.ref_image is None
    assert output_relpath(first) == f"location/urban---scene_number_1/{ids[0]}_edited.mp4"
    assert items.counts() == {"location": 3, "time": 3}
    assert len(items.by_theme("time")) == 3
    assert "6 items" in repr(items)


def test_missing_theme_files_and_rows_without_metadata(tmp_path: Path) -> None:
    write_fake_bench(tmp_path / "b", tmp_path / "o", per_theme=3)
    with pytest.raises(MissingArtifactError, match=r"season_bench\.csv"):
        load_items(tmp_path / "b")
    meta = tmp_path / "b" / "time_metadata.jsonl"
    meta.write_text("".join(meta.read_text().splitlines(keepends=True)[1:]))  # drop id 1
    with pytest.raises(JoinError, match="Sparkle_time_000001"):
        load_items(tmp_path / "b", themes=THEMES)
    lenient = load_items(tmp_path / "b", themes=THEMES, on_error="skip")
    assert [it.index for it in lenient.by_theme("time")] == [1, 2]  # upstream's idx is kept
    assert lenient.skipped is not None
    assert lenient.skipped.counts == Counter({"metadata_missing": 1})
    with pytest.raises(LayoutError):
        load_items(tmp_path / "b", themes=["openve3m"])


def _item(theme: str, k: int, index: int) -> BenchItem:
    return BenchItem(f"Sparkle_{theme}_{k:06d}", theme, index, "p", "a: b", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("scheme", ["upstream", "global"])
def test_shards_cover_every_item_exactly_once(world: int, workers: int, scheme: str) -> None:
    items = [_item("location", k, k) for k in range(11)] + [_item("time", k, k) for k in range(7)]
    seen = Counter(
        it.sample_id
        for rank in range(world)
        for w in range(workers)
        for it in shard_items(items, rank, world, worker=w, num_workers=workers,
                              scheme=scheme)  # type: ignore[arg-type]
    )
    assert seen == Counter(it.sample_id for it in items)


def test_upstream_sharding_is_idx_mod_num_rank_per_theme() -> None:
    items = [_item("location", k, k) for k in range(5)] + [_item("time", k, k) for k in range(3)]
    rank1 = shard_items(items, 1, 2)
    assert [(it.theme, it.index) for it in rank1] == [("location", 1), ("location", 3),
                                                      ("time", 1)]
    worker1 = shard_items(items, 0, 2, worker=1, num_workers=2)
    assert [(i.theme, i.index) for i in worker1] == [("location", 2), ("time", 2)]
    with pytest.raises(ValueError, match="rank"):
        shard_items(items, 2, 2)


def test_items_from_hf_through_the_fake_hub(sample_tree: SampleTreeSummary) -> None:
    from sparkle_data.testing.hub import FakeHub, serve_fake_hub

    assert sample_tree.bench_root is not None
    local = load_items(sample_tree.bench_root)
    hub = FakeHub.from_directory(sample_tree.bench_root, repo_id="stdKonjac/Sparkle-Bench")
    with serve_fake_hub(hub):
        remote = load_items("hf://datasets/stdKonjac/Sparkle-Bench")
        from sparkle_data.io.fs import open_binary

        with open_binary(remote[0].source_video) as f:
            head = f.read(12)
    assert [(i.sample_id, i.index, i.prompt, i.chosen_keyword) for i in remote] == [
        (i.sample_id, i.index, i.prompt, i.chosen_keyword) for i in local]
    assert remote[0].source_video.startswith("hf://datasets/stdKonjac/Sparkle-Bench")
    assert remote[0].ref_image is not None
    assert local[0].ref_image is not None
    assert head[4:8] == b"ftyp"


def test_score_file_names(tmp_path: Path) -> None:
    assert score_file_name("time", "gemini-2.5-pro") == "time_gemini-2.5-pro_sparkle_score.jsonl"
    assert rater_tag("google/gemini-2.5-pro") == "google_gemini-2.5-pro"
    with pytest.raises(LayoutError):
        rater_tag("../x")
    (tmp_path / "time_gemini-2.5-pro_sparkle_score.jsonl").write_text("")
    (tmp_path / "season_my_rater_sparkle_score.jsonl").write_text("")
    (tmp_path / "openve3m_x_sparkle_score.jsonl").write_text("")
    assert {k: sorted(v) for k, v in find_score_files(tmp_path).items()} == {
        "gemini-2.5-pro": ["time"], "my_rater": ["season"]}


UPSTREAM_LIKE = '''import os
import openai

# 6-dim rubric
BACKGROUND_REPLACEMENT = """
You are a rater.
Example Response Format
Instruction Compliance: 1-5.
Editing instruction is: {edit_prompt}.

Below are the videos before and after editing:
"""

GEMINI_API = openai.AzureOpenAI(api_key=os.environ["GEMINI_API_KEY"])
raise SystemExit("never executed")
'''


def test_rubric_from_the_upstream_script_is_read_never_run(tmp_path: Path) -> None:
    script = tmp_path / "eval_sparkle_bench_gemini.py"
    script.write_text(UPSTREAM_LIKE)
    rubric = load_rubric(script)
    assert rubric.startswith("\nYou are a rater.")
    filled = fill_rubric(rubric, "Put the subject on a beach")
    assert "Editing instruction is: Put the subject on a beach.\n" in filled
    text = tmp_path / "rubric.txt"
    text.write_text(rubric)
    assert load_rubric(text) == rubric


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("r.py", "X = 1\n", "no top-level BACKGROUND_REPLACEMENT"),
        ("r.py", "BACKGROUND_REPLACEMENT = 'a' + '{edit_prompt}'\n", "plain string literal"),
        ("r.py", "def f(:\n", "not valid Python"),
        ("r.txt", "no slot here", "no {edit_prompt} slot"),
        ("r.txt", "{edit_prompt} and {other}", "cannot be filled"),
    ],
)
def test_bad_rubrics_are_refused(tmp_path: Path, name: str, content: str, match: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(RubricError, match=match):
        load_rubric(tmp_path / name)
