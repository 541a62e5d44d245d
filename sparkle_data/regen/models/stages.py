"""The model stages, registered over the planning-only declarations of :mod:`..stages`.

``load_model`` warms the stage's model once per worker (the local runner's processes, the
Ray runner's actors); ``run`` gets it from the per-process cache of
:func:`~.common.cached_model`, so stages sharing a model share one load and a worker keeps
one model resident at a time (loading another frees the previous one's GPU memory).
Record stages (grounding, EditScore) return one line of their record file (:mod:`..records`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sparkle_data.regen.config import StageConfig
from sparkle_data.regen.models.editscore import (
    EDITSCORE_LORA,
    EDITSCORE_MODEL,
    EditScoreConfig,
    EditScoreRemovalConfig,
    load_editscore,
    run_frame0_score,
    run_removed_score,
    run_video_score,
)
from sparkle_data.regen.models.flux import (
    FLUX_KLEIN_MODEL,
    FluxEditConfig,
    FluxRemoveConfig,
    load_flux,
    run_edit,
    run_remove,
)
from sparkle_data.regen.models.qwen import (
    QWEN3_VL_MODEL,
    GroundingR1Config,
    GroundingR2Config,
    grounding_r1_batch,
    grounding_r2_batch,
    load_qwen,
    run_grounding_r1,
    run_grounding_r2,
)
from sparkle_data.regen.models.sam3 import SAM3_MODEL, Sam3MaskConfig, load_sam3, run_mask
from sparkle_data.regen.models.wan import WAN_I2V_MODEL, WanConfig, load_wan, run_background
from sparkle_data.regen.stage import BatchFn, Stage, StageFn

__all__ = ["MODEL_STAGES"]

_H100: Final = "estimate: one H100 (not measured)"


def _gpu_stage(
    name: str,
    inputs: tuple[str, ...],
    records: tuple[str, ...],
    config: StageConfig,
    run: StageFn,
    warm: Callable[[Any, str], object],
    models: tuple[str, ...],
    gib: float,
    seconds: float,
    description: str,
    batch: BatchFn | None = None,
) -> Stage:
    return Stage(
        name=name,
        outputs=(name,),
        inputs=inputs,  # type: ignore[arg-type]
        records=records,
        config=config,
        device="gpu",
        run=run,
        run_batch=batch,
        load_model=lambda cfg: _warmed(warm, cfg, name),
        models=models,
        gpu_memory_gib=gib,
        seconds_per_sample=seconds,
        estimate_note=_H100,
        description=description,
    )


def _warmed(warm: Callable[[Any, str], object], config: Any, stage: str) -> str:
    """Load the stage's model into the per-process cache; return only its name, so the
    runner holds no reference that would keep a replaced model's GPU memory alive."""
    warm(config, stage)
    return stage


def _flux(config: Any, stage: str) -> object:
    return load_flux(config, stage=stage)


def _wan(config: Any, stage: str) -> object:
    return load_wan(config, stage=stage)


def _sam3(config: Any, stage: str) -> object:
    return load_sam3(config, stage=stage)


def _qwen(config: Any, stage: str) -> object:
    return load_qwen(config, stage=stage)


def _editscore(config: Any, stage: str) -> object:
    return load_editscore(config)


_SCORER: Final = (EDITSCORE_MODEL, EDITSCORE_LORA)

MODEL_STAGES: Final[tuple[Stage, ...]] = (
    _gpu_stage("edited_frame0", ("source_frame0",), ("prompt",), FluxEditConfig(), run_edit,
               _flux, (FLUX_KLEIN_MODEL,), 34.0, 3.0,
               "FLUX.2-klein edit of frame 0 with the sample's instruction"),
    _gpu_stage("foreground_grounding_r1", ("source_frame0", "edited_frame0"), ("prompt",),
               GroundingR1Config(), run_grounding_r1, _qwen, (QWEN3_VL_MODEL,), 66.0, 10.0,
               "Qwen3-VL boxes of the kept foreground on (source, edited) frame 0 (our prompt)",
               grounding_r1_batch),
    _gpu_stage("edited_frame0_foreground_removed", ("edited_frame0",),
               ("prompt", "foreground_grounding_r1"), FluxRemoveConfig(), run_remove, _flux,
               (FLUX_KLEIN_MODEL,), 34.0, 3.0,
               "FLUX.2-klein removal of the round-1 labels (our removal prompt)"),
    _gpu_stage("edited_background_video", ("edited_frame0_foreground_removed",), ("prompt",),
               WanConfig(), run_background, _wan, (WAN_I2V_MODEL,), 66.0, 120.0,
               "Wan2.2-I2V-A14B, LightX2V 4-step schedule, 81 frames 720x1280"),
    _gpu_stage("foreground_grounding_r2", ("source_video",),
               ("prompt", "foreground_grounding_r1"), GroundingR2Config(), run_grounding_r2,
               _qwen, (QWEN3_VL_MODEL,), 66.0, 40.0,
               "Qwen3-VL re-locates every round-1 label on each 2-FPS frame (our prompt)",
               grounding_r2_batch),
    _gpu_stage("source_video_mask", ("source_video",), ("foreground_grounding_r2",),
               Sam3MaskConfig(), run_mask, _sam3, (SAM3_MODEL,), 6.0, 30.0,
               "SAM3 tracker passes from every 2-FPS anchor, both ways, then the BAIT vote"),
    _gpu_stage("edited_frame0_score", ("source_frame0", "edited_frame0"), ("prompt",),
               EditScoreConfig(), run_frame0_score, _editscore, _SCORER, 18.0, 20.0,
               "EditScore of the frame-0 edit (card: overall < 8 dropped)"),
    _gpu_stage("edited_frame0_foreground_removed_score",
               ("edited_frame0", "edited_frame0_foreground_removed"),
               ("prompt", "foreground_grounding_r1"), EditScoreRemovalConfig(),
               run_removed_score, _editscore, _SCORER, 18.0, 20.0,
               "EditScore of the foreground removal (card: overall < 8.5 dropped)"),
    _gpu_stage("edited_video_score", ("source_video", "edited_video"), ("prompt",),
               EditScoreConfig(), run_video_score, _editscore, _SCORER, 18.0, 80.0,
               "EditScore of 4 frames of the edited video (card: mean O_score < 8 dropped)"),
)
