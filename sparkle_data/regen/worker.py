"""Run one :class:`~.planner.WorkItem`: read inputs, run its stages, validate, write.

Shared by both runners, so local and Ray runs write the same bytes. Each output is checked by
:func:`~.validate.validate_output` and written atomically (temp sibling, fsync, rename): a
file under its final name is a finished, valid one, and a rerun skips it. A failing sample
is retried ``retries`` times, then reported with its reason (and, for a model answer that
does not parse, the raw answer); it never stops the others. A record stage's line goes to
its part file (:mod:`.records`), merged into the record file when the run ends.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkle_data.io import fs as sfs
from sparkle_data.io.atomic import TEMP_MARK, atomic_write_bytes
from sparkle_data.io.source import read_range
from sparkle_data.readers.video import probe_video
from sparkle_data.regen.config import StageConfig
from sparkle_data.regen.pack import staged_path
from sparkle_data.regen.planner import InputRef, WorkItem, out_path
from sparkle_data.regen.records import record_part_path, validate_record_line
from sparkle_data.regen.registry import get_stage
from sparkle_data.regen.stage import SampleInputs, Stage, StageFn
from sparkle_data.regen.validate import ExpectedShape, validate_output

__all__ = ["ItemResult", "RunContext", "read_input", "run_item", "run_items"]


@dataclass(frozen=True)
class RunContext:
    """What every worker needs besides the item (picklable; sent once per worker)."""

    root: str
    out: str
    configs: Mapping[str, StageConfig] = field(default_factory=dict)
    """Config per stage name; stages not listed use their default."""
    retries: int = 1
    pack: bool = False
    """Write outputs to the staging folder (:mod:`.pack`), to be packed into shards."""

    def config(self, stage: str) -> StageConfig:
        return self.configs.get(stage) or get_stage(stage).config


@dataclass
class ItemResult:
    """What happened to one sample."""

    sample_id: str
    ok: bool
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Outputs found already written (a resumed run)."""
    seconds: dict[str, float] = field(default_factory=dict)
    attempts: int = 0
    error: str | None = None
    raw_output: str | None = None
    """What a model answered when the answer did not parse (``ModelOutputError.raw``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "ok": self.ok,
            "written": list(self.written),
            "skipped": list(self.skipped),
            "seconds": dict(self.seconds),
            "attempts": self.attempts,
            "error": self.error,
            "raw_output": self.raw_output,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemResult:
        return cls(
            str(d["sample_id"]),
            bool(d["ok"]),
            list(d["written"]),
            list(d["skipped"]),
            {str(k): float(v) for k, v in dict(d["seconds"]).items()},
            int(d["attempts"]),
            None if d["error"] is None else str(d["error"]),
            None if d.get("raw_output") is None else str(d["raw_output"]),
        )


def read_input(ref: InputRef, root: str, out: str) -> bytes:
    """The bytes an :class:`InputRef` points at (length-checked for shard members)."""
    if ref.where == "out":  # a loose output, or a member of a shard a pack run wrote
        path = Path(out) / ref.path
        if ref.offset is None:
            return path.read_bytes()
        return read_range(path, ref.offset, ref.size or 0)
    fs, base = sfs.resolve_once(root)
    where = sfs.join(base, ref.path)
    if ref.offset is None:
        with sfs.open_binary(where, fs=fs) as f:
            return f.read()
    return read_range(where, ref.offset, ref.size or 0, fs=fs)


_MODELS: dict[str, Any] = {}
"""Models loaded in this process, by stage name (one load per worker or actor)."""


def _model(stage_name: str, ctx: RunContext) -> Any:
    stage = get_stage(stage_name)
    if stage.load_model is None:
        return None
    if stage_name not in _MODELS:
        _MODELS[stage_name] = stage.load_model(ctx.config(stage_name))
    return _MODELS[stage_name]


def _target(ctx: RunContext, sample_id: str, output: str, record: str | None) -> Path:
    if record is not None:
        return record_part_path(ctx.out, sample_id, record)
    return (staged_path if ctx.pack else out_path)(ctx.out, sample_id, output)


@dataclass
class _Sample:
    """One item in flight: its result so far and what its stages have read or made."""

    item: WorkItem
    result: ItemResult
    arts: dict[str, bytes]
    records: dict[str, Any]
    expected: ExpectedShape | None
    """The source video's size, which artifact outputs must have (``None``: no source video;
    record stages need none)."""

    def inputs(self, stage: Stage) -> SampleInputs:
        names = (*stage.inputs, "source_video")
        return SampleInputs(
            self.item.sample_id,
            self.item.edit_type,
            {a: self.arts[a] for a in names if a in self.arts},
            self.records,
        )

    def keep(self, stage: Stage, output: str, data: bytes) -> None:
        """Make a stage's output visible to the item's later stages."""
        if stage.record is None:
            self.arts[output] = data
        else:
            self.records[stage.record] = json.loads(data)

    def done(self, stage: Stage, ctx: RunContext) -> bool:
        """Whether ``stage``'s outputs are already written (then they are loaded); clears
        the temp files a killed run left (they never count as done)."""
        sid = self.item.sample_id
        targets = {a: _target(ctx, sid, a, stage.record) for a in stage.outputs}
        if all(p.is_file() for p in targets.values()):
            for a, p in targets.items():
                self.keep(stage, a, p.read_bytes())
                if a not in self.result.skipped:
                    self.result.skipped.append(a)
            return True
        for p in targets.values():
            if p.parent.is_dir():
                for stale in p.parent.glob(f".{p.name}{TEMP_MARK}*"):
                    stale.unlink(missing_ok=True)
        return False

    def commit(
        self, stage: Stage, produced: Mapping[str, bytes], ctx: RunContext, seconds: float
    ) -> None:
        """Validate and atomically write what ``stage`` produced for this item."""
        sid = self.item.sample_id
        if set(produced) != set(stage.outputs):
            raise RuntimeError(
                f"stage {stage.name} returned {sorted(produced)}, declared {list(stage.outputs)}"
            )
        for a in stage.outputs:
            if stage.record is None:
                if self.expected is None:
                    raise ValueError(f"Invalid work item {sid}: no source_video to size {a}.")
                validate_output(a, produced[a], self.expected, sample_id=sid)
            else:
                validate_record_line(a, produced[a], sample_id=sid)
        for a in stage.outputs:
            atomic_write_bytes(_target(ctx, sid, a, stage.record), produced[a])
            self.keep(stage, a, produced[a])
            self.result.written.append(a)
        self.result.seconds[stage.name] = self.result.seconds.get(stage.name, 0.0) + seconds


def _prepare(item: WorkItem, ctx: RunContext, result: ItemResult) -> _Sample:
    arts: dict[str, bytes] = {r.artifact: read_input(r, ctx.root, ctx.out) for r in item.inputs}
    expected = None
    if "source_video" in arts:
        info = probe_video(arts["source_video"], sample_id=item.sample_id)
        expected = ExpectedShape(info.num_frames, info.height, info.width)
    records: dict[str, Any] = {} if item.prompt is None else {"prompt": item.prompt}
    records.update((name, json.loads(line)) for name, line in item.records)
    return _Sample(item, result, arts, records, expected)


def _runnable(stage: Stage) -> StageFn:
    if stage.run is None:
        raise RuntimeError(f"stage {stage.name} is not available in this release")
    return stage.run


def _fail(result: ItemResult, e: BaseException) -> None:
    last = traceback.extract_tb(e.__traceback__)[-1:]
    at = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    result.error = f"{type(e).__name__}: {e}{at}"
    raw = getattr(e, "raw", None)
    result.raw_output = raw if isinstance(raw, str) else None


def run_item(item: WorkItem, ctx: RunContext) -> ItemResult:
    """Run one item's stages (retrying), never raising for the sample's own failure: one
    item of :func:`run_items`."""
    return run_items([item], ctx)[0]


def _stage_order(items: Sequence[WorkItem]) -> list[str]:
    """Every stage of ``items`` once, each after the stages any item runs before it."""
    after: dict[str, set[str]] = {}
    for it in items:
        for k, name in enumerate(it.stages):
            after.setdefault(name, set()).update(it.stages[:k])
    order: list[str] = []
    while after:
        ready = next(n for n, deps in after.items() if deps <= set(order))
        order.append(ready)
        del after[ready]
    return order


def _batch_size(stage: Stage, config: StageConfig) -> int:
    size = getattr(config, "batch_size", 1) if stage.run_batch is not None else 1
    return max(1, int(size))


def _run_stage(
    stage: Stage, todo: list[_Sample], ctx: RunContext, failed: dict[str, BaseException]
) -> None:
    """``stage`` over ``todo``: ``run_batch`` on ``batch_size`` samples at a time, else
    ``run`` per sample; a sample that fails is recorded in ``failed``."""
    config = ctx.config(stage.name)
    size = _batch_size(stage, config)
    for i in range(0, len(todo), size):
        chunk = todo[i : i + size]
        t0 = time.perf_counter()
        outs: list[Mapping[str, bytes] | BaseException] = []
        try:
            model = _model(stage.name, ctx)
            if stage.run_batch is not None and size > 1:
                outs = list(stage.run_batch([s.inputs(stage) for s in chunk], config, model))
            else:
                run = _runnable(stage)
                for s in chunk:
                    try:
                        outs.append(run(s.inputs(stage), config, model))
                    except Exception as e:  # this sample only
                        outs.append(e)
        except Exception as e:  # the model or the whole batch: every sample of it
            outs = [e] * len(chunk)
        share = (time.perf_counter() - t0) / len(chunk)
        for s, out in zip(chunk, outs, strict=True):
            if isinstance(out, BaseException):
                failed[s.item.sample_id] = out
                continue
            try:
                s.commit(stage, out, ctx, share)
            except Exception as e:
                failed[s.item.sample_id] = e


def _pass(
    items: Sequence[WorkItem], ctx: RunContext, results: Mapping[str, ItemResult]
) -> dict[str, BaseException]:
    """One stage-by-stage pass over ``items``; what failed, by sample id."""
    failed: dict[str, BaseException] = {}
    samples: list[_Sample] = []
    for it in items:
        try:
            samples.append(_prepare(it, ctx, results[it.sample_id]))
        except Exception as e:
            failed[it.sample_id] = e
    for name in _stage_order(items):
        stage = get_stage(name)
        todo = [
            s
            for s in samples
            if name in s.item.stages and s.item.sample_id not in failed and not s.done(stage, ctx)
        ]
        if todo:
            _run_stage(stage, todo, ctx, failed)
    return failed


def run_items(items: Sequence[WorkItem], ctx: RunContext) -> list[ItemResult]:
    """Run ``items`` stage by stage: each stage runs over every item that needs it before
    the next stage starts, so a worker switches models once per stage (not per sample) and
    model stages with a ``run_batch`` get ``batch_size`` samples per call. The samples that
    failed run again, ``ctx.retries`` times, resuming from what they already wrote; a
    sample's failure is reported in its result, never raised."""
    results = {it.sample_id: ItemResult(it.sample_id, ok=False) for it in items}
    todo = list(items)
    for attempt in range(1 + max(0, ctx.retries)):
        if not todo:
            break
        failed = _pass(todo, ctx, results)
        for it in todo:
            res = results[it.sample_id]
            res.attempts = attempt + 1
            error = failed.get(it.sample_id)
            if error is None:
                res.ok, res.error, res.raw_output = True, None, None
            else:
                _fail(res, error)
        todo = [it for it in todo if it.sample_id in failed]
    return [results[it.sample_id] for it in items]
