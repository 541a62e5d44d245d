"""The Ray runner: Ray Data ``map_batches`` over an actor pool, same outputs as ``local``.

Each actor is built once (``RegenActor.__init__``: one model load per actor for model
stages) and runs :func:`~.worker.run_items` on batches of items; GPU stages ask
``num_gpus=1`` per actor. Ray restarts crashed actors and retries their tasks; a sample's
own failure is retried by the worker and reported, never raised, so one bad sample never
fails a block. ``max_failures`` stops consuming results once exceeded.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm

from sparkle_data.regen.config import StageConfig
from sparkle_data.regen.local import finish_run, needs_gpu, prepare_run
from sparkle_data.regen.pack import DEFAULT_SHARD_BYTES
from sparkle_data.regen.planner import Plan, WorkItem
from sparkle_data.regen.report import RunReport
from sparkle_data.regen.worker import ItemResult, RunContext, run_items

__all__ = ["RegenActor", "run_ray"]


class RegenActor:
    """A Ray Data callable class: ``{"item": [json, ...]}`` -> ``{"result": [json, ...]}``."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[str]]:
        items = [WorkItem.from_dict(json.loads(str(text))) for text in batch["item"]]
        return {"result": [json.dumps(r.to_dict()) for r in run_items(items, self.ctx)]}


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ImportError(
            'runner="ray" needs Ray: pip install "sparkle-data[ray]" (or pip install ray)'
        ) from None


def run_ray(
    plan: Plan,
    *,
    workers: int = 2,
    configs: Mapping[str, StageConfig] | None = None,
    retries: int = 1,
    max_failures: int | None = None,
    progress: bool = True,
    batch_size: int = 8,
    rank: int | None = None,
    world: int | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> RunReport:
    """Run ``plan`` on Ray (a running cluster, or a local one started by ``ray.init()``).

    The actors write (or, for a ``pack`` plan, stage) the outputs; packing into shards runs
    here at the end, as in :func:`~.local.run_local`. ``batch_size``: items per actor call,
    run stage by stage (:func:`~.worker.run_items`).
    """
    ray = _ray()
    items, ctx, rank, world = prepare_run(
        plan, configs=configs, retries=retries, rank=rank, world=world
    )
    report = RunReport("ray", workers, rank, world)
    t0 = time.perf_counter()
    if not items:
        return finish_run(plan, report, shard_bytes=shard_bytes, progress=progress, started=t0)
    if not ray.is_initialized():
        ray.init()
    ds = ray.data.from_items([{"item": json.dumps(it.to_dict())} for it in items])
    ds = ds.map_batches(
        RegenActor,
        fn_constructor_kwargs={"ctx": ctx},
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
        num_gpus=1 if needs_gpu(items, configs) else 0,
        num_cpus=1,
    )
    bar = tqdm(total=len(items), desc="regen (ray)", unit="sample", file=sys.stderr,
               disable=not progress)
    try:
        for row in ds.iter_rows():
            report.add([ItemResult.from_dict(json.loads(row["result"]))])
            bar.update(1)
            if report.over_cap(max_failures, len(items)):
                break
    finally:
        bar.close()
    return finish_run(plan, report, shard_bytes=shard_bytes, progress=progress, started=t0)
