"""What to decode and how to shape it: synchronized frame sampling for a Sparkle sample.

The pure layer under the streaming Dataset. One :class:`SamplePlan` per sample, computed from
the headers of all its fields, fixes the frame indices and the resize/crop, and is applied to
every video field, the mask and the grounding boxes alike::

    from sparkle_data.sampling import (
        FrameSampler, Resize, plan_sample, probe_fields,
        decode_video_field, decode_mask_field, collate_pad,
    )

    probes = probe_fields({"source_video": src, "edited_video": tgt},
                          {"source_video_mask": mask})
    plan = plan_sample(probes, FrameSampler("kiwi", num_frames=81),
                       Resize(max_pixels=720 * 1280, division=16), sample_id=sid)
    video = decode_video_field(src, plan, "source_video")     # uint8 (T, 3, H, W)
    fg = decode_mask_field(mask, plan)                         # bool  (T, H, W)

A whole sample (every file field and the boxes, what the datasets use) is decoded by
:func:`decode_sample` with one :class:`DecodeOptions`.

Modules: :mod:`.frames` (frame policies), :mod:`.geometry` (sizes, crops, box maps),
:mod:`.sync` (plans and decoding per field), :mod:`.decode` (a whole sample),
:mod:`.options` (:class:`DecodeOptions`), :mod:`.collate` (padding and bucketing). See
``docs/sampling.md``.
"""

from __future__ import annotations

from sparkle_data.sampling._errors import FieldMismatchError, SamplingError, ShortClipError
from sparkle_data.sampling.collate import (
    BucketBatchSampler,
    collate_pad,
    collate_stack,
    group_by_length,
)
from sparkle_data.sampling.decode import SampleFiles, decode_sample
from sparkle_data.sampling.frames import (
    FRAME_POLICIES,
    KIWI_TIME_DIVISION,
    ON_SHORT_CHOICES,
    FramePolicy,
    FrameSampler,
    OnShort,
    kiwi_num_frames,
    rng_key,
    select_frames,
)
from sparkle_data.sampling.geometry import (
    CROP_POLICIES,
    SIZE_MISMATCH_CHOICES,
    CropPolicy,
    Geometry,
    Resize,
    SizeMismatch,
    kiwi_target_size,
    plan_geometry,
)
from sparkle_data.sampling.options import DecodeOptions
from sparkle_data.sampling.sync import (
    BOX_FRAME_CHOICES,
    FRAME_MISMATCH_CHOICES,
    BoxFrames,
    FrameMismatch,
    HasShape,
    SamplePlan,
    decode_image_field,
    decode_mask_field,
    decode_video_field,
    plan_sample,
    probe_fields,
    transform_boxes,
)

__all__ = [
    "BOX_FRAME_CHOICES",
    "CROP_POLICIES",
    "FRAME_MISMATCH_CHOICES",
    "FRAME_POLICIES",
    "KIWI_TIME_DIVISION",
    "ON_SHORT_CHOICES",
    "SIZE_MISMATCH_CHOICES",
    "BoxFrames",
    "BucketBatchSampler",
    "CropPolicy",
    "DecodeOptions",
    "FieldMismatchError",
    "FrameMismatch",
    "FramePolicy",
    "FrameSampler",
    "Geometry",
    "HasShape",
    "OnShort",
    "Resize",
    "SampleFiles",
    "SamplePlan",
    "SamplingError",
    "ShortClipError",
    "SizeMismatch",
    "collate_pad",
    "collate_stack",
    "decode_image_field",
    "decode_mask_field",
    "decode_sample",
    "decode_video_field",
    "group_by_length",
    "kiwi_num_frames",
    "kiwi_target_size",
    "plan_geometry",
    "plan_sample",
    "probe_fields",
    "rng_key",
    "select_frames",
    "transform_boxes",
]
