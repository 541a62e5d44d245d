"""One reader module per Sparkle artifact; the public names are re-exported here lazily.

======================  ============================================================
module                  reads
======================  ============================================================
``prompts``             ``prompts/{t}_train.csv`` and ``_train_metadata.jsonl``
``scores``              the three EditScore record files
``grounding``           ``foreground_grounding_r1/r2.jsonl`` and ``[0,1000]`` boxes
``bench``               Sparkle-Bench CSV and metadata
``mask``                ``source_video_mask`` packed-bit NPZ (reader and writer)
``video``               MP4 probing and decoding (PyAV)
``image``               PNG frames
======================  ============================================================

Importing a name from ``sparkle_data.readers`` imports only its module.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = ("prompts", "scores", "grounding", "bench", "mask", "video", "image")
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
    # bench
    "BenchRow": "bench", "iter_bench_csv": "bench", "iter_bench_metadata_jsonl": "bench",
    "load_bench_csv": "bench", "load_bench_metadata_jsonl": "bench",
    # media
    "MaskInfo": "mask", "encode_mask_npz": "mask", "probe_mask": "mask", "read_mask": "mask",
    "write_mask": "mask",
    "VideoInfo": "video", "iter_video_frames": "video", "probe_video": "video",
    "read_video": "video",
    "ImageInfo": "image", "encode_png": "image", "probe_png": "image", "read_png": "image",
    "write_png": "image",
}  # fmt: skip

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'sparkle_data.readers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
