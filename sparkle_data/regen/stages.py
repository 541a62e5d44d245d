"""The built-in stages: the CPU stages of this release and the model stages it plans for.

CPU stages run here: ``source_frame0`` and ``edited_video_canny``. The model stages
(FLUX.2-klein edits, Wan2.2 background video, SAM3 tracking + BAIT vote) are declared with
their inputs, outputs, models and resource estimates so the planner can say what a sample
needs; their ``run`` arrives in the next release.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sparkle_data.readers.mask import read_mask
from sparkle_data.regen.canny import canny_video_bytes
from sparkle_data.regen.config import CannyConfig, Frame0Config, StageConfig, VoteConfig
from sparkle_data.regen.frame0 import source_frame0_png
from sparkle_data.regen.stage import SampleInputs, Stage

__all__ = ["BUILTIN_STAGES", "ModelStageConfig"]


def _run_frame0(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    data = source_frame0_png(inputs.need("source_video"), config, sample_id=inputs.sample_id)
    return {"source_frame0": data}


def _run_canny(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    mask = read_mask(inputs.need("source_video_mask"), sample_id=inputs.sample_id)
    data = canny_video_bytes(
        inputs.need("source_video"),
        inputs.need("edited_background_video"),
        mask,
        config,
        sample_id=inputs.sample_id,
    )
    return {"edited_video_canny": data}


@dataclass(frozen=True, slots=True)
class ModelStageConfig(StageConfig):
    """Placeholder config of a model stage not runnable in this release (no fields)."""


_MODEL: Final = ModelStageConfig()

BUILTIN_STAGES: Final[tuple[Stage, ...]] = (
    Stage(
        name="source_frame0",
        outputs=("source_frame0",),
        inputs=("source_video",),
        config=Frame0Config(),
        run=_run_frame0,
        seconds_per_sample=0.01,
        estimate_note="measured: 1280x720 decode of frame 0 + PNG, 2-core CPU",
        description="frame 0 of the decoded source video, as PNG",
    ),
    Stage(
        name="edited_video_canny",
        outputs=("edited_video_canny",),
        inputs=("source_video", "source_video_mask", "edited_background_video"),
        config=CannyConfig(),
        run=_run_canny,
        seconds_per_sample=3.5,
        estimate_note="measured: 81 frames 1280x720 at ~22-50 frames/s on a shared 2-core "
        "EPYC (bench/results/canny.json)",
        description="Canny of the source inside the mask + of the background outside it",
    ),
    Stage(
        name="edited_frame0",
        outputs=("edited_frame0",),
        inputs=("source_frame0",),
        records=("prompt",),
        config=_MODEL,
        device="gpu",
        models=("black-forest-labs/FLUX.2-klein-9B",),
        gpu_memory_gib=32.0,
        seconds_per_sample=3.0,
        description="FLUX.2-klein edit of frame 0 (model stage: next release)",
    ),
    Stage(
        name="edited_frame0_foreground_removed",
        outputs=("edited_frame0_foreground_removed",),
        inputs=("edited_frame0",),
        records=("foreground_grounding_r1",),
        config=_MODEL,
        device="gpu",
        models=("black-forest-labs/FLUX.2-klein-9B",),
        gpu_memory_gib=32.0,
        seconds_per_sample=3.0,
        description="FLUX.2-klein removal of the grounded foreground (model stage: next release)",
    ),
    Stage(
        name="edited_background_video",
        outputs=("edited_background_video",),
        inputs=("edited_frame0_foreground_removed",),
        records=("prompt",),
        config=_MODEL,
        device="gpu",
        models=("Wan-AI/Wan2.2-I2V-A14B-Diffusers",),
        gpu_memory_gib=64.0,
        seconds_per_sample=120.0,
        description="Wan2.2-I2V 4-step background video (model stage: next release)",
    ),
    Stage(
        name="source_video_mask",
        outputs=("source_video_mask",),
        inputs=("source_video",),
        records=("foreground_grounding_r2",),
        config=VoteConfig(),
        device="gpu",
        models=("facebook/sam3",),
        gpu_memory_gib=4.0,
        seconds_per_sample=30.0,
        description="SAM3 passes from every 2-FPS anchor + BAIT vote (model stage: next "
        "release; the vote itself is regen.vote)",
    ),
)
