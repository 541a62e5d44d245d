"""Run an export's units: in this process, in a thread pool, or as Ray tasks.

A unit is a small picklable object with a ``key`` and a ``run(out) -> UnitResult`` method
(one output file or shard, see :mod:`._plan`). Each unit writes its own files and depends
on nothing but its own fields, so the output is the same whatever runs it, in whatever order:
the engines only differ in where ``run`` executes. Results are yielded as units finish.

* ``engine="local"``: ``workers=1`` runs the units one by one in this process; more workers
  run them in a thread pool (reading, hashing, tar writing and PyAV coding release the GIL).
* ``engine="ray"``: one Ray task per unit (``num_cpus=1``), at most ``2 * workers`` in
  flight. Ray must be installed (``pip install "sparkle-data[ray]"``); a running Ray is used
  as it is, otherwise ``ray.init()`` starts a local one. Every worker writes under ``out``
  itself, so on a multi-node cluster ``out`` must be a shared filesystem path.

The first failing unit stops the run: no new unit starts, running ones finish (their results
are still yielded, so they are journaled), and then the first error is raised.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from sparkle_data.export._plan import ENGINES, Engine, Unit, UnitResult, default_workers

__all__ = ["run_units"]


def _check(engine: str, workers: int | None) -> int:
    if engine not in ENGINES:
        raise ValueError(f"Invalid engine {engine!r}: must be one of {', '.join(ENGINES)}.")
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"Invalid workers {workers!r}: must be an int >= 1.")
    return workers


def run_units(
    units: Sequence[Unit], out: Path, *, engine: Engine = "local", workers: int | None = None
) -> Iterator[UnitResult]:
    """Run every unit (see the module doc); yields each result as its unit finishes."""
    n = _check(engine, workers)
    if not units:
        return iter(())
    if engine == "ray":
        return _run_ray(units, out, n)
    if n == 1:
        return (u.run(out) for u in units)
    return _run_threads(units, out, n)


def _run_threads(units: Sequence[Unit], out: Path, workers: int) -> Iterator[UnitResult]:
    todo = iter(units)
    window = 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sparkle-export") as pool:
        running: set[Future[UnitResult]] = set()

        def fill() -> None:
            while len(running) < window:
                unit = next(todo, None)
                if unit is None:
                    return
                running.add(pool.submit(unit.run, out))

        error: BaseException | None = None
        fill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                running.discard(fut)
                exc = fut.exception()
                if exc is None:
                    yield fut.result()
                elif error is None:
                    error = exc
            if error is None:
                fill()
        if error is not None:
            raise error


def _ray_run(unit: Unit, out: str) -> UnitResult:
    return unit.run(Path(out))


def _run_ray(units: Sequence[Unit], out: Path, workers: int) -> Iterator[UnitResult]:
    try:
        ray: Any = importlib.import_module("ray")  # optional: not a dependency, not typed here
    except ImportError as e:
        raise ImportError(
            'engine="ray" needs Ray: pip install "sparkle-data[ray]" (or pip install ray)'
        ) from e
    if not ray.is_initialized():
        ray.init()
    remote: Any = ray.remote(num_cpus=1)(_ray_run)
    todo = iter(units)
    window = 2 * workers
    running: list[Any] = []
    error: BaseException | None = None
    while True:
        while error is None and len(running) < window:
            unit = next(todo, None)
            if unit is None:
                break
            running.append(remote.remote(unit, str(out)))
        if not running:
            break
        ready, running = ray.wait(running, num_returns=1)
        for ref in ready:
            try:
                result = ray.get(ref)
            except Exception as e:  # a RayTaskError is also an instance of the cause's type
                error = error or e
                continue
            yield result
    if error is not None:
        raise error
