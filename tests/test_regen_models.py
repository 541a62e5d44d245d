"""Model stages of sparkle_data.regen with tiny random checkpoints, on CPU, end to end.

Each tiny model is built here, saved to tmp_path and loaded through the same
``from_pretrained`` path a real checkpoint folder takes (``--config STAGE.model=DIR``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.errors import GpuMemoryError, MissingExtraError, WeightsUnavailableError
from sparkle_data.layout import artifact_relpath
from sparkle_data.readers.image import read_png
from sparkle_data.readers.video import probe_video, read_video
from sparkle_data.regen.local import run_local
from sparkle_data.regen.manifest import build_manifest
from sparkle_data.regen.models.common import check_gpu_memory, require
from sparkle_data.regen.models.flux import FluxEditConfig, FluxRemoveConfig, removal_labels
from sparkle_data.regen.models.wan import WanConfig, lightx2v_timesteps
from sparkle_data.regen.planner import plan_regen
from sparkle_data.regen.registry import get_stage
from sparkle_data.testing import make_sample_tree

pytest.importorskip("cv2")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("ftfy")

CPU: dict[str, Any] = {"device": "cpu", "dtype": "float32"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regen-models") / "tree"
    make_sample_tree(out, edit_types=["location"], samples=3, preview_count=1, bench=False)
    return out / "Sparkle"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from sparkle_data.testing.tiny_models import save_tiny_flux2_klein, save_tiny_wan_i2v

    base = tmp_path_factory.mktemp("tiny-models")
    return {
        "flux": save_tiny_flux2_klein(base / "flux2-klein"),
        "wan": save_tiny_wan_i2v(base / "wan2.2-i2v"),
    }


def _configs(tiny: dict[str, Path]) -> dict[str, Any]:
    flux = {"model": str(tiny["flux"]), "steps": 2, "text_encoder_layers": "1,2,3",
            "max_sequence_length": 64, **CPU}
    return {
        "edited_frame0": FluxEditConfig(**flux),
        "edited_frame0_foreground_removed": FluxRemoveConfig(**flux),
        # 81 frames (>= every tiny clip) at 64x96: resized back to the clips' 54x96.
        "edited_background_video": WanConfig(model=str(tiny["wan"]), height=64, width=96,
                                             num_frames=81, max_sequence_length=32, **CPU),
    }


def _stripped(pristine: Path, dest: Path) -> tuple[Path, list[str]]:
    """A copy whose non-preview samples have no intermediate (the shards are gone)."""
    root = dest / "Sparkle"
    shutil.copytree(pristine, root)
    for p in (root / "intermediate_data").glob("*.tar"):
        p.unlink()
    ids = sorted(build_catalog(pristine, cache=False).corpus().index)
    return root, [i for i in ids if not (root / artifact_relpath(i, "source_frame0")).exists()]


def _source_size(root: Path, sid: str) -> tuple[int, int]:
    info = probe_video(build_catalog(root, cache=False).read_bytes(sid, "source_video"))
    return info.height, info.width


def test_flux_stages_end_to_end(pristine: Path, tiny: dict[str, Path], tmp_path: Path) -> None:
    """source_frame0 -> FLUX.2-klein edit -> FLUX.2-klein removal, planner + local runner."""
    root, gone = _stripped(pristine, tmp_path)
    plan = plan_regen(root, ["edited_frame0_foreground_removed"], ids=gone[:2])
    assert {it.stages for it in plan.items} == {
        ("source_frame0", "edited_frame0", "edited_frame0_foreground_removed")
    }
    r1 = json.loads(dict(plan.items[0].records)["foreground_grounding_r1"])
    assert r1["id"] == plan.items[0].sample_id
    assert r1["round1_labels"]
    report = run_local(plan, workers=1, configs=_configs(tiny), progress=False)
    assert report.ok, report.format()
    cat = build_catalog(root, cache=False)
    for sid in gone[:2]:
        h, w = _source_size(root, sid)
        for a in ("edited_frame0", "edited_frame0_foreground_removed"):
            img = read_png(cat.read_bytes(sid, a))
            assert img.shape == (h, w, 3)
            assert img.dtype == np.uint8
    assert plan_regen(root, ["edited_frame0_foreground_removed"], ids=gone[:2]).items == ()


def test_wan_short_clip_shape_and_encoding(tiny: dict[str, Path]) -> None:
    from sparkle_data.regen.media import encode_mp4
    from sparkle_data.regen.models.wan import generate_video, load_wan

    cfg = dataclasses.replace(_configs(tiny)["edited_background_video"], num_frames=5)
    pipe = load_wan(cfg, stage="edited_background_video")
    assert pipe.scheduler.pinned_sigmas == (1.0, 0.75, 0.5, 0.25)
    image = np.full((64, 96, 3), 128, dtype=np.uint8)
    video = generate_video(pipe, image, "an empty street", cfg)
    assert video.shape == (5, 64, 96, 3)
    assert video.dtype == np.uint8
    info = probe_video(encode_mp4(video, fps=cfg.fps, crf=cfg.crf, preset=cfg.x264_preset))
    assert (info.num_frames, info.fps, info.codec) == (5, 16, "h264")


@pytest.mark.slow
def test_model_chain_end_to_end_on_cpu(
    pristine: Path, tiny: dict[str, Path], tmp_path: Path
) -> None:
    """source_frame0 -> FLUX edit -> FLUX removal -> Wan video, through planner + runner."""
    root, gone = _stripped(pristine, tmp_path)
    sid = gone[0]
    plan = plan_regen(root, ["edited_background_video"], ids=[sid])
    assert [it.stages for it in plan.items] == [(
        "source_frame0", "edited_frame0", "edited_frame0_foreground_removed",
        "edited_background_video",
    )]
    item = plan.items[0]
    assert [name for name, _ in item.records] == ["foreground_grounding_r1"]
    configs = _configs(tiny)
    report = run_local(plan, workers=1, configs=configs, progress=False)
    assert report.ok, report.format()
    assert sorted(report.to_dict()["written"]) == [
        "edited_background_video", "edited_frame0", "edited_frame0_foreground_removed",
        "source_frame0",
    ]
    h, w = _source_size(root, sid)
    for a in ("edited_frame0", "edited_frame0_foreground_removed"):
        img = read_png(root / artifact_relpath(sid, a))
        assert img.shape == (h, w, 3)
        assert img.dtype == np.uint8
    bg = root / artifact_relpath(sid, "edited_background_video")
    info = probe_video(bg)
    assert (info.num_frames, info.height, info.width) == (81, h, w)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert info.fps == 16
    assert read_video(bg).shape == (81, h, w, 3)
    # The catalog and readers find the regenerated files where the release keeps them.
    cat = build_catalog(root, cache=False)
    assert cat.read_bytes(sid, "edited_background_video") == bg.read_bytes()
    # The manifest records every model field.
    man = build_manifest(plan.stage_counts(), configs)
    flux = man["stages"]["edited_frame0"]
    assert flux["config"]["model"] == str(tiny["flux"])
    assert flux["config"]["steps"] == 2
    assert man["stages"]["edited_background_video"]["config"]["sigmas"] == "1.0,0.75,0.5,0.25"
    json.dumps(man)
    # A rerun finds everything done.
    assert plan_regen(root, ["edited_background_video"], ids=[sid]).items == ()


def test_same_seed_same_edit(pristine: Path, tiny: dict[str, Path], tmp_path: Path) -> None:
    from sparkle_data.regen.models.flux import edit_frame, load_flux

    cfg = _configs(tiny)["edited_frame0"]
    frame = read_png(build_catalog(pristine, cache=False).read_bytes(
        sorted(build_catalog(pristine, cache=False).corpus().index)[0], "source_frame0"))
    pipe = load_flux(cfg, stage="edited_frame0")
    a = edit_frame(pipe, frame, "make it snow", cfg)
    b = edit_frame(pipe, frame, "make it snow", cfg)
    c = edit_frame(pipe, frame, "make it snow", dataclasses.replace(cfg, seed=1))
    assert a.shape == frame.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_without_round1_record(pristine: Path, tmp_path: Path) -> None:
    """The missing round-1 record is made first (its grounding stage); a sample whose
    record no stage can make is blocked, with the reason."""
    from sparkle_data.regen.registry import register_stage

    root, gone = _stripped(pristine, tmp_path)
    rec = root / "intermediate_data" / "location" / "foreground_grounding_r1.jsonl"
    lines = [ln for ln in rec.read_text().splitlines() if gone[0] not in ln]
    rec.write_text("\n".join(lines) + "\n")
    plan = plan_regen(root, ["edited_frame0_foreground_removed"], ids=[gone[0]])
    assert [it.stages for it in plan.items] == [(
        "source_frame0", "edited_frame0", "foreground_grounding_r1",
        "edited_frame0_foreground_removed",
    )]
    assert plan.items[0].records == ()  # the line comes from the stage, not the root
    grounding = get_stage("foreground_grounding_r1")
    register_stage(dataclasses.replace(grounding, run=None), replace=True)
    try:
        plan = plan_regen(root, ["edited_frame0_foreground_removed"], ids=[gone[0]])
    finally:
        register_stage(grounding, replace=True)
    assert plan.items == ()
    assert "needs the foreground_grounding_r1 record" in plan.blocked[0].reason


def test_lightx2v_schedule_is_pinned() -> None:
    ts = lightx2v_timesteps(WanConfig(**CPU))
    assert ts == pytest.approx([1000.0, 937.5, 833.3333, 625.0], abs=1e-3)
    # boundary_ratio 0.9 -> t >= 900 on the high-noise expert: the first two steps.
    assert sum(t >= 0.9 * 1000 for t in ts) == 2


def test_model_configs_validate() -> None:
    with pytest.raises(ValueError, match="steps"):
        WanConfig(steps=8)
    with pytest.raises(ValueError, match="num_frames"):
        WanConfig(num_frames=80)
    with pytest.raises(ValueError, match="multiple of 16"):
        WanConfig(height=54)
    with pytest.raises(ValueError, match="device"):
        FluxEditConfig(device="tpu")
    with pytest.raises(ValueError, match="offload"):
        FluxEditConfig(device="cpu", offload="model")
    with pytest.raises(ValueError, match="text_encoder_layers"):
        FluxEditConfig(text_encoder_layers="a,b")
    assert FluxEditConfig().model == "black-forest-labs/FLUX.2-klein-9B"
    assert WanConfig().model == "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    assert (WanConfig().height, WanConfig().width, WanConfig().num_frames) == (720, 1280, 81)
    assert get_stage("edited_frame0").available
    assert isinstance(get_stage("edited_frame0").config, FluxEditConfig)


def test_removal_prompt_is_ours_and_overridable() -> None:
    from sparkle_data.regen.stage import SampleInputs

    inputs = SampleInputs("Sparkle_time_000001", "time", {}, {"prompt": "x"})
    template = FluxRemoveConfig().prompt_template
    text = inputs.fill(template, labels=removal_labels(["woman in hat", " dog "]))
    assert "woman in hat; dog" in text
    assert inputs.fill("erase {labels} ({prompt})", labels=removal_labels(["a"])) == "erase a (x)"
    with pytest.raises(ValueError, match="nothing to remove"):
        removal_labels([" "])


def test_clear_errors_extra_weights_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkle_data.regen.models.flux import load_flux

    with pytest.raises(MissingExtraError, match=r"sparkle-data\[regen-models\]"):
        require("no_such_model_library_xyz", stage="edited_frame0")
    missing = FluxEditConfig(model=str(tmp_path / "absent"), **CPU)
    with pytest.raises(WeightsUnavailableError, match=r"edited_frame0\.model"):
        load_flux(missing, stage="edited_frame0")
    torch = pytest.importorskip("torch")
    cuda = FluxEditConfig(model=str(tmp_path / "absent"))
    if not torch.cuda.is_available():
        with pytest.raises(GpuMemoryError, match="CUDA is not available"):
            check_gpu_memory(cuda, 34.0, stage="edited_frame0")

    class Props:
        total_memory = 24 * 2**30

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props())
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "Fake 24G")
    with pytest.raises(GpuMemoryError, match=r"offload=model"):
        check_gpu_memory(cuda, 34.0, stage="edited_frame0")
    check_gpu_memory(dataclasses.replace(cuda, offload="model"), 19.6, stage="edited_frame0")


def test_failed_model_sample_is_reported(
    pristine: Path, tiny: dict[str, Path], tmp_path: Path
) -> None:
    root, gone = _stripped(pristine, tmp_path)
    bad = {"edited_frame0": FluxEditConfig(model=str(tmp_path / "nope"), **CPU)}
    report = run_local(plan_regen(root, ["edited_frame0"], ids=gone[:1]), workers=1,
                       configs=bad, retries=0, progress=False)
    d = report.to_dict()
    assert d["failed"] == 1
    assert "WeightsUnavailableError" in d["failures"][0]["error"]


@pytest.mark.slow
def test_ray_runner_runs_a_model_stage(
    pristine: Path, tiny: dict[str, Path], tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    from sparkle_data.regen.ray_runner import run_ray

    root, gone = _stripped(pristine, tmp_path)
    plan = plan_regen(root, ["edited_frame0"], ids=gone[:1])
    ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    try:
        rep = run_ray(plan, workers=1, configs={"edited_frame0": _configs(tiny)["edited_frame0"]},
                      progress=False)
    finally:
        ray.shutdown()
    assert rep.ok, rep.format()
    img = read_png(root / artifact_relpath(gone[0], "edited_frame0"))
    assert img.shape == (*_source_size(root, gone[0]), 3)


# --------------------------------------------------------------------------- SAM3 + BAIT
def _short_user_tree(tmp_path: Path) -> tuple[Path, str, np.ndarray]:
    """A 9-frame user tree (``regen new``) with a hand-written round-2 record: anchors 0, 8."""
    from sparkle_data.regen.media import encode_mp4
    from sparkle_data.regen.newdata import make_user_tree

    video = np.zeros((9, 54, 96, 3), np.uint8)
    video[:, 10:40, 20:60] = 200
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a.mp4").write_bytes(encode_mp4(video, fps=16, crf=20, preset="veryfast"))
    (tmp_path / "p.csv").write_text('prompt,src_video,tgt_video,task\n"Make it snow.",a.mp4,,t\n')
    root = tmp_path / "t"
    sid = make_user_tree(tmp_path / "v", tmp_path / "p.csv", root, edit_type="location").ids[0]
    box = {"bbox_2d": [208, 185, 625, 740], "label": "grey box"}
    rec = {"id": sid, "prompt": "Make it snow.", "edit_type": "location",
           "round1_labels": ["grey box"], "round1_objects": [box],
           "frame_objects": [[box], [{"bbox_2d": [], "label": "grey box"}]]}
    path = root / "intermediate_data" / "location" / "foreground_grounding_r2.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec) + "\n")
    return root, sid, video


def test_sam3_anchor_prompts_and_config() -> None:
    from sparkle_data.regen.models.sam3 import Sam3MaskConfig, anchor_prompts

    rec = {"frame_objects": [
        [{"bbox_2d": [0, 0, 500, 500], "label": "a"}, {"bbox_2d": [], "label": "b"}],
        [{"bbox_2d": [], "label": "a"}, {"bbox_2d": [], "label": "b"}],
        [{"bbox_2d": [500, 500, 1000, 1000], "label": "a"}],
    ]}
    assert anchor_prompts(rec, 17, 96, 54) == [(0, [(0, 0, 48, 27)]), (16, [(48, 27, 95, 53)])]
    with pytest.raises(ValueError, match="frame_objects"):
        anchor_prompts({}, 17, 96, 54)
    assert Sam3MaskConfig().direction_list() == ("forward", "backward")
    with pytest.raises(ValueError, match="directions"):
        Sam3MaskConfig(directions="sideways")
    assert get_stage("source_video_mask").available


@pytest.mark.slow
def test_sam3_mask_stage_end_to_end(tmp_path: Path) -> None:
    """SAM3 passes (tiny model) from anchors 0 and 8, both ways, then the vote -> NPZ."""
    from sparkle_data.readers.mask import read_mask
    from sparkle_data.regen.models.sam3 import Sam3MaskConfig
    from sparkle_data.testing.tiny_models import save_tiny_sam3_tracker

    root, sid, video = _short_user_tree(tmp_path)
    model = save_tiny_sam3_tracker(tmp_path / "sam3")
    plan = plan_regen(root, ["source_video_mask"])
    assert [it.stages for it in plan.items] == [("source_video_mask",)]
    cfg = {"source_video_mask": Sam3MaskConfig(model=str(model), **CPU)}
    report = run_local(plan, workers=1, configs=cfg, progress=False)
    assert report.ok, report.format()
    data = (root / artifact_relpath(sid, "source_video_mask")).read_bytes()
    mask = read_mask(data)
    assert mask.shape == video.shape[:3]
    assert mask.dtype == np.bool_
    with np.load(__import__("io").BytesIO(data)) as z:  # the card's own load_mask layout
        assert tuple(int(s) for s in z["shape"]) == video.shape[:3]
        assert z["mask"].dtype == np.uint8


def test_a_template_asks_for_the_instruction_only_when_it_uses_it() -> None:
    from sparkle_data.regen.stage import SampleInputs

    without = SampleInputs("Sparkle_time_000001", "time", {}, {})
    assert without.fill("erase {labels}", labels="a; b") == "erase a; b"
    with pytest.raises(ValueError, match="needs the sample's instruction"):
        without.fill("{prompt} The scene is empty")
    with_prompt = SampleInputs("Sparkle_time_000001", "time", {}, {"prompt": "make it night"})
    assert with_prompt.fill("{prompt}!") == "make it night!"
    assert with_prompt.fill("erase {labels} ({prompt})", labels="a") == "erase a (make it night)"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FluxEditConfig(model="m", guidance_scale=True), "FluxEditConfig.guidance_scale"),
        (lambda: FluxEditConfig(model="m", prompt_template=" "), "must be a non-empty template"),
        (lambda: FluxRemoveConfig(model="m", max_sequence_length=4), "int in [8, 4096]"),
        (lambda: WanConfig(model="m", shift=0.0), "WanConfig.shift 0.0: must be a number"),
        (lambda: FluxEditConfig(model="m", steps=0), "FluxEditConfig.steps 0: must be an int"),
        (lambda: FluxEditConfig(model=""), "must be a Hub id or a local folder"),
    ],
)
def test_stage_settings_are_checked_alike(make: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value).startswith("Invalid ")
    assert message in str(info.value)
