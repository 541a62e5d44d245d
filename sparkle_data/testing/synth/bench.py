"""The Sparkle-Bench tree: CSV, metadata, source videos and reference images.

By the card's construction every Sparkle-Bench sample passed the first four stages and failed
the final video score, so the synthetic bench holds exactly the ``edited_video_score`` rejects
of the bench edit types; its ``ref_images`` are their foreground-removed first frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sparkle_data.io.atomic import atomic_write_bytes, atomic_write_text
from sparkle_data.layout import (
    bench_csv_path,
    bench_metadata_path,
    bench_ref_image_path,
    bench_source_video_path,
)
from sparkle_data.testing.synth.artifacts import make_sample_artifacts
from sparkle_data.testing.synth.plan import EditTypePlan, SamplePlan
from sparkle_data.testing.synth.preset import Preset
from sparkle_data.testing.synth.records import make_bench_csv, make_bench_metadata

__all__ = ["bench_samples", "write_bench_edit_type"]


def bench_samples(plan: EditTypePlan) -> tuple[SamplePlan, ...]:
    """The samples of ``plan`` that Sparkle-Bench holds."""
    return tuple(s for s in plan.samples if s.candidate.rejected_at == "edited_video_score")


def write_bench_edit_type(
    bench_root: Path,
    samples: Sequence[SamplePlan],
    preset: Preset,
    *,
    on_sample: Callable[[], None] | None = None,
) -> None:
    """Write one bench edit type's videos, reference images, CSV and metadata."""
    if not samples:
        return
    for s in samples:
        files = make_sample_artifacts(
            s.scene, preset, ("source_video", "edited_frame0_foreground_removed")
        )
        atomic_write_bytes(bench_root / bench_source_video_path(s.sample_id), files["source_video"])
        atomic_write_bytes(
            bench_root / bench_ref_image_path(s.sample_id),
            files["edited_frame0_foreground_removed"],
        )
        if on_sample is not None:
            on_sample()
    edit_type = samples[0].edit_type
    atomic_write_text(bench_root / bench_csv_path(edit_type), make_bench_csv(samples))
    atomic_write_text(bench_root / bench_metadata_path(edit_type), make_bench_metadata(samples))
