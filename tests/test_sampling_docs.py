"""docs/sampling.md runs as written; the public API of sparkle_data.sampling is stable."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import subprocess
import sys

import sparkle_data.sampling as sampling

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "sampling.md"

PUBLIC = {
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
}


def test_sampling_doc_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 8
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    printed = out.getvalue()
    assert "[81, 77, 77, 69, 69]" in printed
    assert "crop=(8, 0, 704, 1280)" in printed
    assert "resize=(480, 853), crop=(0, 10, 480, 832)" in printed
    assert "crop_to_common (8, 0, 704, 1280) (704, 1280) (0, 0, 704, 1280)" in printed
    assert "policy 'kiwi' needs 81 frames" in printed


def test_public_api_is_stable() -> None:
    assert set(sampling.__all__) == PUBLIC
    for name in sampling.__all__:
        assert getattr(sampling, name) is not None, name


def test_import_does_not_load_torch() -> None:
    code = "import sys, sparkle_data.sampling; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
