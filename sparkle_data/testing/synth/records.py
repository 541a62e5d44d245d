"""Text files of the tree: prompts CSV and metadata JSONL, the five pipeline record files,
and the Sparkle-Bench CSV and metadata. Pure functions returning ``str``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sparkle_data.layout import (
    BENCH_CSV_COLUMNS,
    PROMPTS_CSV_COLUMNS,
    RECORD_FILES,
    RecordName,
    artifact_relpath,
    bench_source_video_path,
    metadata_edit_type,
)
from sparkle_data.testing.synth.funnel import THRESHOLDS, Stage
from sparkle_data.testing.synth.grounding import make_grounding
from sparkle_data.testing.synth.plan import EditTypePlan, SamplePlan
from sparkle_data.testing.synth.rng import make_rng
from sparkle_data.testing.synth.scores import (
    make_image_editscore,
    make_video_editscore,
    video_score_frames,
)

__all__ = [
    "make_bench_csv",
    "make_bench_metadata",
    "make_prompts_csv",
    "make_prompts_metadata",
    "make_record_files",
]


def _jsonl(objs: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Python's standard (excel) dialect with ``\\n`` line ends, as ``pandas.to_csv`` writes."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def make_prompts_csv(samples: Sequence[SamplePlan]) -> str:
    """``prompts/{t}_train.csv``: ``prompt, src_video, tgt_video, task``."""
    return _csv(
        PROMPTS_CSV_COLUMNS,
        (
            (
                s.text.prompt,
                artifact_relpath(s.sample_id, "source_video"),
                artifact_relpath(s.sample_id, "edited_video"),
                s.sample_id,
            )
            for s in samples
        ),
    )


def _metadata(s: SamplePlan, edit_type_value: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"edit_type": edit_type_value}
    if s.text.chosen_keyword is not None:
        meta["chosen_keyword"] = s.text.chosen_keyword
    meta["original_scene"] = s.text.original_scene
    return {"id": s.sample_id, "prompt": s.text.prompt, "metadata": meta}


def make_prompts_metadata(samples: Sequence[SamplePlan]) -> str:
    """``prompts/{t}_train_metadata.jsonl`` (``openve3m_background_change``, no keyword)."""
    return _jsonl(_metadata(s, metadata_edit_type(s.edit_type)) for s in samples)


def make_bench_csv(samples: Sequence[SamplePlan]) -> str:
    """``{t}_bench.csv``: ``edited_type, prompt, original_video``."""
    return _csv(
        BENCH_CSV_COLUMNS,
        ((s.edit_type, s.text.prompt, bench_source_video_path(s.sample_id)) for s in samples),
    )


def make_bench_metadata(samples: Sequence[SamplePlan]) -> str:
    """``{t}_metadata.jsonl`` of Sparkle-Bench."""
    return _jsonl(_metadata(s, s.edit_type) for s in samples)


def _add_image_score(
    lines: dict[RecordName, list[dict[str, Any]]],
    head: dict[str, Any],
    rng: np.random.Generator,
    s: SamplePlan,
    stage: Stage,
) -> None:
    """Add the frame-0 EditScore line of ``stage``: it passes or not, as the funnel planned."""
    editscore = make_image_editscore(
        rng, s.text.scene, threshold=THRESHOLDS[stage], passed=s.candidate.passes(stage)
    )
    lines[stage].append(head | {"editscore": editscore})


def make_record_files(plan: EditTypePlan) -> dict[RecordName, str]:
    """The five JSONL record files of one edit type, each line in ascending id order.

    Each scored candidate has lines in the files of the stages it reached (see
    :mod:`.funnel`); its scores pass the stages it went past and fail the one it stopped at.
    """
    lines: dict[RecordName, list[dict[str, Any]]] = {r: [] for r in RECORD_FILES}
    forced_empty = False
    for s in plan.samples:
        c = s.candidate
        head = {"id": s.sample_id, "prompt": s.text.prompt}
        rng = make_rng(plan.seed, plan.edit_type, c.index, "scores")
        records = c.records
        _add_image_score(lines, head, rng, s, "edited_frame0_score")
        if "foreground_grounding_r1" not in records:
            continue
        round2 = "foreground_grounding_r2" in records
        grounding = make_grounding(
            s.scene,
            make_rng(plan.seed, plan.edit_type, c.index, "grounding"),
            round2=round2,
            force_empty=round2 and not forced_empty,
        )
        forced_empty |= round2
        r1 = head | {
            "edit_type": plan.edit_type,
            "round1_labels": list(grounding.labels),
            "round1_objects": grounding.round1_objects,
        }
        lines["foreground_grounding_r1"].append(r1)
        _add_image_score(lines, head, rng, s, "edited_frame0_foreground_removed_score")
        if not round2:
            continue
        lines["foreground_grounding_r2"].append(r1 | {"frame_objects": grounding.frame_objects})
        lines["edited_video_score"].append(
            head
            | {
                "frame_indices": video_score_frames(s.scene.n_frames),
                "editscore": make_video_editscore(
                    rng,
                    s.text.scene,
                    threshold=THRESHOLDS["edited_video_score"],
                    passed=c.passes("edited_video_score"),
                ),
            }
        )
    return {r: _jsonl(lines[r]) for r in RECORD_FILES}
