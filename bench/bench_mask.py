"""Mask NPZ reading: the card's ``load_mask`` (baseline) vs :func:`read_mask`, one run.

Builds 81x720x1280 masks shaped like BAIT tracks (one moving, wobbling foreground blob),
stores each as ``np.savez_compressed`` (what the pipeline wrote) and ``np.savez`` (stored),
then times, on the same files in the same process:

* ``card``: the dataset card's ``load_mask(path)`` (``np.load`` + ``unpackbits`` + ``astype``);
* ``read_mask``: all frames (CRC checked);
* ``read_mask 4 spread``: frames ``[0, 27, 54, 80]`` (deflate must still inflate up to 80);
* ``read_mask 4 first``: frames ``[0, 1, 2, 3]``;
* ``read_mask (stdlib zlib)``: all frames with the inflate backend forced to ``zlib``.

Medians over ``--repeat`` runs (interleaved), ratios against ``card``; printed and written to
``bench/results/mask.json`` with the machine description. Compare ratios, not absolute times:
the machine is shared and noisy.

    python bench/bench_mask.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _machine import machine_info

from sparkle_data.readers import mask as mask_module
from sparkle_data.readers.mask import INFLATE_BACKEND, read_mask

T, H, W = 81, 720, 1280
RESULTS = Path(__file__).resolve().parent / "results" / "mask.json"


def load_mask(mask_path: str) -> np.ndarray:  # type: ignore[type-arg]
    """The dataset card's helper, verbatim."""
    data = np.load(mask_path)
    packed_mask = data["mask"]
    shape = tuple(int(s) for s in data["shape"])
    total = shape[0] * shape[1] * shape[2]
    video_mask = np.unpackbits(packed_mask)[:total].reshape(shape).astype(bool)
    return video_mask  # noqa: RET504 (verbatim)


def blob_mask(seed: int = 0) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    m = np.empty((T, H, W), dtype=bool)
    cx, cy = 500.0, 380.0
    for t in range(T):
        cx += rng.normal(4, 2)
        cy += rng.normal(0, 2)
        rx = 180 + 20 * np.sin(t / 7)
        ry = 280 + 15 * np.cos(t / 5)
        edge = rng.normal(0, 0.03, size=(H, W)) * (np.abs(((xx - cx) / rx) ** 2 - 1) < 0.2)
        m[t] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 + edge < 1
    return m


def machine() -> dict[str, Any]:
    return machine_info(
        numpy=np.__version__,
        inflate_backend=INFLATE_BACKEND,
        zlib=zlib.ZLIB_RUNTIME_VERSION,
    )


def with_stdlib_zlib(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        saved = mask_module._zlib
        mask_module._zlib = zlib
        try:
            return fn()
        finally:
            mask_module._zlib = saved

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    m = blob_mask()
    spread, first = [0, 27, 54, 80], [0, 1, 2, 3]
    results: dict[str, Any] = {"machine": machine(), "shape": [T, H, W], "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for label, save in (("savez_compressed", np.savez_compressed), ("savez", np.savez)):
            path = os.path.join(tmp, f"{label}.npz")
            save(path, mask=np.packbits(m), shape=m.shape)
            # Correctness first: every variant must equal the card's helper.
            oracle = load_mask(path)
            assert np.array_equal(read_mask(path), oracle)
            assert np.array_equal(read_mask(path, frames=spread), oracle[spread])
            assert np.array_equal(read_mask(path, frames=first), oracle[first])

            cases: dict[str, Callable[[], object]] = {
                "card load_mask": lambda p=path: load_mask(p),
                "read_mask all": lambda p=path: read_mask(p),
                "read_mask 4 spread": lambda p=path: read_mask(p, frames=spread),
                "read_mask 4 first": lambda p=path: read_mask(p, frames=first),
            }
            if INFLATE_BACKEND != "zlib":
                cases["read_mask all (stdlib zlib)"] = with_stdlib_zlib(lambda p=path: read_mask(p))
                cases["read_mask 4 spread (stdlib zlib)"] = with_stdlib_zlib(
                    lambda p=path: read_mask(p, frames=spread)
                )
            times: dict[str, list[float]] = {k: [] for k in cases}
            for _ in range(args.repeat):  # interleaved, so drift hits every case alike
                for k, fn in cases.items():
                    t0 = time.perf_counter()
                    fn()
                    times[k].append(time.perf_counter() - t0)
            base = statistics.median(times["card load_mask"])
            rows = {}
            print(f"\n{label}: {os.path.getsize(path) / 1e6:.2f} MB, backend {INFLATE_BACKEND}")
            for k, ts in times.items():
                med = statistics.median(ts)
                rows[k] = {
                    "median_ms": round(med * 1e3, 3),
                    "speedup_vs_card": round(base / med, 2),
                }
                print(f"  {k:34s} {med * 1e3:8.2f} ms   x{base / med:6.2f}")
            results["files"][label] = {"bytes": os.path.getsize(path), "cases": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()
