"""One reader module per Sparkle artifact; the public names are re-exported here lazily.

======================  ============================================================
module                  reads
======================  ============================================================
``prompts``             ``prompts/{t}_train.csv`` and ``_train_metadata.jsonl``
``scores``              the three EditScore record files
``grounding``           ``foreground_grounding_r1/r2.jsonl`` and ``[0,1000]`` boxes
``sparkle_bench``       Sparkle-Bench CSV and metadata
``mask``                ``source_video_mask`` packed-bit NPZ (reader and writer)
``video``               MP4 probing and decoding (PyAV)
``image``               PNG frames
======================  ============================================================

Importing a name from ``sparkle_data.readers`` imports only its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports

if TYPE_CHECKING:
    from sparkle_data.readers.grounding import (
        BoxesArray,
        GroundedObject,
        GroundingR1Record,
        GroundingR2Record,
        boxes_array,
        grounding_frame_indices,
        iter_grounding_r1,
        iter_grounding_r2,
        load_grounding_r1,
        load_grounding_r2,
        load_grounding_summary_table,
        normalize_bbox,
    )
    from sparkle_data.readers.image import (
        ImageInfo,
        encode_png,
        probe_png,
        read_png,
        write_png,
    )
    from sparkle_data.readers.mask import (
        MaskInfo,
        encode_mask_npz,
        probe_mask,
        read_mask,
        write_mask,
    )
    from sparkle_data.readers.prompts import (
        JoinReport,
        MetadataRecord,
        PromptJoin,
        PromptRow,
        PromptSample,
        iter_metadata_jsonl,
        iter_prompts_csv,
        join_prompts,
        load_metadata_jsonl,
        load_prompts_csv,
    )
    from sparkle_data.readers.scores import (
        FrameScore,
        ImageEditScore,
        VideoEditScore,
        iter_image_scores,
        iter_video_scores,
        load_image_score_table,
        load_image_scores,
        load_video_score_table,
        load_video_scores,
    )
    from sparkle_data.readers.sparkle_bench import (
        BenchRow,
        iter_bench_csv,
        iter_bench_metadata_jsonl,
        load_bench_csv,
        load_bench_metadata_jsonl,
    )
    from sparkle_data.readers.video import (
        VideoInfo,
        iter_video_frames,
        probe_video,
        read_video,
    )

_MODULES = ("prompts", "scores", "grounding", "sparkle_bench", "mask", "video", "image")
_HOME: dict[str, str] = {
    # prompts
    "JoinReport": "prompts", "MetadataRecord": "prompts", "PromptJoin": "prompts",
    "PromptRow": "prompts", "PromptSample": "prompts", "iter_metadata_jsonl": "prompts",
    "iter_prompts_csv": "prompts", "join_prompts": "prompts", "load_metadata_jsonl": "prompts",
    "load_prompts_csv": "prompts",
    # scores
    "FrameScore": "scores", "ImageEditScore": "scores", "VideoEditScore": "scores",
    "iter_image_scores": "scores", "iter_video_scores": "scores",
    "load_image_score_table": "scores", "load_image_scores": "scores",
    "load_video_score_table": "scores", "load_video_scores": "scores",
    # grounding
    "BoxesArray": "grounding", "GroundedObject": "grounding", "GroundingR1Record": "grounding",
    "GroundingR2Record": "grounding", "boxes_array": "grounding",
    "grounding_frame_indices": "grounding", "iter_grounding_r1": "grounding",
    "iter_grounding_r2": "grounding", "load_grounding_r1": "grounding",
    "load_grounding_r2": "grounding", "load_grounding_summary_table": "grounding",
    "normalize_bbox": "grounding",
    # sparkle_bench
    "BenchRow": "sparkle_bench", "iter_bench_csv": "sparkle_bench",
    "iter_bench_metadata_jsonl": "sparkle_bench", "load_bench_csv": "sparkle_bench",
    "load_bench_metadata_jsonl": "sparkle_bench",
    # media
    "MaskInfo": "mask", "encode_mask_npz": "mask", "probe_mask": "mask", "read_mask": "mask",
    "write_mask": "mask",
    "VideoInfo": "video", "iter_video_frames": "video", "probe_video": "video",
    "read_video": "video",
    "ImageInfo": "image", "encode_png": "image", "probe_png": "image", "read_png": "image",
    "write_png": "image",
}  # fmt: skip

__all__ = [
    "BenchRow",
    "BoxesArray",
    "FrameScore",
    "GroundedObject",
    "GroundingR1Record",
    "GroundingR2Record",
    "ImageEditScore",
    "ImageInfo",
    "JoinReport",
    "MaskInfo",
    "MetadataRecord",
    "PromptJoin",
    "PromptRow",
    "PromptSample",
    "VideoEditScore",
    "VideoInfo",
    "boxes_array",
    "encode_mask_npz",
    "encode_png",
    "grounding_frame_indices",
    "iter_bench_csv",
    "iter_bench_metadata_jsonl",
    "iter_grounding_r1",
    "iter_grounding_r2",
    "iter_image_scores",
    "iter_metadata_jsonl",
    "iter_prompts_csv",
    "iter_video_frames",
    "iter_video_scores",
    "join_prompts",
    "load_bench_csv",
    "load_bench_metadata_jsonl",
    "load_grounding_r1",
    "load_grounding_r2",
    "load_grounding_summary_table",
    "load_image_score_table",
    "load_image_scores",
    "load_metadata_jsonl",
    "load_prompts_csv",
    "load_video_score_table",
    "load_video_scores",
    "normalize_bbox",
    "probe_mask",
    "probe_png",
    "probe_video",
    "read_mask",
    "read_png",
    "read_video",
    "write_mask",
    "write_png",
]

lazy_exports(__name__, _HOME)
