"""Run one :class:`~.planner.WorkItem`: read inputs, run its stages, validate, write.

Shared by both runners, so local and Ray runs write the same bytes. Each output is checked by
:func:`~.validate.validate_output` and written atomically (temp sibling, fsync, rename): a
file under its final name is a finished, valid one, and a rerun skips it. A failing sample
is retried ``retries`` times, then reported with its reason; it never stops the others.
"""

from __future__ import annotations

import functools
import json
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkle_data.errors import IntegrityError
from sparkle_data.io import fs as sfs
from sparkle_data.io.atomic import TEMP_MARK, atomic_write_bytes
from sparkle_data.readers.video import probe_video
from sparkle_data.regen.config import StageConfig
from sparkle_data.regen.pack import staged_path
from sparkle_data.regen.planner import InputRef, WorkItem, out_path
from sparkle_data.regen.registry import get_stage
from sparkle_data.regen.stage import SampleInputs
from sparkle_data.regen.validate import ExpectedShape, validate_output

__all__ = ["ItemResult", "RunContext", "read_input", "run_item"]


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "ok": self.ok,
            "written": list(self.written),
            "skipped": list(self.skipped),
            "seconds": dict(self.seconds),
            "attempts": self.attempts,
            "error": self.error,
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
        )


@functools.lru_cache(maxsize=8)
def _resolve(root: str) -> tuple[Any, str]:
    return sfs.resolve(root)


def read_input(ref: InputRef, root: str, out: str) -> bytes:
    """The bytes an :class:`InputRef` points at (length-checked for shard members)."""
    if ref.where == "out" and ref.offset is None:
        return (Path(out) / ref.path).read_bytes()
    if ref.where == "out":  # a member of a shard a pack run wrote
        where = str(Path(out) / ref.path)
        with open(where, "rb") as f:
            f.seek(ref.offset or 0)
            data = f.read(ref.size or 0)
    else:
        fs, base = _resolve(root)
        where = sfs.join(base, ref.path)
        with sfs.open_binary(where, fs=fs) as f:
            if ref.offset is None:
                return f.read()
            f.seek(ref.offset)
            data = f.read(ref.size or 0)
    if len(data) != ref.size:
        raise IntegrityError.invalid(
            "member size",
            len(data),
            rule=f"expected {ref.size} bytes at {ref.offset} (truncated shard?)",
            path=where,
        )
    return data


_MODELS: dict[str, Any] = {}
"""Models loaded in this process, by stage name (one load per worker or actor)."""


def _model(stage_name: str, ctx: RunContext) -> Any:
    stage = get_stage(stage_name)
    if stage.load_model is None:
        return None
    if stage_name not in _MODELS:
        _MODELS[stage_name] = stage.load_model(ctx.config(stage_name))
    return _MODELS[stage_name]


def _attempt(item: WorkItem, ctx: RunContext, result: ItemResult) -> None:
    arts: dict[str, bytes] = {r.artifact: read_input(r, ctx.root, ctx.out) for r in item.inputs}
    if "source_video" not in arts:
        raise ValueError(f"Invalid work item {item.sample_id}: no source_video to size outputs.")
    info = probe_video(arts["source_video"], sample_id=item.sample_id)
    expected = ExpectedShape(info.num_frames, info.height, info.width)
    records: dict[str, Any] = {} if item.prompt is None else {"prompt": item.prompt}
    records.update((name, json.loads(line)) for name, line in item.records)
    for name in item.stages:
        stage = get_stage(name)
        target = staged_path if ctx.pack else out_path
        targets = {a: target(ctx.out, item.sample_id, a) for a in stage.outputs}
        if all(p.is_file() for p in targets.values()):
            for a, p in targets.items():
                arts[a] = p.read_bytes()
                if a not in result.skipped:
                    result.skipped.append(a)
            continue
        for p in targets.values():  # temp files a killed run left (they never count as done)
            if p.parent.is_dir():
                for stale in p.parent.glob(f".{p.name}{TEMP_MARK}*"):
                    stale.unlink(missing_ok=True)
        if stage.run is None:
            raise RuntimeError(f"stage {name} is not available in this release")
        t0 = time.perf_counter()
        inputs = SampleInputs(
            item.sample_id,
            item.edit_type,
            {a: arts[a] for a in (*stage.inputs, "source_video") if a in arts},
            records,
        )
        produced = stage.run(inputs, ctx.config(name), _model(name, ctx))
        if set(produced) != set(stage.outputs):
            raise RuntimeError(
                f"stage {name} returned {sorted(produced)}, declared {list(stage.outputs)}"
            )
        for a in stage.outputs:
            validate_output(a, produced[a], expected, sample_id=item.sample_id)
        for a in stage.outputs:
            atomic_write_bytes(targets[a], produced[a])
            arts[a] = produced[a]
            result.written.append(a)
        result.seconds[name] = result.seconds.get(name, 0.0) + time.perf_counter() - t0


def run_item(item: WorkItem, ctx: RunContext) -> ItemResult:
    """Run ``item``'s stages (retrying), never raising for a sample's own failure."""
    result = ItemResult(item.sample_id, ok=False)
    for attempt in range(1 + max(0, ctx.retries)):
        result.attempts = attempt + 1
        try:
            _attempt(item, ctx, result)
        except Exception as e:  # a sample's failure is reported, never fatal
            last = traceback.extract_tb(e.__traceback__)[-1:]
            at = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
            result.error = f"{type(e).__name__}: {e}{at}"
            continue
        result.ok = True
        result.error = None
        break
    return result
