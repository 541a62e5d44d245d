"""The built-in CPU stages: ``source_frame0`` and ``edited_video_canny``.

The model stages (FLUX.2-klein, Qwen3-VL grounding, Wan2.2, SAM3 + BAIT, EditScore) are in
:mod:`.models.stages`; the registry holds both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sparkle_data.readers.mask import read_mask
from sparkle_data.regen.canny import canny_video_bytes
from sparkle_data.regen.config import CannyConfig, Frame0Config
from sparkle_data.regen.frame0 import source_frame0_png
from sparkle_data.regen.stage import SampleInputs, Stage

__all__ = ["BUILTIN_STAGES"]


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
)
