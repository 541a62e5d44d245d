"""Remote roots behind latency: pairs/s vs local, the index-free full pass, start-up.

    python bench/bench_remote.py [--quick] [--latency 0.05] [--samples 48] [--preset tiny]

A synthetic tree is served by two loopback servers, a "Hub" answering ``302`` for every file
and a "CDN" serving the bytes, each behind a TCP proxy that delays every chunk by
``--latency`` seconds in each direction (and a new connection by one round trip). Measured in
the same run, against the same tree read locally (DataLoader with 2 workers):

* pairs/s of ``SparkleDataset`` remote (read-ahead on: the default) vs local, remote with
  read-ahead off, and remote with read-ahead that does not coalesce (one request per
  member, as before coalescing); the CDN's GETs and connections of one remote epoch;
* the same through ``hf.load_dataset(..., streaming=True, decode=True)``;
* the index-free full pass (``SparkleFullPass``) remote vs local, bytes read vs needed;
* start-up (construction) seconds and requests, cold cache, with and without a published
  index at ``indexes/sparkle.sparkle-index``.

Remote runs are repeated: ``ratio_remote_best_vs_local`` and
``ratio_remote_checksums_best_vs_local`` compare the best of two remote epochs with the best of
two local ones (the first-run ratios are kept as they were measured).

``--preset scale`` measures start-up only, on a full-corpus-sized tree (140,000 ids, 200+
shards of tiny members, ``sparkle_data.testing.scale``) behind the same latency and redirect:
seconds and requests (Hub + CDN) to the first sample (catalog built, both videos of the first
id read), with a published index, without one (cold: every shard's headers), and warm.

Results go to ``bench/results/remote.json``, one entry per preset (``tiny``, ``real``:
synthetic 1280x720 clips; ``--quick`` entries are suffixed ``_quick``). Ratios are what
was measured: nothing is clamped, and on a shared 2-core machine they move between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # this checkout's sparkle_data

from _machine import machine_info

RESULTS = Path(__file__).parent / "results" / "remote.json"


class LatencyProxy:
    """A TCP proxy on 127.0.0.1 adding ``delay`` seconds one way to every chunk."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        time.sleep(2 * self.delay)  # the TCP handshake: one round trip
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        for a, b in ((client, upstream), (upstream, client)):
            q: queue.Queue[tuple[float, bytes]] = queue.Queue()
            threading.Thread(target=self._read, args=(a, q), daemon=True).start()
            threading.Thread(target=self._write, args=(b, q), daemon=True).start()

    def _read(self, src: socket.socket, q: queue.Queue[tuple[float, bytes]]) -> None:
        try:
            while data := src.recv(1 << 18):
                q.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        q.put((time.monotonic() + self.delay, b""))

    @staticmethod
    def _write(dst: socket.socket, q: queue.Queue[tuple[float, bytes]]) -> None:
        try:
            while True:
                due, data = q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._sock.close()


@contextlib.contextmanager
def hub_and_cdn(root: Path, delay: float) -> Iterator[tuple[str, Any, Any, LatencyProxy]]:
    """(Hub base URL behind its proxy, Hub server, CDN server, CDN proxy): every file of
    the Hub is redirected to the CDN."""
    from sparkle_data.testing.http import Faults, serve_directory

    with serve_directory(root) as cdn:
        cdn_proxy = LatencyProxy(int(cdn.base_url.rsplit(":", 1)[1]), delay)
        with serve_directory(root, faults=Faults(redirect=cdn_proxy.base_url)) as hub:
            hub_proxy = LatencyProxy(int(hub.base_url.rsplit(":", 1)[1]), delay)
            try:
                yield hub_proxy.base_url, hub, cdn, cdn_proxy
            finally:
                hub_proxy.close()
                cdn_proxy.close()


def pairs_per_s(make: Callable[[], Any], workers: int = 2) -> tuple[float, int]:
    from torch.utils.data import DataLoader

    ds = make()
    loader = DataLoader(ds, batch_size=None, num_workers=workers, collate_fn=lambda x: x)
    t0 = time.perf_counter()
    n = sum(1 for _ in loader)
    return n / (time.perf_counter() - t0), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small tree, one repeat")
    parser.add_argument("--latency", type=float, default=0.05, help="one-way seconds")
    parser.add_argument(
        "--samples", type=int, default=48, help="corpus samples per theme (--quick: 8)"
    )
    parser.add_argument("--preset", default="tiny", choices=["tiny", "real", "scale"])
    parser.add_argument(
        "--ids", type=int, default=140_000, help="--preset scale: corpus ids (default 140000)"
    )
    parser.add_argument(
        "--shard-size",
        type=int,
        default=1_000_000,
        help="bytes per shard for --preset tiny (real shards are 5 GB: per-shard round trips "
        "weigh far more on small shards)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--label",
        default=None,
        help="key of this run in the results file (default: the preset, '_quick' added)",
    )
    args = parser.parse_args()
    if args.preset == "scale":
        save(args, scale_startup(args.ids // (10 if args.quick else 1), args.latency))
        return
    samples = 8 if args.quick else args.samples

    from sparkle_data.dataset import ReadAhead, SparkleDataset, SparkleFullPass
    from sparkle_data.io.fs import glob, join
    from sparkle_data.io.index import build_indexes, write_indexes
    from sparkle_data.testing import make_sample_tree

    fields = ["source_video", "edited_video"]
    results: dict[str, Any] = {
        "machine": machine_info(),
        "latency_one_way_s": args.latency,
        "preset": args.preset,
        "samples_per_theme": samples,
        "themes": ["time", "location"],
        "workers": 2,
    }
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SPARKLE_DATA_CACHE"] = str(Path(tmp) / "cache")
        tree = make_sample_tree(
            Path(tmp) / "tree",
            edit_types=["time", "location"],
            samples=samples,
            preset=args.preset,
            preview_count=0,
            shard_size=args.shard_size if args.preset == "tiny" else None,
            bench=False,
        )
        root = Path(tree.root)
        kw: dict[str, Any] = {"fields": fields}  # torch tensors in shared memory, as in training

        pairs_per_s(lambda: SparkleDataset(root, **kw))  # warm-up: imports, page cache
        local, n = pairs_per_s(lambda: SparkleDataset(root, **kw))
        results["pairs"] = n
        results["local_pairs_per_s_first"] = local
        with hub_and_cdn(root, args.latency) as (url, hub, cdn, cdn_proxy):
            # start-up, cold cache, no published index
            shutil.rmtree(os.environ["SPARKLE_DATA_CACHE"], ignore_errors=True)
            hub.reset()
            cdn.reset()
            t0 = time.perf_counter()
            SparkleDataset(url, **kw)
            results["startup_no_index"] = {
                "seconds": time.perf_counter() - t0,
                "requests": hub.count() + cdn.count(),
            }
            t0 = time.perf_counter()
            SparkleDataset(url, **kw)
            results["startup_no_index_warm"] = {"seconds": time.perf_counter() - t0}
            ds = SparkleDataset(url, **kw)
            local = max(local, pairs_per_s(lambda: SparkleDataset(root, **kw))[0])
            results["local_pairs_per_s"] = local  # the best of two runs: ratios are not flattered
            hub.reset()
            cdn.reset()
            before = cdn_proxy.connections
            remote, _ = pairs_per_s(lambda: ds)
            results["remote_epoch_requests"] = {
                "hub_redirects": hub.count(),
                "cdn_gets": cdn.count("GET"),
                "cdn_connections": cdn_proxy.connections - before,
            }
            plain, _ = pairs_per_s(lambda: SparkleDataset(url, **kw, read_ahead=False))
            # read-ahead as before coalescing: one request per member, 16 samples ahead
            one_each = ReadAhead(samples=16, max_gap=0, max_request=1)
            uncoalesced, _ = pairs_per_s(lambda: SparkleDataset(url, **kw, read_ahead=one_each))
            results["remote_pairs_per_s"] = remote
            results["remote_no_read_ahead_pairs_per_s"] = plain
            results["remote_uncoalesced_pairs_per_s"] = uncoalesced
            results["ratio_remote_vs_local"] = remote / local
            results["ratio_remote_no_read_ahead_vs_local"] = plain / local
            results["ratio_remote_uncoalesced_vs_local"] = uncoalesced / local
            if "--quick" not in sys.argv:  # a second remote run: how much the ratio moves
                again, _ = pairs_per_s(lambda: ds)
                results["ratio_remote_vs_local_rerun"] = again / local
                # best of two against best of two: the same rule on both sides
                results["ratio_remote_best_vs_local"] = max(remote, again) / local
            try:
                from sparkle_data import hf

                def hf_ds() -> Any:
                    return hf.load_dataset(
                        url, streaming=True, decode=True, fields=fields, progress=False
                    )

                t0 = time.perf_counter()
                hds = hf_ds()
                results["hf_streaming_construction_s"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                hf_n = sum(1 for _ in hds)
                results["hf_streaming_one_process_pairs_per_s"] = hf_n / (time.perf_counter() - t0)
                hf_rate, _ = pairs_per_s(lambda: hds)
                hf_local, _ = pairs_per_s(
                    lambda: hf.load_dataset(
                        str(root), streaming=True, decode=True, fields=fields, progress=False
                    )
                )
                results["hf_streaming_pairs_per_s"] = hf_rate
                results["hf_streaming_local_pairs_per_s"] = hf_local
                results["ratio_hf_streaming_vs_hf_local"] = hf_rate / hf_local
                results["ratio_hf_streaming_vs_local"] = hf_rate / local
            except Exception as e:  # report, do not hide
                results["hf_streaming_error"] = f"{type(e).__name__}: {e}"
            # index-free full pass (fresh cache: no index anywhere)
            shutil.rmtree(os.environ["SPARKLE_DATA_CACHE"], ignore_errors=True)
            full_remote, _ = pairs_per_s(lambda: SparkleFullPass(url, **kw))
            shutil.rmtree(os.environ["SPARKLE_DATA_CACHE"], ignore_errors=True)
            one = SparkleFullPass(url, **kw)
            sum(1 for _ in one)
            results["full_pass_bytes_read"] = one.stats.bytes_read
            results["full_pass_bytes_needed"] = one.stats.bytes_needed
            results["full_pass_remote_pairs_per_s"] = full_remote
        shutil.rmtree(os.environ["SPARKLE_DATA_CACHE"], ignore_errors=True)
        full_local, _ = pairs_per_s(lambda: SparkleFullPass(root, **kw, cache=False))
        results["full_pass_local_pairs_per_s"] = full_local
        results["ratio_full_pass_remote_vs_local"] = full_remote / full_local
        results["ratio_full_pass_remote_vs_indexed_local"] = full_remote / local

        # start-up with a published index, then reads verified by its checksums
        from sparkle_data.io.index import add_checksums

        shards = [join(str(root), p) for p in glob(str(root), "*_part*.tar")]
        (root / "indexes").mkdir(exist_ok=True)
        published = build_indexes(shards, progress=False)
        write_indexes(root / "indexes" / "sparkle.sparkle-index", published)
        shutil.rmtree(os.environ["SPARKLE_DATA_CACHE"], ignore_errors=True)
        with hub_and_cdn(root, args.latency) as (url, hub, cdn, _):
            hub.reset()
            cdn.reset()
            t0 = time.perf_counter()
            SparkleDataset(url, **kw)
            results["startup_published_index"] = {
                "seconds": time.perf_counter() - t0,
                "requests": hub.count() + cdn.count(),
            }
            indexed, _ = pairs_per_s(lambda: SparkleDataset(url, **kw))
            pairs = zip(published, shards, strict=True)
            checked = [add_checksums(ix, shard) for ix, shard in pairs]
            write_indexes(root / "indexes" / "sparkle.sparkle-index", checked)
            shutil.rmtree(os.environ["SPARKLE_DATA_CACHE"], ignore_errors=True)
            with_crc, _ = pairs_per_s(lambda: SparkleDataset(url, **kw))
            results["remote_published_index_pairs_per_s"] = indexed
            results["remote_checksums_pairs_per_s"] = with_crc
            results["ratio_remote_checksums_vs_local"] = with_crc / local
            results["ratio_checksums_vs_no_checksums"] = with_crc / indexed
            if "--quick" not in sys.argv:  # best of two, each side, measured side by side
                local_again, _ = pairs_per_s(lambda: SparkleDataset(root, **kw))
                checked_ds = SparkleDataset(url, **kw)
                hub.reset()
                crc_again, _ = pairs_per_s(lambda: checked_ds)
                results["remote_checksums_pairs_per_s_rerun"] = crc_again
                results["local_pairs_per_s_rerun"] = local_again
                results["ratio_remote_checksums_best_vs_local"] = max(with_crc, crc_again) / max(
                    local, local_again
                )
                results["hub_requests_checksum_epoch"] = hub.count()  # redirects in workers
    save(args, results)


def scale_startup(ids: int, latency: float) -> dict[str, Any]:
    """Seconds and requests to the first sample of a corpus-sized root (see the module doc)."""
    from sparkle_data.catalog import build_catalog
    from sparkle_data.hf import publish_indexes
    from sparkle_data.testing.scale import make_scale_tree

    videos = ("source_video", "edited_video")
    results: dict[str, Any] = {"machine": machine_info(), "latency_one_way_s": latency}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        os.environ["SPARKLE_DATA_CACHE"] = str(cache)
        tree = make_scale_tree(Path(tmp) / "tree", ids=ids, shards=20)
        results.update(ids=tree.ids, shards=tree.shards)

        def first_sample(url: str, hub: Any, cdn: Any, **options: Any) -> dict[str, Any]:
            hub.reset()
            cdn.reset()
            t0 = time.perf_counter()
            catalog = build_catalog(url, artifacts=videos, **options)
            for artifact in videos:
                assert catalog.read_bytes(tree.first_id, artifact) == b"\x01"
            csv = sum(1 for r in hub.requests if "prompts/" in str(r.path))
            return {
                "seconds": time.perf_counter() - t0,
                "requests": hub.count() + cdn.count(),
                "hub_requests": hub.count(),
                "prompt_csv_requests_at_hub": csv,
                "rows": len(catalog),
            }

        with hub_and_cdn(tree.root, latency) as (url, hub, cdn, _):
            results["no_index_cold"] = first_sample(url, hub, cdn, max_workers=32)
            results["no_index_warm"] = first_sample(url, hub, cdn)
        index = tree.root / "indexes" / "sparkle.sparkle-index"
        (tree.root / "indexes").mkdir(exist_ok=True)
        publish_indexes(tree.root, index, progress=False)
        shutil.rmtree(cache, ignore_errors=True)
        with hub_and_cdn(tree.root, latency) as (url, hub, cdn, _):
            results["published_index_cold"] = first_sample(url, hub, cdn)
            results["published_index_warm"] = first_sample(url, hub, cdn)

        # the same through hf:// against the fake Hub (tree API listing, a 302 to its CDN per
        # LFS file); latency as a sleep of one round trip before every answer of every kind
        from sparkle_data.testing.hub import FakeHub, HubFaults, serve_fake_hub

        def hf_first_sample(published: bool, **options: Any) -> dict[str, Any]:
            faults = HubFaults(latency=2 * latency, kinds=("*",))
            hub = FakeHub.from_directory(tree.root, redirect_lfs=True, faults=faults)
            if not published:
                hub.commit("stdKonjac/Sparkle", {}, delete=["indexes/sparkle.sparkle-index"])
            out: dict[str, Any] = {}
            with serve_fake_hub(hub):
                for run in ("cold", "warm"):
                    hub.reset()
                    t0 = time.perf_counter()
                    catalog = build_catalog(
                        "hf://datasets/stdKonjac/Sparkle", artifacts=videos, **options
                    )
                    for artifact in videos:
                        assert catalog.read_bytes(tree.first_id, artifact) == b"\x01"
                    csv = sum(1 for r in hub.requests if "prompts/" in str(r.file))
                    out[run] = {
                        "seconds": time.perf_counter() - t0,
                        "requests": hub.count(),
                        "prompt_csv_requests": csv,
                        "rows": len(catalog),
                    }
            return out

        shutil.rmtree(cache, ignore_errors=True)
        results["hf_published_index"] = hf_first_sample(True)
        shutil.rmtree(cache, ignore_errors=True)
        results["hf_no_index"] = hf_first_sample(False, max_workers=32)
    return results


def save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] = {}
    if args.out.exists():  # one entry per preset (and --quick), the others kept
        with contextlib.suppress(ValueError):
            merged = json.loads(args.out.read_text())
    key = args.label or args.preset + ("_quick" if args.quick else "")
    merged = {k: v for k, v in merged.items() if isinstance(v, dict) and "machine" in v}
    merged[key] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    for k, v in results.items():
        if k != "machine":
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
