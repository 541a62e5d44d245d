"""Per-member read time over the loopback server: kept-alive connection vs a new one per member.

    python bench/bench_http_reuse.py [--members 400] [--size 65536]

Prints the mean time per member read for each mode and their ratio (same run, same server).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sparkle_data.io.http import close_connections, connections_opened
from sparkle_data.io.remote import read_range
from sparkle_data.testing.http import serve_directory


def run(url: str, members: int, size: int, *, reuse: bool) -> tuple[float, int]:
    close_connections()
    before = connections_opened()
    t0 = time.perf_counter()
    for k in range(members):
        if not reuse:
            close_connections()
        read_range(url, (k * size) % (64 * size), size)
    return (time.perf_counter() - t0) / members, connections_opened() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=400)
    parser.add_argument("--size", type=int, default=64 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "shard.tar").write_bytes(b"\x01" * (65 * args.size))
        with serve_directory(d) as server:
            url = server.url("shard.tar")
            run(url, 20, args.size, reuse=True)  # warm up
            fresh, n_fresh = run(url, args.members, args.size, reuse=False)
            kept, n_kept = run(url, args.members, args.size, reuse=True)
    print(f"new connection per member: {fresh * 1e3:.3f} ms/member ({n_fresh} connections)")
    print(f"kept-alive connection:     {kept * 1e3:.3f} ms/member ({n_kept} connections)")
    print(f"ratio new/kept: {fresh / kept:.2f}x")


if __name__ == "__main__":
    main()
