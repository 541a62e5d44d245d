"""Encode the per-sample files of one scene: each frame is rendered once and fed to every
video encoder that is asked for."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from typing import Final

import numpy as np
import numpy.typing as npt

from sparkle_data.layout import ARTIFACTS, ArtifactName
from sparkle_data.readers.mask import encode_mask_npz
from sparkle_data.testing.synth.encode import Mp4Encoder, encode_png
from sparkle_data.testing.synth.preset import Preset
from sparkle_data.testing.synth.render import FrameLayers, frame_batches, render_frames
from sparkle_data.testing.synth.scene import SceneSpec

__all__ = ["make_sample_artifacts"]

Layer = Callable[[FrameLayers], npt.NDArray[np.uint8]]

_VIDEO_LAYER: Final[dict[ArtifactName, Layer]] = {
    "source_video": lambda f: f.source,
    "edited_video": lambda f: f.edited,
    "edited_background_video": lambda f: f.background,
    "edited_video_canny": lambda f: f.canny,
}
_FRAME0_LAYER: Final[dict[ArtifactName, Layer]] = {
    "source_frame0": lambda f: f.source,
    "edited_frame0": lambda f: f.edited,
    "edited_frame0_foreground_removed": lambda f: f.background,
}


def make_sample_artifacts(
    scene: SceneSpec, preset: Preset, artifacts: Collection[ArtifactName] = tuple(ARTIFACTS)
) -> dict[ArtifactName, bytes]:
    """The bytes of each requested artifact, in the order of ``layout.ARTIFACTS``."""
    wanted = [a for a in ARTIFACTS if a in artifacts]
    encoders = {
        a: Mp4Encoder(
            scene.width, scene.height, fps=preset.fps, crf=preset.crf, preset=preset.x264_preset
        )
        for a in wanted
        if a in _VIDEO_LAYER
    }
    out: dict[ArtifactName, bytes] = {}
    mask = None
    if "source_video_mask" in wanted:
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
    return {a: out[a] for a in wanted}
