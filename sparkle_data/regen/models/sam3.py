"""SAM3 tracker stage: ``source_video_mask`` from the round-2 anchors and the BAIT vote.

For every 2-FPS grounding frame of ``foreground_grounding_r2`` that located at least one
label (an *anchor*), one SAM3 tracking pass per direction (``directions``, default forward
and backward) starts from that frame with the anchor's boxes as prompts
(``transformers.Sam3TrackerVideoModel``: box prompts added to a fresh inference session,
``model(inference_session=..., frame_idx=anchor)``, then ``propagate_in_video_iterator``
from the anchor, ``reverse=True`` for backward). Each pass marks, per frame it reaches, the
union of its objects' masks; :func:`~sparkle_data.regen.vote.vote_mask_npz` then keeps a
pixel when most passes covering its frame mark it (the BAIT vote, ``tie`` as
:class:`~sparkle_data.regen.config.VoteConfig`). A sample whose record locates nothing fails
(counted, with the reason) rather than writing an empty mask.

Frames and box prompts are prepared here as ``Sam3TrackerVideoProcessor`` prepares them
(bilinear resize to ``image_size`` square, scale to ``[0, 1]``, normalise with mean and std
0.5; boxes scaled to the same square; mask logits upsampled to the square, then to the frame
size, and thresholded at ``mask_threshold``), so the stage does not need torchvision, which
the processor's video path requires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from sparkle_data.readers.grounding import grounding_frame_indices
from sparkle_data.readers.video import read_video
from sparkle_data.regen.config import TieRule, VoteConfig, check_number_setting
from sparkle_data.regen.frames import box_to_pixels
from sparkle_data.regen.models.common import (
    ModelConfig,
    cached_model,
    load_checked,
    load_key,
    require,
    torch_dtype,
)
from sparkle_data.regen.stage import SampleInputs
from sparkle_data.regen.vote import pass_coverage, vote_mask_npz

__all__ = ["SAM3_MODEL", "Sam3MaskConfig", "anchor_prompts", "load_sam3", "run_mask", "track"]

SAM3_MODEL: Final = "facebook/sam3"
_DIRECTIONS: Final = ("forward", "backward")
# SAM3 tracker ~0.85B params (bf16 ~1.7 GiB with the detector weights it ships); the frames
# of an 81-frame clip at 1008x1008 (fp32 ~1 GiB) and the memory bank add a few GiB.
_TOTAL_GIB: Final = 6.0


@dataclass(frozen=True, slots=True)
class Sam3MaskConfig(ModelConfig):
    """``source_video_mask`` (see the module docstring). ``directions``: comma-separated
    ``forward`` / ``backward``; ``mask_threshold``: on the mask logits; ``tie``: the vote's
    tie rule. ``steps`` is unused (tracking has no denoising steps)."""

    model: str = SAM3_MODEL
    directions: str = "forward,backward"
    mask_threshold: float = 0.0
    tie: TieRule = "foreground"
    steps: int = 1

    def __post_init__(self) -> None:
        ModelConfig.__post_init__(self)
        self.direction_list()
        VoteConfig(tie=self.tie)
        check_number_setting(self, "mask_threshold", -50, 50)

    def direction_list(self) -> tuple[str, ...]:
        out = tuple(d.strip() for d in str(self.directions).split(",") if d.strip())
        if not out or any(d not in _DIRECTIONS for d in out) or len(set(out)) != len(out):
            raise ValueError(
                f"Invalid Sam3MaskConfig.directions {self.directions!r}: must be "
                "'forward', 'backward' or 'forward,backward'."
            )
        return out


def load_sam3(config: Sam3MaskConfig, *, stage: str = "source_video_mask") -> Any:
    """The ``Sam3TrackerVideoModel`` of ``config`` (loaded once per worker)."""
    return cached_model(load_key("sam3-tracker", config), lambda: _load(config, stage))


def _load(config: Sam3MaskConfig, stage: str) -> Any:
    model = load_checked("transformers", "Sam3TrackerVideoModel", config, stage=stage,
                         gib=(_TOTAL_GIB, _TOTAL_GIB))
    return model.to(config.device).eval()


def anchor_prompts(
    record: Mapping[str, Any], n_frames: int, width: int, height: int
) -> list[tuple[int, list[tuple[int, int, int, int]]]]:
    """``(frame index, pixel boxes)`` of every grounding frame that located a label."""
    frames = record.get("frame_objects")
    if not isinstance(frames, list):
        raise ValueError(f"Invalid foreground_grounding_r2 record: no frame_objects list "
                         f"(keys {sorted(record)}).")
    indices = grounding_frame_indices(len(frames), num_video_frames=n_frames)
    out = []
    for idx, objects in zip(indices, frames, strict=True):
        boxes = [box_to_pixels(o["bbox_2d"], width, height) for o in objects
                 if isinstance(o, Mapping) and o.get("bbox_2d")]
        boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
        if boxes:
            out.append((idx, boxes))
    return out


def _pixel_values(torch: Any, video: npt.NDArray[np.uint8], size: int, config: Sam3MaskConfig
                  ) -> Any:
    fn = require("torch.nn.functional", stage="source_video_mask")
    x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float() / 255.0
    x = fn.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return ((x - 0.5) / 0.5).to(dtype=torch_dtype(config.dtype))


def track(
    model: Any,
    video: npt.NDArray[np.uint8],
    anchor: int,
    boxes: Sequence[tuple[int, int, int, int]],
    *,
    reverse: bool,
    config: Sam3MaskConfig,
    pixel_values: Any = None,
) -> npt.NDArray[np.bool_]:
    """One SAM3 pass from ``anchor``: ``(T, H, W)`` bool, the union of the tracked objects
    on each frame the pass reaches (other frames all False)."""
    torch = require("torch", stage="source_video_mask")
    fn = require("torch.nn.functional", stage="source_video_mask")
    mod = require("transformers.models.sam3_tracker_video.modeling_sam3_tracker_video",
                  stage="source_video_mask")
    t, h, w = video.shape[:3]
    size = int(model.config.image_size)
    pv = _pixel_values(torch, video, size, config) if pixel_values is None else pixel_values
    dev = config.device
    session = mod.Sam3TrackerVideoInferenceSession(
        video=pv, video_height=h, video_width=w, inference_device=dev,
        video_storage_device=dev, inference_state_device=dev, dtype=torch_dtype(config.dtype),
    )
    scale = torch.tensor([size / w, size / h, size / w, size / h], dtype=torch.float32)
    coords = (torch.tensor(boxes, dtype=torch.float32) * scale).reshape(1, -1, 2, 2)
    labels = torch.tensor([2, 3], dtype=torch.int32).repeat(1, coords.shape[1], 1)
    obj_ids = list(range(1, len(boxes) + 1))
    for i, oid in enumerate(obj_ids):  # as the processor's add_inputs_to_inference_session
        idx = session.obj_id_to_idx(oid)
        session.add_point_inputs(idx, anchor, {"point_coords": coords[:, i].unsqueeze(1),
                                               "point_labels": labels[:, i].unsqueeze(1)})
        session.remove_mask_inputs(idx, anchor)
    session.obj_with_new_inputs = obj_ids
    out = np.zeros((t, h, w), dtype=np.bool_)
    with torch.inference_mode():
        model(inference_session=session, frame_idx=anchor)
        for step in model.propagate_in_video_iterator(
            session, start_frame_idx=anchor, reverse=reverse
        ):
            logits = step.pred_masks.float()  # (objects, 1, h', w')
            logits = fn.interpolate(logits, size=(size, size), mode="bilinear",
                                    align_corners=False)
            logits = fn.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
            marked = (logits > config.mask_threshold).any(dim=0)[0]
            out[int(step.frame_idx)] = marked.cpu().numpy()
    return out


def run_mask(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    """Stage ``source_video_mask``: SAM3 passes from every anchor, then the BAIT vote."""
    model = load_sam3(config)
    torch = require("torch", stage="source_video_mask")
    record = inputs.records.get("foreground_grounding_r2")
    if not isinstance(record, Mapping):
        raise ValueError(f"Invalid foreground_grounding_r2 record {record!r} for sample "
                         f"{inputs.sample_id}: the masks need the round-2 anchors.")
    video: npt.NDArray[np.uint8] = read_video(
        inputs.need("source_video"), name="<source_video>", sample_id=inputs.sample_id
    )
    t, h, w = video.shape[:3]
    anchors = anchor_prompts(record, t, w, h)
    if not anchors:
        raise ValueError(
            f"Invalid foreground_grounding_r2 record for sample {inputs.sample_id}: no frame "
            "locates any label (every bbox_2d empty), nothing to track."
        )
    pv = _pixel_values(torch, video, int(model.config.image_size), config)
    directions = config.direction_list()
    passes = [
        track(model, video, a, boxes, reverse=d == "backward", config=config, pixel_values=pv)
        for a, boxes in anchors
        for d in directions
    ]
    coverage = pass_coverage([a for a, _ in anchors], t, directions)
    data = vote_mask_npz(np.stack(passes), coverage, VoteConfig(tie=config.tie))
    return {"source_video_mask": data}
