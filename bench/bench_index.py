"""Benchmark: tar member index vs ``tarfile`` on a synthetic Sparkle-shaped shard.

Builds a shard of ``--size-mb`` MB with ``--members`` members (sizes jittered around the mean,
data written as holes of a sparse file unless ``--random-data``) in a temporary folder, then
measures, in the same run (warm page cache; ratios are what matter on a shared machine):

* building the index by header hops (:func:`sparkle_data.io.index.build_index`) against
  ``tarfile.open().getmembers()`` and against ``tarfile`` streaming mode (``r|``) reading
  through the data, plus our own streaming :func:`iter_tar_files`;
* building the index over a loopback HTTP server (range requests per header hop);
* reading random members through the index (one ``pread``) against
  ``TarFile.extractfile(member).read()`` on an already opened archive;
* the encoded index size per member.

Usage: ``python bench/bench_index.py [--size-mb 512] [--members 2000] [--repeats 5]``.
Writes ``bench/results/index.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_data import __version__
from sparkle_data.io.index import build_index, encode_indexes, read_member
from sparkle_data.io.safetar import BLOCK_SIZE, iter_tar_files, padded_size
from sparkle_data.testing.http import serve_directory

SHARD = "location_source_video_part00.tar"


def make_shard(path: Path, size_mb: int, members: int, *, random_data: bool, seed: int) -> int:
    """Write a GNU tar with ``members`` members; data are holes unless ``random_data``."""
    rng = np.random.default_rng(seed)
    mean = size_mb * 1024 * 1024 / members
    sizes = rng.integers(int(mean * 0.5), int(mean * 1.5), size=members)
    ids = rng.permutation(members)  # tar order follows readdir order, not sorted ids
    pos = 0
    with path.open("wb") as f:
        for sid, size in zip(ids.tolist(), sizes.tolist(), strict=True):
            ti = tarfile.TarInfo(f"location/source_video/Sparkle_location_{sid:06d}.mp4")
            ti.size = size
            ti.mtime = 1_700_000_000
            f.write(ti.tobuf(tarfile.GNU_FORMAT))
            pos += BLOCK_SIZE
            if random_data:
                f.write(rng.bytes(size))
                f.write(bytes(padded_size(size) - size))
            else:
                f.seek(pos + padded_size(size))
            pos += padded_size(size)
        end = pos + 2 * BLOCK_SIZE
        record = -(-end // 10240) * 10240  # tar pads to whole 10 KiB records
        f.truncate(record)
    return record


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--reads", type=int, default=200, help="random member reads")
    ap.add_argument("--random-data", action="store_true", help="fill members (slower setup)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "index.json")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sparkle-bench-") as tmp:
        path = Path(tmp) / SHARD
        t = time.perf_counter()
        total = make_shard(path, args.size_mb, args.members, random_data=args.random_data, seed=0)
        setup = time.perf_counter() - t
        gb = total / 1e9
        print(f"shard: {total / 1e6:.0f} MB, {args.members} members (setup {setup:.1f} s)")

        index = build_index(path)
        assert len(index) == args.members

        def tar_getmembers() -> None:
            with tarfile.open(path) as tf:
                tf.getmembers()

        def tar_stream() -> None:
            with tarfile.open(path, "r|") as tf:
                for m in tf:
                    f = tf.extractfile(m)
                    if f is not None:
                        f.read()

        def our_stream() -> None:
            with path.open("rb") as f:
                for _ in iter_tar_files(f):
                    pass

        slow = max(1, min(3, args.repeats))
        t_index = median_time(lambda: build_index(path), args.repeats)
        t_getmembers = median_time(tar_getmembers, args.repeats)
        t_stream = median_time(tar_stream, slow)
        t_our_stream = median_time(our_stream, slow)

        with serve_directory(tmp) as server:
            url = server.url(SHARD)
            t_remote = median_time(lambda: build_index(url), 1)
            requests = server.count("GET")

        rng = np.random.default_rng(1)
        picks = [index.entries[int(k)] for k in rng.integers(0, len(index), size=args.reads)]
        by_path, by_file, by_tarfile = [], [], []
        with tarfile.open(path) as tf, path.open("rb") as raw:
            by_name = {m.name: m for m in tf.getmembers()}

            def extract(name: str) -> bytes:
                f = tf.extractfile(by_name[name])
                assert f is not None
                return f.read()

            for entry in picks:  # warm the page cache for every method alike
                assert read_member(path, entry) == extract(entry.name)
            for k, entry in enumerate(picks):
                runs = [
                    (by_path, lambda e=entry: read_member(path, e)),
                    (by_file, lambda e=entry: read_member(raw, e)),
                    (by_tarfile, lambda e=entry: extract(e.name)),
                ]
                for times, fn in runs[k % 3 :] + runs[: k % 3]:  # rotate the order
                    t = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t)
        t_read = statistics.median(by_path)
        t_read_file = statistics.median(by_file)
        t_extract = statistics.median(by_tarfile)
        mean_member = sum(e.size for e in picks) / len(picks)
        encoded = len(encode_indexes([index]))

    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "sparkle_data": __version__,
        },
        "shard": {
            "bytes": total,
            "members": args.members,
            "data": "random" if args.random_data else "sparse holes",
        },
        "repeats": args.repeats,
        "page_cache": "warm",
        "index_build_s": t_index,
        "index_build_s_per_gb": t_index / gb,
        "tarfile_getmembers_s": t_getmembers,
        "tarfile_stream_read_s": t_stream,
        "iter_tar_files_stream_s": t_our_stream,
        "remote_loopback_index_build_s": t_remote,
        "remote_loopback_get_requests": requests,
        "random_read_mean_member_bytes": mean_member,
        "random_read_index_path_ms": t_read * 1e3,
        "random_read_index_open_file_ms": t_read_file * 1e3,
        "random_read_tarfile_extractfile_ms": t_extract * 1e3,
        "index_bytes": encoded,
        "index_bytes_per_member": encoded / args.members,
        "ratios": {
            "getmembers_over_index": t_getmembers / t_index,
            "tarfile_stream_over_index": t_stream / t_index,
            "tarfile_stream_over_iter_tar_files": t_stream / t_our_stream,
            "extractfile_over_index_read_open_file": t_extract / t_read_file,
            "extractfile_over_index_read_path": t_extract / t_read,
        },
    }
    rows = [
        (
            "build_index (header hops)",
            f"{t_index * 1e3:9.2f} ms",
            f"{t_index / gb * 1e3:.2f} ms/GB",
        ),
        ("tarfile getmembers()", f"{t_getmembers * 1e3:9.2f} ms", f"x{t_getmembers / t_index:.1f}"),
        ("tarfile r| reading data", f"{t_stream * 1e3:9.2f} ms", f"x{t_stream / t_index:.0f}"),
        ("iter_tar_files (stream)", f"{t_our_stream * 1e3:9.2f} ms", ""),
        ("index over loopback HTTP", f"{t_remote * 1e3:9.2f} ms", f"{requests} GETs"),
        ("read_member(path)", f"{t_read * 1e3:9.3f} ms", f"{mean_member / 1e3:.0f} kB/member"),
        ("read_member(open file)", f"{t_read_file * 1e3:9.3f} ms", ""),
        ("extractfile().read()", f"{t_extract * 1e3:9.3f} ms", f"x{t_extract / t_read_file:.1f}"),
        ("index size", f"{encoded:9d} B", f"{encoded / args.members:.2f} B/member"),
    ]
    for label, value, note in rows:
        print(f"{label:<28}{value:>14}   {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
