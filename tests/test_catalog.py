"""Catalog, verify and the info/index/verify CLI on synthetic trees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.catalog.summary import summarize_catalog
from sparkle_data.catalog.verify import verify_catalog
from sparkle_data.cli import main
from sparkle_data.errors import MissingArtifactError
from sparkle_data.io.index import read_indexes
from sparkle_data.layout import ARTIFACTS, member_name
from sparkle_data.testing import SampleTreeSummary


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(d))
    return d


def test_catalog_rows_statuses_and_scores(sample_tree: SampleTreeSummary, cache: Path) -> None:
    cat = build_catalog(sample_tree.root)
    t = cat.table
    for s in sample_tree.edit_types:
        et = s.edit_type
        corpus = set(t[(t.edit_type == et) & t.in_corpus].index)
        assert corpus == set(s.corpus_ids)
        rejected = set(t[(t.edit_type == et) & (t.status == "rejected")].index)
        expected_rejected = {i for ids in s.rejected_ids.values() for i in ids}
        assert rejected == expected_rejected
    corpus = cat.corpus()
    assert (
        corpus[["frame0_overall", "fg_removed_overall", "video_mean_o_score"]].notna().all().all()
    )
    assert (corpus["frame0_overall"] >= 8).all()
    assert (corpus["video_mean_o_score"] >= 8).all()
    assert corpus[corpus.edit_type == "openve3m"]["chosen_keyword"].isna().all()
    assert corpus[corpus.edit_type == "location"]["subtheme"].notna().all()
    assert (corpus["grounding_num_labels"] >= 1).all()
    # Rejected at frame 0: scored there, absent from the later records.
    rej = cat.rejected()
    f0 = rej[rej.last_record == "edited_frame0_score"]
    assert len(f0)
    assert (f0["frame0_overall"] < 8).all()
    assert f0["video_mean_o_score"].isna().all()


def test_every_artifact_reads_equal_to_shard_member(
    sample_tree: SampleTreeSummary, cache: Path
) -> None:
    import tarfile

    cat = build_catalog(sample_tree.root)
    root = Path(sample_tree.root)
    for sid in cat.corpus().index[::4]:
        for artifact in ARTIFACTS:
            loc = cat.locate(sid, artifact)
            data = cat.read_bytes(sid, artifact)
            with cat.open(sid, artifact) as f:
                assert f.read() == data
            if loc.kind == "shard":
                with tarfile.open(root / loc.path) as tf:
                    member = tf.extractfile(member_name(sid, artifact))
                    assert member is not None
                    assert member.read() == data
            else:
                assert (root / loc.path).read_bytes() == data


def test_summary_grounding_means(sample_tree: SampleTreeSummary) -> None:
    cat = build_catalog(sample_tree.root, cache=False)
    summary = summarize_catalog(cat)
    corpus = cat.corpus()
    location = corpus[corpus["edit_type"] == "location"]
    expected = round(float(location["grounding_max_box_area"].mean()), 4)
    assert 0 < expected <= 1
    assert summary["edit_types"]["location"]["max_box_area_mean"] == expected
    share = round(float(location["grounding_empty_box_share"].mean()), 4)
    assert summary["edit_types"]["location"]["empty_box_share_mean"] == share


def test_partial_roots_report_missing(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    root = tmp_path / "partial"
    (root / "prompts").mkdir(parents=True)
    src = Path(sample_tree.root)
    for name in ("location_train.csv", "location_train_metadata.jsonl"):
        shutil.copy(src / "prompts" / name, root / "prompts" / name)
    shutil.copy(src / "location_source_video_part00.tar", root)
    cat = build_catalog(root, edit_types=["location"], cache=False)
    assert int(cat.table.in_corpus.sum()) == len(sample_tree["location"].corpus_ids)
    assert "intermediate_data/location/edited_video_score.jsonl" in cat.missing()
    assert "location_edited_video_partXX.tar" in cat.missing()
    sid = cat.corpus().index[-1]
    with pytest.raises(MissingArtifactError, match="no loose file and no shard"):
        cat.read_bytes(sid, "edited_video")
    summary = summarize_catalog(cat)
    assert summary["edit_types"]["location"]["coverage"]["source_video"]["shards"] == 1
    assert summary["edit_types"]["location"]["max_box_area_mean"] is None  # no grounding file
    only_prompts = tmp_path / "only_prompts"
    shutil.copytree(root / "prompts", only_prompts / "prompts")
    cat2 = build_catalog(only_prompts, edit_types=["location"], cache=False)
    assert len(cat2.corpus()) == len(sample_tree["location"].corpus_ids)
    # No record files: no score columns, and every record file is reported missing.
    assert "frame0_overall" not in cat2.table
    assert "intermediate_data/location/edited_frame0_score.jsonl" in cat2.missing()


def test_extracted_tree(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    """A tree extracted with tar -xf as the card describes: loose files only."""
    import subprocess

    src = Path(sample_tree.root)
    root = tmp_path / "x"
    shutil.copytree(src / "prompts", root / "prompts")
    (root / "intermediate_data").mkdir()
    for tar in src.glob("location_*.tar"):
        subprocess.run(["tar", "-xf", str(tar), "-C", str(root)], check=True)
    for tar in (src / "intermediate_data").glob("location_*.tar"):
        subprocess.run(["tar", "-xf", str(tar), "-C", str(root / "intermediate_data")], check=True)
    cat = build_catalog(root, edit_types=["location"], cache=False)
    corpus = cat.corpus()
    for artifact in ARTIFACTS:
        assert corpus[f"{artifact}_file"].notna().all(), artifact
    assert cat.locate(corpus.index[0], "source_video_mask").kind == "file"


@pytest.mark.network
def test_catalog_over_loopback_http(sample_tree: SampleTreeSummary, cache: Path) -> None:
    from sparkle_data.testing.http import serve_directory

    local = build_catalog(sample_tree.root, edit_types=["season"])
    with serve_directory(sample_tree.root) as server:
        remote = build_catalog(server.base_url, edit_types=["season"], max_workers=2)
        corpus = remote.corpus()
        assert set(corpus.index) == set(local.corpus().index)
        assert corpus["edited_video_shard"].notna().all()  # loose files are not probed
        sid = corpus.index[1]
        for artifact in ("edited_video", "source_video_mask"):
            assert remote.read_bytes(sid, artifact) == local.read_bytes(sid, artifact)


def test_verify_clean_tree_and_rejections_are_notes(
    sample_tree: SampleTreeSummary, cache: Path
) -> None:
    report = verify_catalog(build_catalog(sample_tree.root))
    assert report.ok, str(report)
    codes = {n.code for n in report.notes}
    assert "rejected" in codes


def test_verify_finds_damage(sample_tree_copy: Path, cache: Path, tmp_path: Path) -> None:
    root = sample_tree_copy
    index_file = tmp_path / "published.sparkle-index"
    assert main(["index", str(root), "-q", "--out", str(index_file)]) == 0
    assert len(read_indexes(index_file)) > 10
    # 1. a corpus sample's edited video disappears from its shard family and previews
    # 2. an orphan mask for an unknown id
    # 3. a truncated shard
    # 4. a CSV row whose metadata line is gone
    import tarfile

    cat = build_catalog(root, edit_types=["time"])
    victim = cat.corpus().index[-1]
    loc = cat.locate(victim, "edited_video")
    assert loc.kind == "shard"
    shard = root / loc.path
    kept = []
    with tarfile.open(shard) as tf:
        for m in tf.getmembers():
            if victim not in m.name:
                f = tf.extractfile(m)
                assert f is not None
                kept.append((m, f.read()))
    with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as tf:
        for m, data in kept:
            import io

            tf.addfile(m, io.BytesIO(data))
    orphan = root / "intermediate_data/time/source_video_mask/Sparkle_time_999999.npz"
    shutil.copy(next((root / "intermediate_data/time/source_video_mask").glob("*.npz")), orphan)
    trunc = root / "time_source_video_part00.tar"
    trunc.write_bytes(trunc.read_bytes()[:-1024])
    meta = root / "prompts/time_train_metadata.jsonl"
    lines = meta.read_text().splitlines(keepends=True)
    meta.write_text("".join(lines[1:]))

    out = tmp_path / "report.json"
    code = main(
        [
            "verify",
            str(root),
            "--edit-types",
            "time",
            "--index-file",
            str(index_file),
            "--json",
            str(out),
        ]
    )
    assert code == 1
    report = json.loads(out.read_text())
    codes = {p["code"]: p for p in report["problems"]}
    assert victim in codes["missing-artifact"]["examples"]
    assert "Sparkle_time_999999" in codes["orphan-artifact"]["examples"]
    assert "no-metadata" in codes
    assert "truncated-shard" in codes or "shard-mismatch" in codes
    assert "shard-mismatch" in codes  # the rewritten edited shard differs from the index


def test_info_cli_json(
    sample_tree: SampleTreeSummary, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(sample_tree.root), "-q", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    loc = data["edit_types"]["location"]
    assert loc["corpus"] == len(sample_tree["location"].corpus_ids)
    assert loc["rejected"] == sum(len(v) for v in sample_tree["location"].rejected_ids.values())
    assert loc["coverage"]["source_video_mask"]["available"] == loc["corpus"]
    assert loc["scores"]["frame0_overall"]["corpus"]["below_threshold"] == 0
    assert main(["info", str(sample_tree.root), "-q"]) == 0
    text = capsys.readouterr().out
    assert "artifact coverage" in text
    assert "openve3m" in text


def test_cli_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("index", "info", "verify", "make-sample"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_index_cli_no_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "prompts").mkdir()
    assert main(["index", str(tmp_path), "-q"]) == 2
    assert "error" in capsys.readouterr().err


def test_peek_cli(
    sample_tree: SampleTreeSummary, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["peek", str(sample_tree.root), "-n", "1", "--edit-types", "time"]
    args += ["--frames", "kiwi", "--num-frames", "33", "--height", "32", "--width", "48"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "uint8[33, 3, 32, 48]" in out
    assert "bool[33, 32, 48]" in out
    assert "Sparkle_time_" in out


def test_probe_videos_adds_frame_columns(sample_tree: SampleTreeSummary, cache: Path) -> None:
    cat = build_catalog(sample_tree.root, edit_types=["style"], probe_videos=True)
    corpus = cat.corpus()
    summary = sample_tree["style"]
    for sid in corpus.index:
        assert corpus.loc[sid, "num_frames"] == summary.frame_counts[sid]
        assert corpus.loc[sid, "edited_num_frames"] == summary.frame_counts[sid]
    assert (corpus["source_width"] == sample_tree.preset.width).all()
    assert cat.rejected()["num_frames"].isna().all()
