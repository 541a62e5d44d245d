"""The local runner: a process pool for CPU stages, one worker per visible GPU for GPU stages.

Each worker process runs :func:`~.worker.run_item` on whole samples. For plans with a GPU
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
from sparkle_data.regen.registry import get_stage
from sparkle_data.regen.report import RunReport
from sparkle_data.regen.sharding import detect_rank, shard, visible_gpus
from sparkle_data.regen.worker import ItemResult, RunContext, run_item

__all__ = ["finish_pack", "needs_gpu", "prepare_run", "run_local"]


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


def finish_pack(
    plan: Plan, report: RunReport, *, shard_bytes: int, progress: bool
) -> None:
    """Pack the staged outputs of a ``pack`` plan (shared by both runners). Under several
    ranks each rank only stages; ``sparkle-data regen pack OUT`` packs once all are done."""
    if not plan.pack:
        return
    if report.world > 1:
        record_first_parts(plan.out, plan.first_parts)
        report.pack = {"staged_only": True, "shards": [], "members": 0}
        return
    report.pack = pack_staged(
        plan.out, shard_bytes=shard_bytes, progress=progress, first_parts=plan.first_parts
    ).to_dict()


_GPU: list[str] = []


def _init_worker(queue: Any) -> None:
    gpu = queue.get() if queue is not None else None
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        _GPU.append(gpu)


def _inline(items: Sequence[WorkItem], ctx: RunContext) -> Iterator[ItemResult]:
    for it in items:
        yield run_item(it, ctx)


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
) -> RunReport:
    """Run ``plan`` here; returns the run report (``report.write(plan.out)`` saves it).

    ``workers``: processes (default: the visible GPUs for a plan with a GPU stage, else
    ``os.cpu_count()``); 1 runs in this process. ``max_failures``: stop scheduling once more
    samples than this have failed (``None``: never stop). A ``pack`` plan's outputs are
    packed into shards of at most ``shard_bytes`` at the end (see :mod:`.pack`).
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
            results: Iterator[ItemResult] = _inline(items, ctx)
            for i, res in enumerate(results):
                report.add([res])
                bar.update(1)
                if max_failures is not None and len(report.failed) > max_failures:
                    report.aborted = f"more than {max_failures} samples failed"
                    report.not_run = len(items) - i - 1
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
                futures: list[Future[ItemResult]] = [pool.submit(run_item, it, ctx) for it in items]
                for fut in as_completed(futures):
                    report.add([fut.result()])
                    bar.update(1)
                    if max_failures is not None and len(report.failed) > max_failures:
                        report.aborted = f"more than {max_failures} samples failed"
                        report.not_run = sum(f.cancel() for f in futures)
                        break
    finally:
        bar.close()
    report.results.sort(key=lambda r: r.sample_id)
    finish_pack(plan, report, shard_bytes=shard_bytes, progress=progress)
    report.wall_seconds = time.perf_counter() - t0
    return report
