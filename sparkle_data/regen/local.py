"""The local runner: a process pool for CPU stages, one worker per visible GPU for GPU stages.

Each worker process runs :func:`~.worker.run_items` on chunks of samples. For plans with a GPU
stage, ``workers`` defaults to the number of visible GPUs and worker ``k`` gets
``CUDA_VISIBLE_DEVICES`` = the ``k``-th of them before anything imports torch. Under
torchrun/SLURM each rank runs its own share (:mod:`.sharding`) and writes its own report.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from tqdm import tqdm

from sparkle_data.regen.config import StageConfig
from sparkle_data.regen.pack import DEFAULT_SHARD_BYTES, pack_staged, record_first_parts
from sparkle_data.regen.planner import Plan, WorkItem
from sparkle_data.regen.records import merge_records
from sparkle_data.regen.registry import get_stage
from sparkle_data.regen.report import RunReport
from sparkle_data.regen.sharding import detect_rank, shard, visible_gpus
from sparkle_data.regen.worker import ItemResult, RunContext, run_items

__all__ = ["chunks", "finish_run", "needs_gpu", "prepare_run", "run_local"]


def needs_gpu(
    items: Sequence[WorkItem], configs: Mapping[str, StageConfig] | None = None
) -> bool:
    """Whether a GPU stage runs; a model stage configured with ``device="cpu"`` does not."""
    cfgs = configs or {}

    def on_gpu(name: str) -> bool:
        stage = get_stage(name)
        device = getattr(cfgs.get(name) or stage.config, "device", "cuda")
        return stage.device == "gpu" and device != "cpu"

    return any(on_gpu(s) for it in items for s in it.stages)


def prepare_run(
    plan: Plan,
    *,
    configs: Mapping[str, StageConfig] | None,
    retries: int,
    rank: int | None,
    world: int | None,
) -> tuple[list[WorkItem], RunContext, int, int]:
    """This rank's items and the worker context (shared by both runners)."""
    if rank is None or world is None:
        rank, world = detect_rank()
    # Deal the *selection*, not the items: a rank that plans after another finished some
    # samples sees fewer items, but every sample keeps the same owner.
    mine = set(shard(sorted(plan.selected), rank, world))
    items = sorted((it for it in plan.items if it.sample_id in mine), key=lambda it: it.sample_id)
    ctx = RunContext(plan.root, plan.out, dict(configs or {}), retries, pack=plan.pack)
    return items, ctx, rank, world


def finish_run(
    plan: Plan, report: RunReport, *, shard_bytes: int, progress: bool, started: float
) -> RunReport:
    """End a run (shared by both runners): sort the results, merge the record lines the
    run wrote (:func:`~.records.merge_records`), pack the staged outputs of a ``pack`` plan
    (under several ranks each rank only stages; ``sparkle-data regen pack OUT`` packs once
    all are done), and time it from ``started`` (``time.perf_counter()``)."""
    report.results.sort(key=lambda r: r.sample_id)
    report.records = merge_records(plan.out)
    if plan.pack and report.world > 1:
        record_first_parts(plan.out, plan.first_parts)
        report.pack = {"staged_only": True, "shards": [], "members": 0}
    elif plan.pack:
        report.pack = pack_staged(
            plan.out, shard_bytes=shard_bytes, progress=progress, first_parts=plan.first_parts
        ).to_dict()
    report.wall_seconds = time.perf_counter() - started
    return report


_GPU: list[str] = []


def _init_worker(queue: Any) -> None:
    gpu = queue.get() if queue is not None else None
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        _GPU.append(gpu)


def chunks(items: Sequence[WorkItem], size: int) -> list[list[WorkItem]]:
    """``items`` in runs of ``size``: what one worker call runs stage by stage."""
    return [list(items[i : i + max(1, size)]) for i in range(0, len(items), max(1, size))]


def _inline(items: Sequence[WorkItem], ctx: RunContext, size: int, report: RunReport,
            max_failures: int | None) -> Iterator[list[ItemResult]]:
    """Chunks run in this process; near the failure cap, no more samples than could still
    fail before it is reached."""
    i = 0
    while i < len(items):
        n = size if max_failures is None else min(size, max_failures + 1 - len(report.failed))
        yield run_items(items[i : i + max(1, n)], ctx)
        i += max(1, n)


def run_local(
    plan: Plan,
    *,
    workers: int | None = None,
    configs: Mapping[str, StageConfig] | None = None,
    retries: int = 1,
    max_failures: int | None = None,
    progress: bool = True,
    rank: int | None = None,
    world: int | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    chunk: int = 8,
) -> RunReport:
    """Run ``plan`` here; returns the run report (``report.write(plan.out)`` saves it).

    ``workers``: processes (default: the visible GPUs for a plan with a GPU stage, else
    ``os.cpu_count()``); 1 runs in this process. Each worker call runs ``chunk`` samples
    stage by stage (:func:`~.worker.run_items`: one model switch per stage, batched model
    calls). ``max_failures``: stop scheduling once more samples than this have failed
    (``None``: never stop). A ``pack`` plan's outputs are packed into shards of at most
    ``shard_bytes`` at the end (see :mod:`.pack`).
    """
    items, ctx, rank, world = prepare_run(
        plan, configs=configs, retries=retries, rank=rank, world=world
    )
    gpus = visible_gpus() if needs_gpu(items, configs) else []
    n = min(workers or len(gpus), len(gpus)) if gpus else max(1, workers or os.cpu_count() or 1)
    n = max(1, min(n, len(items) or 1))
    report = RunReport("local", n, rank, world)
    t0 = time.perf_counter()
    bar = tqdm(total=len(items), desc="regen", unit="sample", file=sys.stderr, disable=not progress)
    try:
        if n == 1 and not gpus:
            for done in _inline(items, ctx, chunk, report, max_failures):
                report.add(done)
                bar.update(len(done))
                if report.over_cap(max_failures, len(items)):
                    break
        else:
            mp = multiprocessing.get_context("spawn")
            queue: Any = None
            if gpus:
                queue = mp.Queue()
                for g in gpus[:n]:
                    queue.put(g)
            with ProcessPoolExecutor(
                max_workers=n, mp_context=mp, initializer=_init_worker, initargs=(queue,)
            ) as pool:
                size = max(1, min(chunk, -(-len(items) // n)))  # every worker gets work
                futures: list[Future[list[ItemResult]]] = [
                    pool.submit(run_items, c, ctx) for c in chunks(items, size)
                ]
                for fut in as_completed(futures):
                    done = fut.result()
                    report.add(done)
                    bar.update(len(done))
                    if report.over_cap(max_failures, len(items)):
                        for f in futures:
                            f.cancel()
                        break
    finally:
        bar.close()
    return finish_run(plan, report, shard_bytes=shard_bytes, progress=progress, started=t0)
