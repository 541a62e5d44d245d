"""The model stages this release runs, registered over the planning-only declarations.

``load_model`` warms the stage's model once per worker (the local runner's processes, the
Ray runner's actors); ``run`` gets it from the per-process cache of
:func:`~.common.cached_model`, so stages sharing a model share one load and a worker keeps
one model resident at a time.
"""

from __future__ import annotations

from typing import Any, Final

from sparkle_data.regen.models.flux import (
    FLUX_KLEIN_MODEL,
    FluxEditConfig,
    FluxRemoveConfig,
    load_flux,
    run_edit,
    run_remove,
)
from sparkle_data.regen.models.sam3 import SAM3_MODEL, Sam3MaskConfig, load_sam3, run_mask
from sparkle_data.regen.models.wan import WAN_I2V_MODEL, WanConfig, load_wan, run_background
from sparkle_data.regen.stage import Stage

__all__ = ["MODEL_STAGES", "NOT_IMPLEMENTED"]


def _warm_edit(config: Any) -> str:
    load_flux(config, stage="edited_frame0")
    return "flux2-klein"


def _warm_remove(config: Any) -> str:
    load_flux(config, stage="edited_frame0_foreground_removed")
    return "flux2-klein"


def _warm_sam3(config: Any) -> str:
    load_sam3(config)
    return "sam3-tracker"


def _warm_wan(config: Any) -> str:
    load_wan(config, stage="edited_background_video")
    return "wan2.2-i2v"


MODEL_STAGES: Final[tuple[Stage, ...]] = (
    Stage(
        name="edited_frame0",
        outputs=("edited_frame0",),
        inputs=("source_frame0",),
        records=("prompt",),
        config=FluxEditConfig(),
        device="gpu",
        run=run_edit,
        load_model=_warm_edit,
        models=(FLUX_KLEIN_MODEL,),
        gpu_memory_gib=34.0,
        seconds_per_sample=3.0,
        estimate_note="estimate: 4 steps at 1280x720 on one H100 (not measured)",
        description="FLUX.2-klein edit of frame 0 with the sample's instruction",
    ),
    Stage(
        name="edited_frame0_foreground_removed",
        outputs=("edited_frame0_foreground_removed",),
        inputs=("edited_frame0",),
        records=("prompt", "foreground_grounding_r1"),
        config=FluxRemoveConfig(),
        device="gpu",
        run=run_remove,
        load_model=_warm_remove,
        models=(FLUX_KLEIN_MODEL,),
        gpu_memory_gib=34.0,
        seconds_per_sample=3.0,
        estimate_note="estimate: 4 steps at 1280x720 on one H100 (not measured)",
        description="FLUX.2-klein removal of the round-1 labels (our removal prompt)",
    ),
    Stage(
        name="edited_background_video",
        outputs=("edited_background_video",),
        inputs=("edited_frame0_foreground_removed",),
        records=("prompt",),
        config=WanConfig(),
        device="gpu",
        run=run_background,
        load_model=_warm_wan,
        models=(WAN_I2V_MODEL,),
        gpu_memory_gib=66.0,
        seconds_per_sample=120.0,
        estimate_note="estimate: 4 steps, 81 frames 720x1280, one H100 (not measured)",
        description="Wan2.2-I2V-A14B, LightX2V 4-step schedule, 81 frames 720x1280",
    ),
    Stage(
        name="source_video_mask",
        outputs=("source_video_mask",),
        inputs=("source_video",),
        records=("foreground_grounding_r2",),
        config=Sam3MaskConfig(),
        device="gpu",
        run=run_mask,
        load_model=_warm_sam3,
        models=(SAM3_MODEL,),
        gpu_memory_gib=6.0,
        seconds_per_sample=30.0,
        estimate_note="estimate: 22 passes over 81 frames on one H100 (not measured)",
        description="SAM3 tracker passes from every 2-FPS anchor, both ways, then the BAIT vote",
    ),
)

NOT_IMPLEMENTED: Final[dict[str, str]] = {
    "foreground_grounding_r1": "Qwen3-VL grounding stages write record files, which the "
    "runners cannot write yet; the answer parser is regen.models.grounding",
    "foreground_grounding_r2": "as foreground_grounding_r1",
    "edited_frame0_score": "EditScore stages (record files) are not implemented",
    "edited_frame0_foreground_removed_score": "as edited_frame0_score",
    "edited_video_score": "as edited_frame0_score",
}
"""Model outputs this release cannot make, and why (the planner reports them as blocked)."""
