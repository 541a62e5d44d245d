"""The text readers read every text file of the package's synthetic Sparkle trees, strictly."""

from __future__ import annotations

import io

import pytest

from sparkle_data.layout import BENCH_EDIT_TYPES, EDIT_TYPES
from sparkle_data.readers.grounding import (
    boxes_array,
    load_grounding_r1,
    load_grounding_r2,
    load_grounding_summary_table,
)
from sparkle_data.readers.prompts import join_prompts, load_metadata_jsonl, load_prompts_csv
from sparkle_data.readers.scores import (
    load_image_score_table,
    load_image_scores,
    load_video_score_table,
    load_video_scores,
)
from sparkle_data.readers.sparkle_bench import load_bench_csv, load_bench_metadata_jsonl
from sparkle_data.testing.synth.plan import make_edit_type_plan
from sparkle_data.testing.synth.preset import get_sample_preset
from sparkle_data.testing.synth.records import (
    make_bench_csv,
    make_bench_metadata,
    make_prompts_csv,
    make_prompts_metadata,
    make_record_files,
)


def _src(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


@pytest.mark.parametrize("edit_type", EDIT_TYPES)
def test_synthetic_text_files_read_strictly(edit_type: str) -> None:
    plan = make_edit_type_plan(edit_type, 24, get_sample_preset("tiny"), 0)
    rows = load_prompts_csv(_src(make_prompts_csv(plan.corpus)), edit_type=edit_type)
    metadata = load_metadata_jsonl(_src(make_prompts_metadata(plan.corpus)), edit_type=edit_type)
    joined = join_prompts(rows, metadata)
    assert joined.report.ok
    assert len(joined.samples) == len(plan.corpus)
    if edit_type == "openve3m":
        assert all(m.chosen_keyword is None for m in metadata)

    files = make_record_files(plan)
    for name in ("edited_frame0_score", "edited_frame0_foreground_removed_score"):
        records = load_image_scores(_src(files[name]), edit_type=edit_type)
        table = load_image_score_table(_src(files[name]))
        assert table["overall"].tolist() == [r.overall for r in records]
    videos = load_video_scores(_src(files["edited_video_score"]), edit_type=edit_type)
    table = load_video_score_table(_src(files["edited_video_score"]))
    assert table["mean_o_score"].tolist() == [v.mean_o_score for v in videos]
    r1 = load_grounding_r1(_src(files["foreground_grounding_r1"]), edit_type=edit_type)
    r2 = load_grounding_r2(_src(files["foreground_grounding_r2"]), edit_type=edit_type)
    assert {r.sample_id for r in r2} <= {r.sample_id for r in r1}
    for record in r2:
        arr = boxes_array(record, 1280, 720, num_video_frames=81)
        assert arr.boxes.shape == (record.num_frames, len(record.round1_labels), 4)
    summary = load_grounding_summary_table(_src(files["foreground_grounding_r2"]))
    assert summary["num_empty_boxes"].tolist() == [
        sum(o.bbox is None for f in r.frame_objects for o in f) for r in r2
    ]

    if edit_type in BENCH_EDIT_TYPES:
        bench_rows = load_bench_csv(_src(make_bench_csv(plan.corpus)), edit_type=edit_type)
        bench_meta = load_bench_metadata_jsonl(_src(make_bench_metadata(plan.corpus)))
        assert join_prompts(bench_rows, bench_meta).report.ok
