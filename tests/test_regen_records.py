"""Record stages of sparkle_data.regen: the record-file writer (parts, merge, resume), the
Qwen3-VL grounding stages with tiny checkpoints on CPU, and the EditScore stages with a
scorer injected through the adapter's own interface."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.errors import CorruptRecordError, EditScoreParseError
from sparkle_data.layout import record_path
from sparkle_data.readers.grounding import load_grounding_r1, load_grounding_r2
from sparkle_data.readers.scores import iter_image_scores, iter_video_scores
from sparkle_data.readers.video import probe_video
from sparkle_data.regen.local import run_local
from sparkle_data.regen.manifest import build_manifest
from sparkle_data.regen.planner import plan_regen
from sparkle_data.regen.records import (
    OutRecords,
    encode_record,
    merge_records,
    record_part_path,
    validate_record_line,
)
from sparkle_data.testing import make_sample_tree

CPU: dict[str, Any] = {"device": "cpu", "dtype": "float32"}
ANSWER = '```json\n[{"bbox_2d": [100, 200, 600, 900], "label": "grey box"}]\n```'


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regen-records") / "tree"
    make_sample_tree(out, edit_types=["location"], samples=3, preview_count=1, bench=False)
    return out / "Sparkle"


def _without(pristine: Path, dest: Path, records: tuple[str, ...], ids: list[str]) -> Path:
    """A copy of the tree whose record files lack the lines of ``ids``."""
    root = dest / "Sparkle"
    shutil.copytree(pristine, root)
    for name in records:
        path = root / record_path("location", name)
        keep = [ln for ln in path.read_bytes().splitlines(keepends=True)
                if json.loads(ln)["id"] not in ids]
        path.write_bytes(b"".join(keep))
    return root


def _frames(root: Path, sid: str) -> int:
    return probe_video(build_catalog(root, cache=False).read_bytes(sid, "source_video")).num_frames


def _ids(root: Path) -> list[str]:
    return sorted(build_catalog(root, cache=False).corpus().index)


def _r1_line(sid: str, label: str = "dog") -> bytes:
    return encode_record({
        "id": sid, "prompt": "Make it snow.", "edit_type": "location",
        "round1_labels": [label], "round1_objects": [{"bbox_2d": [1, 2, 30, 40], "label": label}],
    })


# --------------------------------------------------------------------------- the writer
def test_parts_merge_sorted_without_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rel = out / record_path("location", "foreground_grounding_r1")
    rel.parent.mkdir(parents=True)
    old = _r1_line("Sparkle_location_000003", "cat")
    rel.write_bytes(_r1_line("Sparkle_location_000007") + old)
    for sid in ("Sparkle_location_000009", "Sparkle_location_000001", "Sparkle_location_000007"):
        part = record_part_path(out, sid, "foreground_grounding_r1")
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(_r1_line(sid, "new"))
    assert OutRecords(out).get("Sparkle_location_000009", "foreground_grounding_r1") is not None
    assert merge_records(out) == {record_path("location", "foreground_grounding_r1"): 3}
    data = rel.read_bytes()
    recs = load_grounding_r1(io.BytesIO(data), edit_type="location")
    assert [r.sample_id for r in recs] == [
        "Sparkle_location_000001", "Sparkle_location_000003", "Sparkle_location_000007",
        "Sparkle_location_000009",
    ]
    assert old in data  # lines already there are kept byte for byte
    assert [r.labels for r in recs][2] == ("new",)  # a part replaces a line of its id
    assert not list(record_part_path(out, "x", "foreground_grounding_r1").parent.iterdir())
    # A kill between the merged write and the parts' removal: the parts come back, the
    # next merge gives the same file (no duplicate line).
    part = record_part_path(out, "Sparkle_location_000001", "foreground_grounding_r1")
    part.write_bytes(_r1_line("Sparkle_location_000001", "new"))
    merge_records(out)
    assert rel.read_bytes() == data
    assert merge_records(out) == {}


def test_record_lines_are_validated_by_our_readers() -> None:
    sid = "Sparkle_location_000001"
    validate_record_line("foreground_grounding_r1", _r1_line(sid), sample_id=sid)
    with pytest.raises(CorruptRecordError, match="another sample"):
        validate_record_line("foreground_grounding_r1", _r1_line(sid), sample_id=sid[:-1] + "2")
    with pytest.raises(CorruptRecordError, match="one newline"):
        validate_record_line("foreground_grounding_r1", _r1_line(sid) * 2, sample_id=sid)
    bad = json.loads(_r1_line(sid))
    bad["round1_labels"] = ["other"]
    with pytest.raises(CorruptRecordError):
        validate_record_line("foreground_grounding_r1", encode_record(bad), sample_id=sid)


# --------------------------------------------------------------------------- Qwen3-VL
@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("transformers")
    from sparkle_data.testing.tiny_models import save_tiny_qwen3_vl

    base = tmp_path_factory.mktemp("tiny-qwen")
    return {
        "boxes": save_tiny_qwen3_vl(base / "boxes", answer=ANSWER),
        "prose": save_tiny_qwen3_vl(base / "prose", answer="I cannot see any object here."),
    }


def _grounding(model: Path, **kw: Any) -> dict[str, Any]:
    from sparkle_data.regen.models.qwen import GroundingR1Config, GroundingR2Config

    common = {"model": str(model), "max_new_tokens": 8, "max_pixels": 64 * 64, **CPU, **kw}
    return {"foreground_grounding_r1": GroundingR1Config(**common),
            "foreground_grounding_r2": GroundingR2Config(**common)}


@pytest.mark.slow
def test_grounding_stages_through_planner_and_runner(
    pristine: Path, qwen: dict[str, Path], tmp_path: Path
) -> None:
    from sparkle_data.regen.frames import anchor_frames
    from sparkle_data.regen.models.qwen import load_qwen

    ids = _ids(pristine)[1:]
    names = ("foreground_grounding_r1", "foreground_grounding_r2")
    root = _without(pristine, tmp_path, names, ids)
    plan = plan_regen(root, ["foreground_grounding_r2"])
    assert [it.stages for it in plan.items] == [names] * 2
    configs = _grounding(qwen["boxes"], batch_size=4)
    model = load_qwen(configs[names[0]], stage=names[0]).model  # the worker's cached load
    calls: list[int] = []
    generate = model.generate

    def counted(**kw: Any) -> Any:
        calls.append(int(kw["input_ids"].shape[0]))
        return generate(**kw)

    model.generate = counted
    try:
        report = run_local(plan, workers=1, configs=configs, progress=False)
    finally:
        del model.generate
    assert report.ok, report.format()
    # stage by stage, batched: both round-1 prompts in one call, then the 2-FPS frames of
    # both samples 4 per call
    assert calls[0] == 2
    assert sum(calls[1:]) == sum(len(anchor_frames(_frames(root, s))) for s in ids)
    assert max(calls) == 4
    assert report.records == {record_path("location", n): 2 for n in names}
    cat = build_catalog(root, cache=False)
    r1 = {r.sample_id: r for r in load_grounding_r1(root / record_path("location", names[0]))}
    r2 = {r.sample_id: r for r in load_grounding_r2(root / record_path("location", names[1]))}
    assert set(ids) <= set(r1)
    assert set(ids) <= set(r2)
    for name in names:  # one line per id, sorted by id
        lines = (root / record_path("location", name)).read_bytes().splitlines()
        order = [json.loads(ln)["id"] for ln in lines]
        assert order == sorted(set(order))
    for sid in ids:
        assert r1[sid].labels == ("grey box",)
        assert r1[sid].round1_objects[0].bbox == (100, 200, 600, 900)
        n = _frames(root, sid)
        line = json.loads(cat.read_record_line(sid, names[1]).data)
        frames = line["frame_objects"]
        assert len(frames) == len(anchor_frames(n))
        assert all(f == [{"bbox_2d": [100, 200, 600, 900], "label": "grey box"}] for f in frames)
        assert len(r2[sid].frame_objects) == len(frames) >= 9
    assert "QwenVL" in repr(load_qwen(_grounding(qwen["boxes"])[names[0]], stage=names[0]))
    assert plan_regen(root, ["foreground_grounding_r2"]).items == ()
    man = build_manifest(plan.stage_counts(), _grounding(qwen["boxes"]))
    assert man["stages"][names[0]]["config"]["prompt_template"].startswith("Image 1 is")


@pytest.mark.slow
def test_malformed_answer_is_a_counted_failure_with_raw_text(
    pristine: Path, qwen: dict[str, Path], tmp_path: Path
) -> None:
    sid = _ids(pristine)[1]
    root = _without(pristine, tmp_path, ("foreground_grounding_r1",), [sid])
    plan = plan_regen(root, ["foreground_grounding_r1"])
    report = run_local(plan, workers=1, configs=_grounding(qwen["prose"], max_new_tokens=4),
                       retries=0, progress=False)
    d = report.to_dict()
    assert (d["failed"], d["failures"][0]["sample_id"]) == (1, sid)
    assert d["failures"][0]["raw_output"] == "I cannot see any object here."
    assert "GroundingParseError" in d["failures"][0]["error"]
    assert not record_part_path(root, sid, "foreground_grounding_r1").exists()
    assert report.records == {}
    assert [it.sample_id for it in plan_regen(root, ["foreground_grounding_r1"]).items] == [sid]


def test_grounding_config_and_absent_weights(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from sparkle_data.errors import WeightsUnavailableError
    from sparkle_data.regen.models.qwen import GroundingR1Config, load_qwen

    with pytest.raises(ValueError, match="batch_size"):
        GroundingR1Config(batch_size=0)
    with pytest.raises(WeightsUnavailableError, match=r"foreground_grounding_r1\.model"):
        load_qwen(GroundingR1Config(model=str(tmp_path / "absent"), **CPU),
                  stage="foreground_grounding_r1")


def test_frame_entry_aligns_answers_to_round1_labels() -> None:
    from sparkle_data.regen.models.grounding import parse_grounding
    from sparkle_data.regen.models.qwen import frame_entry

    objs = parse_grounding('[{"bbox_2d": [1, 2, 3, 4], "label": "Dog"}, '
                           '{"bbox_2d": [5, 6, 7, 8], "label": "kite"}]')
    assert frame_entry(["cat", "dog"], objs) == [
        {"bbox_2d": [], "label": "cat"}, {"bbox_2d": [1, 2, 3, 4], "label": "dog"},
    ]


# --------------------------------------------------------------------------- EditScore
SC_RAW = ('||V^=^V||\n{\n"reasoning" : "The edit follows the instruction: the background is '
          'now a snowy street.",\n"score" : [23, 21]\n}\n||V^=^V||')
PQ_RAW = '{"reasoning": "Natural lighting, slight blur on the hands.", "score": [20]}'


class FakeScorer:
    """Answers as ``editscore.EditScore`` does (numpy floats, the same keys)."""

    calls: ClassVar[list[str]] = []

    def __init__(self, config: Any) -> None:
        self.config = config

    def evaluate(self, image_prompts: list[Any], text_prompt: str) -> Mapping[str, Any]:
        assert len(image_prompts) == 2
        assert image_prompts[0].size == image_prompts[1].size
        self.calls.append("evaluate")
        return {"prompt_following": np.float64(9.2), "consistency": np.float64(8.4),
                "perceptual_quality": np.float64(8.0), "overall": np.float64(8.2),
                "SC_reasoning": "follows the instruction", "PQ_reasoning": "looks natural"}

    def batch_evaluate(self, image_prompts: list[list[Any]], text_prompt: list[str]
                       ) -> list[Mapping[str, Any]]:
        self.calls.append("batch_evaluate")
        return [{"SC_score": np.float64(8.4), "PQ_score": np.float64(8.0),
                 "O_score": np.float64(8.197560612767678), "SC_score_reasoning": "ok",
                 "PQ_score_reasoning": "ok", "SC_raw_output": SC_RAW, "PQ_raw_output": PQ_RAW}
                for _ in image_prompts]


@pytest.fixture(scope="module")
def fake_scorers() -> None:
    from sparkle_data.regen.models.editscore import register_scorer

    register_scorer("fake", FakeScorer)
    register_scorer("fake_vllm", FakeScorer)


SCORES = ("edited_frame0_score", "edited_frame0_foreground_removed_score", "edited_video_score")


@pytest.mark.parametrize("backbone", ["fake", "fake_vllm"])
def test_editscore_stages_write_the_card_records(
    pristine: Path, tmp_path: Path, fake_scorers: None, backbone: str
) -> None:
    from sparkle_data.regen.models.editscore import EditScoreConfig, EditScoreRemovalConfig

    sid = _ids(pristine)[2]
    root = _without(pristine, tmp_path, SCORES, [sid])
    plan = plan_regen(root, list(SCORES))
    assert [it.stages for it in plan.items] == [SCORES]
    assert [name for name, _ in plan.items[0].records] == ["foreground_grounding_r1"]
    common = {"backbone": backbone, "num_pass": 4, "score_range": 25, "device": "cpu"}
    configs = {"edited_frame0_score": EditScoreConfig(**common),
               "edited_frame0_foreground_removed_score": EditScoreRemovalConfig(**common),
               "edited_video_score": EditScoreConfig(**common)}
    FakeScorer.calls.clear()
    report = run_local(plan, workers=1, configs=configs, progress=False)
    assert report.ok, report.format()
    assert FakeScorer.calls.count("batch_evaluate") == (backbone == "fake_vllm")
    (img,) = [r for r in iter_image_scores(root / record_path("location", SCORES[0]))
              if r.sample_id == sid]
    assert (img.prompt_following, img.overall) == (9.2, 8.2)
    removed = json.loads(build_catalog(root, cache=False).read_record_line(sid, SCORES[1]).data)
    assert removed["prompt"].startswith("Remove the following from the image:")
    (vid,) = [r for r in iter_video_scores(root / record_path("location", SCORES[2]))
              if r.sample_id == sid]
    line = json.loads(build_catalog(root, cache=False).read_record_line(sid, SCORES[2]).data)
    assert line["frame_indices"][0] == 1
    assert len(line["frame_indices"]) == 4
    assert len(vid.frames) == 4
    raw = line["editscore"][0]["SC_raw_output"]
    assert raw == (SC_RAW if backbone == "fake_vllm" else "")
    man = build_manifest(plan.stage_counts(), configs)["stages"]["edited_video_score"]
    assert man["config"]["backbone"] == backbone
    assert (man["config"]["score_range"], man["config"]["num_pass"]) == (25, 4)
    assert set(man["models"]) == {"Qwen/Qwen2.5-VL-7B-Instruct", "EditScore/EditScore-7B"}


def test_editscore_output_parsing_on_recorded_strings() -> None:
    from sparkle_data.regen.models.editscore import frame_scores, image_scores, raw_scores

    sid = "Sparkle_location_000001"
    assert raw_scores(SC_RAW) == [23.0, 21.0]
    assert raw_scores(PQ_RAW) == [20.0]
    assert raw_scores("The image is good. 8/10") is None
    ok = {"prompt_following": np.float64(9.7), "consistency": 8.8, "perceptual_quality": 8.5,
          "overall": np.float64(8.62887857991077), "SC_reasoning": "a", "PQ_reasoning": "b"}
    got = image_scores(ok, sample_id=sid)
    assert type(got["overall"]) is float
    assert got["overall"] == 8.62887857991077
    json.dumps(got)
    guessed = dict(ok, SC_reasoning="guess_if_cannot_parse | I think it is fine")
    with pytest.raises(EditScoreParseError) as info:
        image_scores(guessed, sample_id=sid)
    assert info.value.raw == "I think it is fine"
    with pytest.raises(EditScoreParseError, match="overall"):
        image_scores(dict(ok, overall=12.5), sample_id=sid)
    entry = {"SC_score": 9.0, "PQ_score": 8.5, "O_score": 8.719958110896453,
             "SC_score_reasoning": "r", "PQ_score_reasoning": "r", "SC_raw_output": SC_RAW,
             "PQ_raw_output": PQ_RAW}
    assert frame_scores(entry, sample_id=sid, score_range=25)["O_score"] == 8.719958110896453
    with pytest.raises(EditScoreParseError, match="no \"score\" list") as info:
        frame_scores(dict(entry, PQ_raw_output="Quality: good"), sample_id=sid, score_range=25)
    assert info.value.raw == "Quality: good"
    with pytest.raises(EditScoreParseError):
        frame_scores(dict(entry, SC_raw_output='{"score": [30, 2]}'), sample_id=sid,
                     score_range=25)


def test_editscore_config_and_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sparkle_data.errors import MissingExtraError
    from sparkle_data.regen.models.editscore import EditScoreConfig, load_editscore

    with pytest.raises(ValueError, match="backbone"):
        EditScoreConfig(backbone="gpt-5")
    with pytest.raises(ValueError, match="num_pass"):
        EditScoreConfig(num_pass=0)
    cfg = dataclasses.replace(EditScoreConfig(), device="cpu")
    monkeypatch.setitem(sys.modules, "editscore", None)  # not installed, wherever this runs
    with pytest.raises(MissingExtraError, match=r"sparkle-data\[regen-editscore\]"):
        load_editscore(cfg)


def test_real_editscore_package_over_loopback(tmp_path: Path) -> None:
    """The real ``editscore`` package (its evaluate, parser and score maths) through its
    OpenAI backbone against a loopback server answering in EditScore's format. CI installs
    ``editscore`` (without its torchvision dependency) and sets ``SPARKLE_REQUIRE_EDITSCORE``,
    so there this test runs, never skips."""
    if os.environ.get("SPARKLE_REQUIRE_EDITSCORE"):
        import editscore  # noqa: F401
    else:
        pytest.importorskip("editscore")
    from PIL import Image

    from sparkle_data.regen.models.editscore import EditScoreConfig, image_scores, load_editscore
    from sparkle_data.testing._loopback import LoopbackHTTPServer, QuietHandler, serving

    answers = {"text": ""}

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            images = sum(c.get("type") == "image_url" for c in body["messages"][0]["content"])
            text = answers["text"] or (SC_RAW if images == 2 else PQ_RAW)
            out = json.dumps({"choices": [{"message": {"content": text}}]}).encode()
            self.send_head(
                200, {"Content-Type": "application/json", "Content-Length": str(len(out))}
            )
            self.wfile.write(out)

    with serving(LoopbackHTTPServer(("127.0.0.1", 0), Handler)) as base:
        key = tmp_path / "key"
        key.write_text("sk-local\n")
        url = f"{base}/v1/chat/completions"
        cfg = EditScoreConfig(backbone="openai", model="editscore-7b", device="cpu",
                              openai_url=url, key_file=str(key))
        scorer = load_editscore(cfg)
        img = Image.new("RGB", (64, 64))
        sid = "Sparkle_location_000001"
        got = image_scores(scorer.evaluate([img, img], "Make it snow."), sample_id=sid)
        assert (got["prompt_following"], got["consistency"]) == (9.2, 8.4)
        assert got["perceptual_quality"] == 8.0
        assert got["overall"] == pytest.approx((min(9.2, 8.4) * 8.0) ** 0.5)
        answers["text"] = "The edit looks fine to me."
        with pytest.raises(EditScoreParseError) as info:
            image_scores(scorer.evaluate([img, img], "Make it snow."), sample_id=sid)
        assert info.value.raw == "The edit looks fine to me."


@pytest.mark.slow
def test_ray_runner_writes_and_merges_a_record_stage(
    pristine: Path, qwen: dict[str, Path], tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    from sparkle_data.regen.ray_runner import run_ray

    ids = _ids(pristine)[:2]
    root = _without(pristine, tmp_path, ("foreground_grounding_r1",), ids)
    plan = plan_regen(root, ["foreground_grounding_r1"])
    ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    try:
        rep = run_ray(plan, workers=1, configs=_grounding(qwen["boxes"]), progress=False)
    finally:
        ray.shutdown()
    assert rep.ok, rep.format()
    assert rep.records == {record_path("location", "foreground_grounding_r1"): 2}
    recs = load_grounding_r1(root / record_path("location", "foreground_grounding_r1"))
    assert {r.sample_id for r in recs} >= set(ids)
    assert plan_regen(root, ["foreground_grounding_r1"]).items == ()


def test_editscore_extra_is_kept_out_of_dev() -> None:
    """``dev`` (what CI installs) must not reach ``editscore``: its unbounded torchvision
    would replace the CPU torch (the resolution itself is checked by .ci/run)."""
    import re

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]

    def reach(name: str) -> set[str]:
        out: set[str] = set()
        for req in extras[name]:
            inner = re.fullmatch(r"sparkle-data\[([^\]]+)\]", req)
            if inner:
                for sub in inner.group(1).split(","):
                    out |= reach(sub.strip())
            else:
                out.add(re.split(r"[<>=\[; ]", req, maxsplit=1)[0].lower())
        return out

    assert "editscore" in reach("regen-editscore")
    for extra in ("dev", "regen", "regen-models"):
        assert not reach(extra) & {"editscore", "torchvision"}, extra


@pytest.mark.slow
def test_a_chain_runs_stage_by_stage_switching_models_once_per_stage(
    pristine: Path, qwen: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLUX edit -> Qwen3-VL round 1 -> FLUX removal on two samples: the worker switches
    models twice (FLUX -> Qwen -> FLUX), freeing GPU memory each time, not per sample."""
    pytest.importorskip("diffusers")
    from sparkle_data.regen.models import common
    from sparkle_data.regen.models.flux import FluxEditConfig, FluxRemoveConfig
    from sparkle_data.testing.tiny_models import save_tiny_flux2_klein

    ids = _ids(pristine)[1:]
    root = _without(pristine, tmp_path, ("foreground_grounding_r1",), ids)
    for a in ("edited_frame0", "edited_frame0_foreground_removed"):  # only the preview's stay
        for shard in root.glob(f"intermediate_data/location_{a}_part*.tar"):
            shard.unlink()
    flux = save_tiny_flux2_klein(tmp_path / "flux")
    plan = plan_regen(root, ["edited_frame0_foreground_removed"], ids=ids)
    assert {it.stages for it in plan.items} == {
        ("edited_frame0", "foreground_grounding_r1", "edited_frame0_foreground_removed")
    }
    f = {"model": str(flux), "steps": 1, "text_encoder_layers": "1,2,3",
         "max_sequence_length": 32, **CPU}
    configs = {**_grounding(qwen["boxes"]), "edited_frame0": FluxEditConfig(**f),
               "edited_frame0_foreground_removed": FluxRemoveConfig(**f)}
    common.cached_model(("test", "reset"), lambda: None)  # start from a known resident model
    frees: list[int] = []
    monkeypatch.setattr(common, "free_memory", lambda: frees.append(1))
    report = run_local(plan, workers=1, configs=configs, progress=False)
    assert report.ok, report.format()
    assert len(frees) == 3  # reset -> FLUX -> Qwen3-VL -> FLUX
    # the runner's per-stage warm-up keeps a name, not the model (which would keep a
    # replaced model's GPU memory alive)
    from sparkle_data.regen.registry import get_stage

    assert get_stage("edited_frame0").load_model is not None
    assert get_stage("edited_frame0").load_model(configs["edited_frame0"]) == "edited_frame0"
    assert report.records == {record_path("location", "foreground_grounding_r1"): 2}
