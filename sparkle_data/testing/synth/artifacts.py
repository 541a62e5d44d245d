"""Encode the per-sample files of one scene: each frame is rendered once and fed to every
video encoder that is asked for.

The derived artifacts are made as the real pipeline makes them, from the *encoded* videos,
with the regeneration stages' own functions (so ``sparkle-data regen`` reproduces them):

* ``source_frame0`` is frame 0 decoded from the encoded source video
  (:func:`sparkle_data.regen.frame0.source_frame0_png`), not the frame before encoding;
* ``edited_video_canny`` is :func:`sparkle_data.regen.canny.canny_video_bytes` of the encoded
  source video, the encoded background video and the mask, with the default
  :class:`~sparkle_data.regen.config.CannyConfig` and the preset's encoder settings
  (:func:`canny_config`). It needs OpenCV (``pip install "sparkle-data[regen]"``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Collection
from typing import Final

import numpy as np
import numpy.typing as npt

from sparkle_data.layout import ARTIFACTS, ArtifactName
from sparkle_data.readers.mask import encode_mask_npz
from sparkle_data.regen.canny import canny_video_bytes
from sparkle_data.regen.config import CannyConfig
from sparkle_data.regen.frame0 import source_frame0_png
from sparkle_data.testing.synth.encode import Mp4Encoder, encode_png
from sparkle_data.testing.synth.preset import Preset
from sparkle_data.testing.synth.render import FrameLayers, frame_batches, render_frames
from sparkle_data.testing.synth.scene import SceneSpec

__all__ = ["canny_config", "make_sample_artifacts"]

Layer = Callable[[FrameLayers], npt.NDArray[np.uint8]]

_VIDEO_LAYER: Final[dict[ArtifactName, Layer]] = {
    "source_video": lambda f: f.source,
    "edited_video": lambda f: f.edited,
    "edited_background_video": lambda f: f.background,
}
_FRAME0_LAYER: Final[dict[ArtifactName, Layer]] = {
    "edited_frame0": lambda f: f.edited,
    "edited_frame0_foreground_removed": lambda f: f.background,
}
_NEEDS: Final[dict[ArtifactName, tuple[ArtifactName, ...]]] = {
    "source_frame0": ("source_video",),
    "edited_video_canny": ("source_video", "edited_background_video", "source_video_mask"),
}


def canny_config(preset: Preset) -> CannyConfig:
    """The Canny settings of a synthetic tree: the defaults, encoded like the preset's videos."""
    return dataclasses.replace(
        CannyConfig(), crf=preset.crf, x264_preset=preset.x264_preset, fps=preset.fps
    )


def make_sample_artifacts(
    scene: SceneSpec, preset: Preset, artifacts: Collection[ArtifactName] = tuple(ARTIFACTS)
) -> dict[ArtifactName, bytes]:
    """The bytes of each requested artifact, in the order of ``layout.ARTIFACTS``."""
    wanted = [a for a in ARTIFACTS if a in artifacts]
    made = set(wanted) | {n for a in wanted for n in _NEEDS.get(a, ())}
    encoders = {
        a: Mp4Encoder(
            scene.width, scene.height, fps=preset.fps, crf=preset.crf, preset=preset.x264_preset
        )
        for a in ARTIFACTS
        if a in made and a in _VIDEO_LAYER
    }
    out: dict[ArtifactName, bytes] = {}
    mask = None
    if "source_video_mask" in made:
        mask = np.zeros((scene.n_frames, scene.height, scene.width), dtype=np.bool_)
    try:
        for batch in frame_batches(scene):
            layers = render_frames(scene, batch)
            for a, enc in encoders.items():
                for frame in _VIDEO_LAYER[a](layers):
                    enc.add(frame)
            if mask is not None:
                mask[batch.start : batch.stop] = layers.mask
            if batch.start == 0:
                for a in wanted:
                    if a in _FRAME0_LAYER:
                        out[a] = encode_png(_FRAME0_LAYER[a](layers)[0])
        for a, enc in encoders.items():
            out[a] = enc.finish()
    finally:
        for enc in encoders.values():
            with contextlib.suppress(Exception):
                enc.close()
    if mask is not None:
        out["source_video_mask"] = encode_mask_npz(mask)
    if "source_frame0" in made:
        out["source_frame0"] = source_frame0_png(out["source_video"])
    if "edited_video_canny" in made and mask is not None:
        out["edited_video_canny"] = canny_video_bytes(
            out["source_video"], out["edited_background_video"], mask, canny_config(preset)
        )
    return {a: out[a] for a in wanted}
