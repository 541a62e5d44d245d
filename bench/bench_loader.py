"""Streaming loader: ``SparkleDataset`` in a DataLoader vs three baselines, same clips, one run.

Data (all built in a temporary directory):

* **main tree**: the real Sparkle pairs in ``../shared/real_clips`` (or ``--clips DIR``), each
  repeated ``--copies`` times under new ids (``Sparkle_{t}_{n + 1000 k}``), written as a
  Sparkle layout: ``prompts/{t}_train.csv`` + ``_metadata.jsonl``, aligned tar shards
  ``{t}_source_video_partXX.tar`` / ``{t}_edited_video_partXX.tar`` (``--shard-pairs`` pairs
  each, member names ``{t}/{artifact}/{id}.mp4`` as on the Hub) and
  ``intermediate_data/{t}_source_video_mask_partXX.tar``. The real clips come without masks:
  each gets a synthetic 1-bit mask of its own frame count (a moving ellipse, card NPZ format,
  ``savez_compressed``). The dataset reads the shards (through the catalog's member index);
  an extracted copy of every file (``Sparkle_extracted/{t}/source_video/...``) is what
  baselines (a) and (b) read. Without real clips, the clips and masks of a
  ``make_sample_tree(preset="real")`` tree take their place.
* **synthetic check** (full mode, when real clips exist): a ``make_sample_tree(preset="real",
  samples=--synthetic-samples)`` tree read as generated (misaligned shards): ours vs (a), 720p.
* **large shard**: one source and one edited shard of ``--large-members`` members (the real
  clips cycled under new ids, ~110 MB per shard at 200), plus a shard of ``--small-members``.

Methods, per configuration, each over the same pairs and frames, uint8 RGB at the same size:

* ``a ceiling``: PyAV decode in ``multiprocessing.Pool(2)`` (no DataLoader), one decoding
  thread; each kept frame is converted by swscale to uint8 RGB at the output size
  (``reformat``; packed ``rgb24`` at native size, planar ``gbrp`` when resizing, whichever is
  cheaper) and cropped as a view; nothing is copied, kept or sent back. ``a' ceiling+buffer``
  (720p only) also copies every frame into a fresh per-clip array, as any loader must.
* ``b kiwi``: Kiwi-Edit's ``UnifiedDataset``/``LoadVideo``: ``imageio.get_reader`` (ffmpeg
  plugin from ``imageio-ffmpeg``), ``count_frames()``, ``get_data(i)`` per frame,
  ``PIL.Image.fromarray``, ``ImageCropAndResize`` (``max_pixels=1280*720``, division 16 at
  720p; ``height=480, width=832`` at 480x832: scale to cover, bilinear, center crop; PIL's
  resize is what torchvision's ``F.resize`` calls on a PIL image), lists of PIL images out of
  ``DataLoader(num_workers=2, batch_size=1, collate_fn=lambda x: x[0])`` as in its
  ``train.py``. Frames ``0..N-1`` with Kiwi's 4k+1 rule (81 or 69 here: every frame).
  ``--kiwi-pairs`` pairs per run (default 2, one per worker): it is slow. Not run at stride 4
  (Kiwi-Edit reads contiguous frames).
* ``c wds``: ``webdataset.WebDataset`` over the source shards and, separately, the edited
  shards, paired by zipping the two iterators (right only because these shards are aligned;
  on real, independently cut shards it pairs the wrong samples), PyAV ``to_ndarray("rgb24")``
  from the member bytes, ``np.stack``; ``DataLoader(num_workers=2, batch_size=None)``.
* ``ours``: ``SparkleDataset(catalog, fields=[...], frames=..., resize=...)`` in
  ``DataLoader(num_workers=2, batch_size=None)``; the catalog is built once beforehand.
  ``ours (copy on send)`` (720p only) is the same with decoding into shared memory turned
  off: the loader before that change (tensors copied into shared memory when sent);
  ``ours (no pool)`` (720p only) decodes into fresh shared memory for every tensor
  (``SPARKLE_DATA_SHM_POOL=0``): the loader before the recycled buffer pool.

Configurations: ``720p`` (all frames, native 1280x720), ``480x832`` (``Resize(height=480,
width=832)``), ``stride4`` (``FrameSampler("stride", stride=4)``, 720p), ``720p+mask`` and
``stride4+mask`` (``source_video_mask`` added; compared with ``ours`` of the same
configuration without it). A run is timed from creating the Pool/DataLoader to the last
sample (worker start included for every method); the consumer only reads shapes. Per run:
pairs/s, frames/s, CPU seconds per pair (``getrusage`` of the main process and of its joined
workers, user + system), and peak memory summed over main + workers, polled (RSS every 50 ms,
counting shared pages in every process mapping them; PSS every 500 ms). Runs are repeated
``--repeat`` times, methods interleaved (order rotated per repeat); medians, and ratios
taken within a repeat, then their median. The machine is shared: wall-clock ratios move with
other jobs' load, CPU-time ratios (the speed ratio on two dedicated cores when CPU-bound)
barely do; both are reported, PASS/MISS is from wall clock, the CPU-based verdict beside it.

Also: mask decode alone (``decode_mask_field``, all frames vs stride 4, in process); time to
the first sample after ``load_state_dict`` at the start vs the end of the large shard (in
process with a slot state, and through a 2-worker DataLoader with a ``merge_states`` global
state); memory iterating the small vs the large shard (one frame per clip, so that sample
buffers do not hide a loader whose memory grows with the shard).

    python bench/bench_loader.py            # full: 4-6 minutes on 2 shared cores
    python bench/bench_loader.py --quick    # smoke test, < 1 minute

Needs ``imageio``, ``imageio-ffmpeg``, ``psutil`` and ``webdataset`` besides the package.
Writes ``bench/results/loader.json`` (``--out``) and prints a table with PASS/MISS per target.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # measure this checkout, not an installed copy

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _machine import machine_info  # noqa: E402
from torch.utils.data import DataLoader, Dataset, IterableDataset  # noqa: E402

import sparkle_data.dataset.sample as sample_module  # noqa: E402
from sparkle_data.catalog import Catalog, build_catalog  # noqa: E402
from sparkle_data.dataset import SparkleDataset, merge_states  # noqa: E402
from sparkle_data.layout import (  # noqa: E402
    artifact_relpath,
    member_name,
    parse_sample_id,
    shard_path,
)
from sparkle_data.readers.mask import encode_mask_npz  # noqa: E402
from sparkle_data.sampling import (  # noqa: E402
    FrameSampler,
    Resize,
    decode_mask_field,
    plan_geometry,
    plan_sample,
    probe_fields,
)

REAL_CLIPS = REPO.parent / "shared" / "real_clips"
RESULTS = REPO / "bench" / "results" / "loader.json"
WORKERS = 2
MB = 1024 * 1024
PROMPT = "Replace the background with a sunny beach, keeping the subject and its motion."


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Clip:
    """One source/edited pair to place in the trees (bytes on disk, optional mask bytes)."""

    edit_type: str
    number: int
    source: Path
    edited: Path
    frames: int
    height: int
    width: int
    mask: bytes | None = None


@dataclass(frozen=True)
class Pair:
    """One pair of a written tree: its id and the extracted copies of its files."""

    sample_id: str
    edit_type: str
    source: str
    edited: str
    mask: str | None
    frames: int
    clip: str


@dataclass
class Tree:
    root: Path
    pairs: list[Pair]
    source_shards: list[str] = field(default_factory=list)
    edited_shards: list[str] = field(default_factory=list)
    bytes: int = 0


def _probe(path: Path) -> tuple[int, int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return int(s.frames), int(s.codec_context.height), int(s.codec_context.width)


def synthetic_mask(frames: int, height: int, width: int, seed: int) -> bytes:
    """A moving, breathing ellipse (roughly a person's share of the frame), card NPZ bytes."""
    rng = np.random.default_rng(seed)
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    cx0, cy0 = rng.uniform(0.3, 0.7) * width, rng.uniform(0.4, 0.6) * height
    mask = np.empty((frames, height, width), dtype=bool)
    for t in range(frames):
        cx = cx0 + 0.15 * width * math.sin(t / 13.0)
        cy = cy0 + 0.05 * height * math.cos(t / 7.0)
        ry, rx = 0.35 * height * (1 + 0.05 * math.sin(t / 5.0)), 0.12 * width
        mask[t] = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0
    return encode_mask_npz(mask, compress=True)


def real_clips(folder: Path) -> list[Clip]:
    clips = []
    for src in sorted(folder.glob("Sparkle_*_source.mp4")):
        task = src.name[: -len("_source.mp4")]
        sid = parse_sample_id(task)
        edited = folder / f"{task}_edited.mp4"
        frames, h, w = _probe(src)
        clips.append(
            Clip(
                sid.edit_type,
                sid.index,
                src,
                edited,
                frames,
                h,
                w,
                synthetic_mask(frames, h, w, len(clips)),
            )
        )
    return clips


def synthetic_tree(out: Path, samples: int) -> tuple[Path, list[Clip]]:
    """A ``preset="real"`` tree (no previews: every artifact is read from its shard)."""
    from sparkle_data.testing import make_sample_tree

    summary = make_sample_tree(
        out, preset="real", edit_types=["location"], samples=samples, preview_count=0, bench=False
    )
    root = Path(summary.root)
    cat = build_catalog(root, cache=False)
    files = out / "clips"
    files.mkdir()
    clips = []
    for sid in summary["location"].corpus_ids:
        paths = {}
        for art in ("source_video", "edited_video"):
            paths[art] = files / f"{sid}_{art}.mp4"
            paths[art].write_bytes(cat.read_bytes(sid, art))
        frames, h, w = _probe(paths["source_video"])
        clips.append(
            Clip(
                "location",
                parse_sample_id(sid).index,
                paths["source_video"],
                paths["edited_video"],
                frames,
                h,
                w,
                cat.read_bytes(sid, "source_video_mask"),
            )
        )
    return root, clips


def _write_tar(path: Path, members: Sequence[tuple[str, bytes]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_735_689_600, 0o644
            tf.addfile(info, io.BytesIO(data))
    return path.stat().st_size


def write_tree(
    root: Path,
    clips: Sequence[tuple[str, int, Clip]],
    *,
    shard_pairs: int,
    masks: bool = True,
    extracted: bool = True,
) -> Tree:
    """Write a Sparkle layout holding ``clips`` as ``(edit_type, number, clip)`` under ids
    ``Sparkle_{edit_type}_{number:06d}``: prompts, metadata, aligned shards, extracted copy."""
    (root / "prompts").mkdir(parents=True)
    tree = Tree(root, [])
    by_type: dict[str, list[tuple[str, Clip]]] = {}
    for edit_type, number, clip in clips:
        by_type.setdefault(edit_type, []).append((f"Sparkle_{edit_type}_{number:06d}", clip))
    cache: dict[Path, bytes] = {}

    def data(p: Path) -> bytes:
        if p not in cache:
            cache[p] = p.read_bytes()
        return cache[p]

    for edit_type in sorted(by_type):
        items = sorted(by_type[edit_type])
        with open(root / "prompts" / f"{edit_type}_train.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["prompt", "src_video", "tgt_video", "task"])
            for sid, _ in items:
                w.writerow(
                    [
                        PROMPT,
                        member_name(sid, "source_video"),
                        member_name(sid, "edited_video"),
                        sid,
                    ]
                )
        with open(root / "prompts" / f"{edit_type}_train_metadata.jsonl", "w") as f:
            for sid, _ in items:
                meta: dict[str, str] = {"original_scene": "A street with parked cars."}
                if edit_type == "openve3m":
                    meta["edit_type"] = "openve3m_background_change"
                else:
                    meta |= {"edit_type": edit_type, "chosen_keyword": "nature: sunny beach"}
                f.write(json.dumps({"id": sid, "prompt": PROMPT, "metadata": meta}) + "\n")
        for part, start in enumerate(range(0, len(items), shard_pairs)):
            chunk = items[start : start + shard_pairs]
            arts = [("source_video", "source"), ("edited_video", "edited")]
            if masks:
                arts.append(("source_video_mask", "mask"))
            for art, attr in arts:
                members = []
                for sid, clip in chunk:
                    payload = clip.mask if attr == "mask" else data(getattr(clip, attr))
                    assert payload is not None
                    members.append((member_name(sid, art), payload))
                rel = shard_path(edit_type, art, part)
                tree.bytes += _write_tar(root / rel, members)
                if art == "source_video":
                    tree.source_shards.append(str(root / rel))
                elif art == "edited_video":
                    tree.edited_shards.append(str(root / rel))
        for sid, clip in items:
            paths: dict[str, str | None] = {"mask": None}
            for art, attr in (("source_video", "source"), ("edited_video", "edited")):
                paths[attr] = str(getattr(clip, attr))
                if extracted:
                    dst = root.parent / f"{root.name}_extracted" / artifact_relpath(sid, art)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(data(getattr(clip, attr)))
                    paths[attr] = str(dst)
            if masks and clip.mask is not None and extracted:
                dst = (
                    root.parent
                    / f"{root.name}_extracted"
                    / artifact_relpath(sid, "source_video_mask")
                )
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(clip.mask)
                paths["mask"] = str(dst)
            tree.pairs.append(
                Pair(
                    sid,
                    edit_type,
                    str(paths["source"]),
                    str(paths["edited"]),
                    paths["mask"],
                    clip.frames,
                    clip.source.name,
                )
            )
    return tree


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class Config:
    name: str
    size: tuple[int, int] | None  # output (H, W); None = native
    stride: int = 1
    mask: bool = False

    def frames(self) -> FrameSampler | None:
        return FrameSampler("stride", stride=self.stride) if self.stride > 1 else None

    def resize(self) -> Resize | None:
        return Resize(height=self.size[0], width=self.size[1]) if self.size else None

    def fields(self) -> list[str]:
        return ["source_video", "edited_video"] + (["source_video_mask"] if self.mask else [])


CONFIGS = {
    "720p": Config("720p", None),
    "480x832": Config("480x832", (480, 832)),
    "stride4": Config("stride4", None, stride=4),
    "720p+mask": Config("720p+mask", None, mask=True),
    "stride4+mask": Config("stride4+mask", None, stride=4, mask=True),
}


@dataclass(frozen=True)
class Geo:
    """swscale target size and crop box (top, left, h, w) for one source size."""

    resize: tuple[int, int] | None
    crop: tuple[int, int, int, int] | None


def geometry(cfg: Config, height: int, width: int) -> Geo:
    if cfg.size is None:
        return Geo(None, None)
    g = plan_geometry({"source_video": (height, width)}, cfg.resize())["source_video"]
    crop = g.crop if g.crops else None
    return Geo(g.resize if g.resizes else None, crop)


# --------------------------------------------------------------------------- (a) ceiling


def _rgb(frame: av.VideoFrame, geo: Geo) -> np.ndarray:  # type: ignore[type-arg]
    """``uint8`` RGB ``(H, W, 3)`` the usual way: ``to_ndarray("rgb24")``, resize in swscale."""
    if geo.resize is None:
        arr = frame.to_ndarray(format="rgb24")
    else:
        h, w = geo.resize
        arr = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="BILINEAR")
    if geo.crop is not None:
        top, left, h, w = geo.crop
        arr = arr[top : top + h, left : left + w]
    return arr


def _plane(plane: Any, h: int, row_bytes: int) -> np.ndarray:  # type: ignore[type-arg]
    """One plane of a frame as an ``(h, row_bytes)`` view (row padding skipped, no copy)."""
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8, count=plane.line_size * h)
    return rows.reshape(h, plane.line_size)[:, :row_bytes]


def ceiling_pair(job: tuple[str, str, int, Geo, bool]) -> int:
    """Decode both clips of a pair and convert the kept frames to uint8 RGB at the output size,
    nothing else: ``reformat`` in swscale to the cheaper RGB format (packed ``rgb24`` at native
    size, planar ``gbrp`` when resizing: ~40% cheaper there, measured), crop as a view, pixels
    left in the frame's buffer. ``keep`` also copies each frame into a fresh per-clip array.
    Returns the number of frames only: nothing crosses processes."""
    src, edited, stride, geo, keep = job
    fmt = "rgb24" if geo.resize is None else "gbrp"
    kw: dict[str, Any] = {"format": fmt}
    if geo.resize is not None:
        kw |= {"height": geo.resize[0], "width": geo.resize[1], "interpolation": "BILINEAR"}
    n = 0
    for path in (src, edited):
        with av.open(path) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            cc = s.codec_context
            h, w = geo.resize or (cc.height, cc.width)
            top, left, ch, cw = geo.crop or (0, 0, h, w)
            buf = None
            if keep:
                t = -(-int(s.frames) // stride)
                shape = (t, ch, cw, 3) if fmt == "rgb24" else (t, 3, ch, cw)
                buf = np.empty(shape, dtype=np.uint8)
            for i, frame in enumerate(c.decode(s)):
                if i % stride:
                    continue
                out = frame.reformat(**kw)
                if fmt == "rgb24":
                    rgb = _plane(out.planes[0], h, w * 3).reshape(h, w, 3)[
                        top : top + ch, left : left + cw
                    ]
                    if buf is not None:
                        buf[i // stride] = rgb
                else:
                    for p, ch_index in ((0, 1), (1, 2), (2, 0)):  # gbrp planes: G, B, R
                        plane = _plane(out.planes[p], h, w)[top : top + ch, left : left + cw]
                        if buf is not None:
                            buf[i // stride, ch_index] = plane
                n += 1
    return n


# --------------------------------------------------------------------------- (b) Kiwi-Edit


def _kiwi_height_width(
    image: Any, max_pixels: int | None, height: int | None, width: int | None
) -> tuple[int, int]:
    """Kiwi-Edit's ``ImageCropAndResize.get_height_width`` (division factor 16)."""
    if height is None or width is None:
        w, h = image.size
        if max_pixels is not None and w * h > max_pixels:
            scale = (w * h / max_pixels) ** 0.5
            h, w = int(h / scale), int(w / scale)
        return h // 16 * 16, w // 16 * 16
    return height, width


def _kiwi_crop_and_resize(image: Any, th: int, tw: int) -> Any:
    """Kiwi-Edit's ``crop_and_resize``: torchvision ``F.resize`` + ``F.center_crop`` on a PIL
    image, i.e. PIL bilinear resize to cover, then a centered crop."""
    from PIL import Image

    w, h = image.size
    scale = max(tw / w, th / h)
    image = image.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
    w, h = image.size
    top, left = round((h - th) / 2.0), round((w - tw) / 2.0)
    return image.crop((left, top, left + tw, top + th))


class KiwiDataset(Dataset[dict[str, Any]]):
    """Kiwi-Edit's ``UnifiedDataset`` over a CSV of extracted ``src_video``/``tgt_video``."""

    def __init__(self, csv_path: str, base: str, cfg: Config, num_frames: int = 81) -> None:
        import pandas

        metadata = pandas.read_csv(csv_path)
        self.data = [metadata.iloc[i].to_dict() for i in range(len(metadata))]
        self.base, self.num_frames, self.stride = base, num_frames, cfg.stride
        self.max_pixels = 1280 * 720
        self.height, self.width = cfg.size if cfg.size else (None, None)

    def __len__(self) -> int:
        return len(self.data)

    def _load_video(self, path: str) -> list[Any]:
        import imageio
        from PIL import Image

        reader = imageio.get_reader(path)
        num_frames = self.num_frames
        if int(reader.count_frames()) < num_frames:
            num_frames = int(reader.count_frames())
            while num_frames > 1 and num_frames % 4 != 1:
                num_frames -= 1
        frames = []
        for frame_id in range(0, num_frames, self.stride):
            frame = Image.fromarray(reader.get_data(frame_id))
            th, tw = _kiwi_height_width(frame, self.max_pixels, self.height, self.width)
            frames.append(_kiwi_crop_and_resize(frame, th, tw))
        reader.close()
        return frames

    def __getitem__(self, i: int) -> dict[str, Any]:
        data = self.data[i % len(self.data)].copy()
        for key in ("src_video", "tgt_video"):
            data[key] = self._load_video(os.path.join(self.base, data[key]))
        a, b = data["src_video"], data["tgt_video"]
        if a[0].size != b[0].size or len(a) != len(b):
            raise ValueError(f"mismatch {a[0].size} {b[0].size} {len(a)} {len(b)}")
        return data


def first(batch: list[Any]) -> Any:
    return batch[0]


# --------------------------------------------------------------------------- (c) webdataset


def _wds_decode(data: bytes, cfg: Config, geo: Geo) -> torch.Tensor:
    frames = []
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        for i, frame in enumerate(c.decode(s)):
            if i % cfg.stride == 0:
                frames.append(_rgb(frame, geo))
    return torch.from_numpy(np.stack(frames))


class WdsPairs(IterableDataset[dict[str, Any]]):
    """Two ``WebDataset`` pipelines (source shards, edited shards) zipped: naive pairing."""

    def __init__(
        self, source_shards: list[str], edited_shards: list[str], cfg: Config, geo: Geo
    ) -> None:
        self.source_shards, self.edited_shards, self.cfg, self.geo = (
            source_shards,
            edited_shards,
            cfg,
            geo,
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import webdataset as wds

        src = wds.WebDataset(self.source_shards, shardshuffle=False, empty_check=False)
        edt = wds.WebDataset(self.edited_shards, shardshuffle=False, empty_check=False)
        for a, b in zip(src, edt, strict=False):  # stops at the shorter: naive
            yield {
                "key": a["__key__"],
                "source_video": _wds_decode(a["mp4"], self.cfg, self.geo),
                "edited_video": _wds_decode(b["mp4"], self.cfg, self.geo),
            }


# --------------------------------------------------------------------------- measurement


class PeakMemory:
    """Peak of RSS and PSS summed over this process and its children, polled in a thread."""

    def __init__(self, rss_interval: float = 0.05, pss_every: int = 10) -> None:
        import psutil

        self._psutil = psutil
        self.rss_interval, self.pss_every = rss_interval, pss_every
        self.peak_rss = self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, pss: bool) -> None:
        me = self._psutil.Process()
        procs = [me, *me.children(recursive=True)]
        rss = total_pss = 0
        for p in procs:
            try:
                rss += p.memory_info().rss
                if pss:
                    total_pss += p.memory_full_info().pss
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                continue
        self.peak_rss = max(self.peak_rss, rss)
        if pss:
            self.peak_pss = max(self.peak_pss, total_pss)

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            self._sample(k % self.pss_every == 0)
            k += 1
            self._stop.wait(self.rss_interval)

    def __enter__(self) -> PeakMemory:
        self._sample(True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    pairs: int
    frames: int
    seconds: float
    peak_rss_mb: float
    peak_pss_mb: float
    cpu: dict[str, float]
    """CPU seconds per pair: main and worker processes, user and system (kernel) time."""

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.seconds

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())


def _rusage() -> tuple[float, float, float, float]:
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime, me.ru_stime, kids.ru_utime, kids.ru_stime


def timed(fn: Callable[[], tuple[int, int]]) -> Run:
    """Run ``fn`` (which must join its worker processes, so that their CPU time is counted)."""
    before = _rusage()
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        pairs, frames = fn()
        dt = time.perf_counter() - t0
    delta = [b - a for a, b in zip(before, _rusage(), strict=True)]
    keys = ("main_user", "main_sys", "workers_user", "workers_sys")
    cpu = {k: round(v / pairs, 3) for k, v in zip(keys, delta, strict=True)}
    return Run(pairs, frames, dt, mem.peak_rss / MB, mem.peak_pss / MB, cpu)


def run_ceiling(pairs: Sequence[Pair], cfg: Config, *, keep: bool = False) -> tuple[int, int]:
    jobs = [(p.source, p.edited, cfg.stride, geometry(cfg, *_size_of(p)), keep) for p in pairs]
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        frames = sum(pool.imap_unordered(ceiling_pair, jobs, chunksize=1))
    return len(jobs), frames


_SIZES: dict[str, tuple[int, int]] = {}


def _size_of(p: Pair) -> tuple[int, int]:
    if p.source not in _SIZES:
        _SIZES[p.source] = _probe(Path(p.source))[1:]
    return _SIZES[p.source]


def run_kiwi(csv_path: str, base: str, cfg: Config) -> tuple[int, int]:
    loader = DataLoader(
        KiwiDataset(csv_path, base, cfg), batch_size=1, num_workers=WORKERS, collate_fn=first
    )
    n = frames = 0
    for data in loader:
        n += 1
        frames += len(data["src_video"]) + len(data["tgt_video"])
    return n, frames


def run_wds(tree: Tree, cfg: Config, geo: Geo) -> tuple[int, int]:
    loader = DataLoader(
        WdsPairs(tree.source_shards, tree.edited_shards, cfg, geo),
        batch_size=None,
        num_workers=WORKERS,
    )
    n = frames = 0
    for s in loader:
        n += 1
        frames += s["source_video"].shape[0] + s["edited_video"].shape[0]
    return n, frames


def run_ours(
    catalog: Catalog, cfg: Config, *, shared: bool = True, pool: bool = True
) -> tuple[int, int]:
    """``shared=False``: the loader before decoding into shared memory (tensors are copied
    into shared memory when sent); ``pool=False``: fresh shared memory for every tensor (the
    loader before the recycled pool). The first patches a module global, the second sets
    ``SPARKLE_DATA_SHM_POOL=0``; the forked workers inherit both."""
    ds = SparkleDataset(catalog, fields=cfg.fields(), frames=cfg.frames(), resize=cfg.resize())
    in_worker = sample_module._in_worker
    saved = os.environ.get("SPARKLE_DATA_SHM_POOL")
    if not shared:
        sample_module._in_worker = lambda: False  # type: ignore[assignment]
    if not pool:
        os.environ["SPARKLE_DATA_SHM_POOL"] = "0"
    try:
        loader = DataLoader(ds, batch_size=None, num_workers=WORKERS)
        n = frames = 0
        for s in loader:
            n += 1
            frames += s["source_video"].shape[0] + s["edited_video"].shape[0]
    finally:
        sample_module._in_worker = in_worker  # type: ignore[assignment]
        if saved is None:
            os.environ.pop("SPARKLE_DATA_SHM_POOL", None)
        else:
            os.environ["SPARKLE_DATA_SHM_POOL"] = saved
    return n, frames


def kiwi_csv(tree: Tree, pairs: Sequence[Pair], folder: Path) -> tuple[str, str]:
    base = str(tree.root.parent / f"{tree.root.name}_extracted")
    path = folder / "kiwi_train.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "src_video", "tgt_video", "task"])
        for p in pairs:
            w.writerow(
                [
                    PROMPT,
                    member_name(p.sample_id, "source_video"),
                    member_name(p.sample_id, "edited_video"),
                    p.sample_id,
                ]
            )
    return str(path), base


def spread(pairs: Sequence[Pair], n: int) -> list[Pair]:
    """``n`` pairs cycling over the distinct clips (so every clip is represented)."""
    by_clip: dict[tuple[str, str], list[Pair]] = {}
    for p in pairs:
        by_clip.setdefault(p.clip, []).append(p)
    groups = list(by_clip.values())
    out = []
    k = 0
    while len(out) < n and any(groups):
        g = groups[k % len(groups)]
        if g:
            out.append(g.pop(0))
        k += 1
    return out


def summarize(runs: list[Run]) -> dict[str, Any]:
    return {
        "pairs": runs[0].pairs,
        "pairs_per_s": round(statistics.median(r.pairs_per_s for r in runs), 3),
        "frames_per_s": round(statistics.median(r.frames_per_s for r in runs), 1),
        "peak_rss_mb": round(statistics.median(r.peak_rss_mb for r in runs), 1),
        "peak_pss_mb": round(statistics.median(r.peak_pss_mb for r in runs), 1),
        "all_pairs_per_s": [round(r.pairs_per_s, 3) for r in runs],
        "cpu_s_per_pair": {
            k: round(statistics.median(r.cpu[k] for r in runs), 3) for k in runs[0].cpu
        },
        "cpu_s_per_pair_total": round(statistics.median(r.cpu_total for r in runs), 3),
    }


def ratio(a: list[Run], b: list[Run]) -> float:
    """Median over repeats of ``a / b`` pairs/s, each repeat's runs being neighbours in time."""
    return round(
        statistics.median(x.pairs_per_s / y.pairs_per_s for x, y in zip(a, b, strict=True)), 3
    )


def cpu_ratio(a: list[Run], b: list[Run]) -> float:
    """Median over repeats of ``cpu(b) / cpu(a)`` per pair (main + workers, user + system):
    the speed ratio on two dedicated cores when both are CPU-bound. Unlike wall time it
    barely moves when other jobs load the machine."""
    return round(statistics.median(y.cpu_total / x.cpu_total for x, y in zip(a, b, strict=True)), 3)


# --------------------------------------------------------------------------- side measurements


def mask_decode_ms(catalog: Catalog, sample_id: str, repeat: int) -> dict[str, float]:
    """``decode_mask_field`` alone, in process: all frames vs stride 4 (median ms)."""
    out: dict[str, float] = {}
    for name, sampler in (("all frames", None), ("stride 4", FrameSampler("stride", stride=4))):
        times = []
        for _ in range(repeat):
            with (
                catalog.open(sample_id, "source_video") as v,
                catalog.open(sample_id, "source_video_mask") as m,
            ):
                probes = probe_fields({"source_video": v}, {"source_video_mask": m})
                plan = plan_sample(probes, sampler)
                t0 = time.perf_counter()
                decode_mask_field(m, plan)
                times.append(time.perf_counter() - t0)
        out[name] = round(statistics.median(times) * 1e3, 2)
    out["stride4_over_all"] = round(out["stride 4"] / out["all frames"], 3)
    return out


ONE_FRAME = FrameSampler("stride", stride=1, num_frames=1)


def resume_times(catalog: Catalog, n: int, repeat: int) -> dict[str, Any]:
    """Time to the first sample after ``load_state_dict`` at the start vs the end of the shard."""
    fields = ["source_video", "edited_video"]
    res: dict[str, Any] = {}
    order = SparkleDataset(catalog, fields=fields, frames=ONE_FRAME).order()
    for where, k in (("start", 0), ("end", n - 1)):
        times = []
        for _ in range(repeat):
            ds = SparkleDataset(catalog, fields=fields, frames=ONE_FRAME)
            state = ds.state_dict()
            state["yielded"] = k
            t0 = time.perf_counter()
            ds.load_state_dict(state)
            sample = next(iter(ds))
            times.append(time.perf_counter() - t0)
            assert sample["sample_id"] == order[k], (sample["sample_id"], order[k])
        res[f"in_process_{where}_ms"] = round(statistics.median(times) * 1e3, 2)
    for where, y in (("start", 0), ("end", (n - 2) // 2)):
        times = []
        for _ in range(max(1, repeat // 2)):
            ds = SparkleDataset(catalog, fields=fields, frames=ONE_FRAME)
            slot = ds.state_dict()
            states = [dict(slot, worker=w, num_workers=WORKERS, yielded=y) for w in range(WORKERS)]
            state = merge_states(states)
            t0 = time.perf_counter()
            ds.load_state_dict(state)
            it = iter(DataLoader(ds, batch_size=None, num_workers=WORKERS))
            sample = next(it)
            times.append(time.perf_counter() - t0)
            assert sample["sample_id"] == order[state["consumed_prefix"]]
            del it
        res[f"dataloader_{where}_ms"] = round(statistics.median(times) * 1e3, 1)
    res["in_process_end_over_start"] = round(
        res["in_process_end_ms"] / res["in_process_start_ms"], 2
    )
    res["dataloader_end_over_start"] = round(
        res["dataloader_end_ms"] / res["dataloader_start_ms"], 2
    )
    return res


def _pss_mb() -> float:
    import psutil

    me = psutil.Process()
    total = 0
    for p in (me, *me.children(recursive=True)):
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / MB


def memory_vs_shard(small: Catalog, large: Catalog) -> dict[str, Any]:
    """Iterate all of a small and of a large shard (one frame per clip): peak memory, and PSS of
    main + workers read in the loop after the first samples and at the last sample."""
    out: dict[str, Any] = {}
    for name, cat in (("small", small), ("large", large)):
        ds = SparkleDataset(cat, fields=["source_video", "edited_video"], frames=ONE_FRAME)
        n = len(ds)
        marks: dict[str, float] = {}

        def go(
            ds: SparkleDataset = ds, n: int = n, marks: dict[str, float] = marks
        ) -> tuple[int, int]:
            k = 0
            for _ in DataLoader(ds, batch_size=None, num_workers=WORKERS):
                k += 1
                if k == min(8, n):
                    marks["pss_after_8_mb"] = round(_pss_mb(), 1)
                if k == n:
                    marks["pss_at_last_mb"] = round(_pss_mb(), 1)
            return k, 2 * k

        run = timed(go)
        out[name] = {
            "members": run.pairs,
            **marks,
            "peak_rss_mb": round(run.peak_rss_mb, 1),
            "peak_pss_mb": round(run.peak_pss_mb, 1),
            "pairs_per_s": round(run.pairs_per_s, 1),
        }
    out["large_over_small_pss_end"] = round(
        out["large"]["pss_at_last_mb"] / out["small"]["pss_at_last_mb"], 3
    )
    out["large_over_small_peak_pss"] = round(
        out["large"]["peak_pss_mb"] / out["small"]["peak_pss_mb"], 3
    )
    out["large_over_small_peak_rss"] = round(
        out["large"]["peak_rss_mb"] / out["small"]["peak_rss_mb"], 3
    )
    return out


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    import imageio
    import psutil
    import webdataset

    return machine_info(
        memory_gb=round(psutil.virtual_memory().total / 1024**3, 1),
        load_average_at_start=[round(x, 2) for x in os.getloadavg()],
        torch=torch.__version__,
        av=av.__version__,
        ffmpeg_libavcodec=".".join(map(str, av.library_versions["libavcodec"])),
        numpy=np.__version__,
        imageio=imageio.__version__,
        webdataset=getattr(webdataset, "__version__", "?"),
    )


def target(
    name: str,
    value: float,
    goal: str,
    ok: bool,
    cpu: float | None = None,
    cpu_ok: bool | None = None,
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "target": name,
        "value": value,
        "goal": goal,
        "status": "PASS" if ok else "MISS",
    }
    if cpu is not None:
        t["cpu_based_value"] = cpu
        t["cpu_based_status"] = "PASS" if cpu_ok else "MISS"
    return t


LABELS = {
    "a ceiling": "a",
    "b kiwi": "b",
    "c wds": "c",
    "a' ceiling+buffer": "a'",
    "ours (copy on send)": "copy-on-send",
    "ours (no pool)": "no-pool",
}


def make_targets(result: dict[str, Any], large_n: int, small_n: int) -> list[dict[str, Any]]:
    """PASS/MISS per target of the issue, from the wall-clock ratios (median of within-repeat
    ratios); the CPU-time ratio is given beside each as the noise-robust estimate."""
    c = result["configs"]
    out = []

    def speed(cfg: str, other: str, goal: float, text: str) -> None:
        if cfg in c and f"ours/{other}" in c[cfg]["ratios"]:
            v, vc = c[cfg]["ratios"][f"ours/{other}"], c[cfg]["cpu_ratios"][f"ours/{other}"]
            out.append(target(text, v, f">= {goal}", v >= goal, vc, vc >= goal))

    for cfg in ("720p", "480x832"):
        speed(cfg, "a", 0.85, f"{cfg}: ours >= 0.85x decode ceiling (a)")
    speed("720p", "b", 3.5, "720p: ours >= 3.5x Kiwi-Edit loader (b)")
    speed("480x832", "b", 4.0, "480x832: ours >= 4x Kiwi-Edit loader (b)")
    speed(
        "stride4", "a", 0.85, "stride 4 costs what decoding the kept frames needs: ours >= 0.85x a"
    )
    if "stride4" in c and "720p" in c:
        # Decoding H.264 still walks every frame at stride 4: only the conversion of the
        # dropped frames is saved. So the bar is the ceiling's own speed-up (a loader that
        # converted the full clip would gain nothing).
        m4, m1 = c["stride4"]["methods"], c["720p"]["methods"]
        sp = round(m4["ours"]["pairs_per_s"] / m1["ours"]["pairs_per_s"], 2)
        spc = round(m1["ours"]["cpu_s_per_pair_total"] / m4["ours"]["cpu_s_per_pair_total"], 2)
        ca = m4["a ceiling"]["pairs_per_s"] / m1["a ceiling"]["pairs_per_s"]
        cac = m1["a ceiling"]["cpu_s_per_pair_total"] / m4["a ceiling"]["cpu_s_per_pair_total"]
        goal, goal_cpu = round(0.95 * ca, 2), round(0.95 * cac, 2)
        out.append(
            target(
                "stride 4 is not a full-clip conversion: speed-up of ours, stride 4 over all "
                f"frames (the ceiling's: {ca:.2f}, CPU-based {cac:.2f})",
                sp,
                f">= {goal} (0.95x the ceiling's; CPU-based >= {goal_cpu})",
                sp >= goal,
                spc,
                spc >= goal_cpu,
            )
        )
    md = result["mask_decode_ms"]
    out.append(
        target(
            "masks cost only the frames kept: mask decode stride 4 / all frames",
            md["stride4_over_all"],
            "<= 0.5 (kept share 0.26)",
            md["stride4_over_all"] <= 0.5,
        )
    )
    mv = result["memory_vs_shard"]
    out.append(
        target(
            f"memory does not grow with shard size: PSS at the last sample, "
            f"{large_n} vs {small_n} members",
            mv["large_over_small_pss_end"],
            "<= 1.1",
            mv["large_over_small_pss_end"] <= 1.1,
        )
    )
    rs = result["resume"]
    out.append(
        target(
            "resume: time to first sample at the end of the large shard / at the start",
            rs["in_process_end_over_start"],
            "<= 1.5",
            rs["in_process_end_over_start"] <= 1.5,
        )
    )
    return out


def print_table(result: dict[str, Any]) -> None:
    print()
    head = (
        f"{'config':<13} {'method':<22} {'pairs/s':>8} {'frames/s':>9} {'CPU s/pair':>11} "
        f"{'peak RSS MB':>12} {'peak PSS MB':>12}"
    )
    print(head)
    print("-" * len(head))
    for cfg, block in result["configs"].items():
        for method, s in block["methods"].items():
            print(
                f"{cfg:<13} {method:<22} {s['pairs_per_s']:>8.3f} {s['frames_per_s']:>9.1f} "
                f"{s['cpu_s_per_pair_total']:>11.2f} {s['peak_rss_mb']:>12.0f} "
                f"{s['peak_pss_mb']:>12.0f}"
            )
        for key, label in (("ratios", "wall"), ("cpu_ratios", "CPU")):
            if block[key]:
                items = ", ".join(f"{k} {v:.2f}" for k, v in block[key].items())
                print(f"{'':<13} {label} ratios: {items}")
    print()
    for t in result["targets"]:
        cpu = ""
        if "cpu_based_value" in t:
            cpu = f"; CPU-based {t['cpu_based_value']} {t['cpu_based_status']}"
        print(f"{t['status']:<5} {t['target']}: {t['value']} (goal {t['goal']}{cpu})")


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: fewer pairs, 1 repeat, no synthetic check (< 1 min)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per method and configuration (default 3; quick 1)",
    )
    ap.add_argument(
        "--copies",
        type=int,
        default=None,
        help="copies of each real pair in the main tree (default 8: 40 pairs per run; quick 1)",
    )
    ap.add_argument(
        "--kiwi-pairs",
        type=int,
        default=None,
        help="pairs per Kiwi-Edit run (default 2: one per worker)",
    )
    ap.add_argument("--shard-pairs", type=int, default=2, help="pairs per shard in the main tree")
    ap.add_argument(
        "--large-members",
        type=int,
        default=None,
        help="members of the large shard (default 200; quick 40)",
    )
    ap.add_argument("--small-members", type=int, default=10, help="members of the small shard")
    ap.add_argument(
        "--synthetic-samples",
        type=int,
        default=None,
        help="samples of the preset='real' tree (default 2; quick 0 unless no real clips)",
    )
    ap.add_argument(
        "--clips",
        type=Path,
        default=REAL_CLIPS,
        help="folder of real pairs {task}_source.mp4 / {task}_edited.mp4",
    )
    ap.add_argument(
        "--configs",
        nargs="*",
        default=None,
        choices=list(CONFIGS),
        help="configurations to run (default all; quick: 720p stride4+mask)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS, help="result JSON")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    quick = args.quick
    repeat = args.repeat or (1 if quick else 3)
    copies = args.copies or (1 if quick else 8)
    kiwi_pairs = args.kiwi_pairs or 2
    large_n = args.large_members or (40 if quick else 200)
    configs = args.configs or (["720p", "stride4+mask"] if quick else list(CONFIGS))
    have_real = args.clips.is_dir() and any(args.clips.glob("Sparkle_*_source.mp4"))
    synth_n = (
        args.synthetic_samples
        if args.synthetic_samples is not None
        else (0 if quick and have_real else 2)
    )
    torch.set_num_threads(1)
    started = time.perf_counter()
    info = machine()
    result: dict[str, Any] = {"machine": info}

    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        synth_root: Path | None = None
        if synth_n:
            synth_root, synth_clips = synthetic_tree(tmp / "synthetic", synth_n)
        clips = real_clips(args.clips) if have_real else synth_clips
        source = (
            f"real clips in {args.clips}"
            if have_real
            else f"make_sample_tree(preset='real', samples={synth_n}) clips"
        )
        main_tree = write_tree(
            tmp / "main" / "Sparkle",
            [(c.edit_type, c.number + 1000 * k, c) for k in range(copies) for c in clips],
            shard_pairs=args.shard_pairs,
        )
        # the last member repeats the first clip: resume at the end decodes the same content
        cycle = [clips[i % len(clips)] for i in range(large_n - 1)] + [clips[0]]
        large_tree = write_tree(
            tmp / "large" / "Sparkle",
            [("location", i, c) for i, c in enumerate(cycle)],
            shard_pairs=large_n,
            masks=False,
            extracted=False,
        )
        small_tree = write_tree(
            tmp / "small" / "Sparkle",
            [("location", i, c) for i, c in enumerate(cycle[: args.small_members])],
            shard_pairs=args.small_members,
            masks=False,
            extracted=False,
        )
        build_s = time.perf_counter() - t0
        catalog = build_catalog(main_tree.root, cache=False)
        tc = time.perf_counter()
        large_cat = build_catalog(large_tree.root, cache=False)
        large_catalog_s = time.perf_counter() - tc
        small_cat = build_catalog(small_tree.root, cache=False)
        pairs = main_tree.pairs
        kiwi_set = spread(pairs, kiwi_pairs)
        csv_path, kiwi_base = kiwi_csv(main_tree, kiwi_set, tmp)
        result["data"] = {
            "clips": source,
            "distinct_pairs": len(clips),
            "frame_counts": sorted({c.frames for c in clips}),
            "size": f"{clips[0].width}x{clips[0].height}",
            "masks": "synthetic moving ellipse per real clip (card NPZ, compressed)"
            if have_real
            else "the tree's own",
            "main_tree": {
                "pairs": len(pairs),
                "copies": copies,
                "pairs_per_shard": args.shard_pairs,
                "source_shards": len(main_tree.source_shards),
                "mb": round(main_tree.bytes / MB, 1),
            },
            "kiwi_pairs": len(kiwi_set),
            "large_shard": {
                "members": large_n,
                "source_shard_mb": round(Path(large_tree.source_shards[0]).stat().st_size / MB, 1),
            },
            "small_shard": {
                "members": args.small_members,
                "source_shard_mb": round(Path(small_tree.source_shards[0]).stat().st_size / MB, 1),
            },
            "build_s": round(build_s, 1),
        }
        print(f"data: {len(pairs)} pairs from {source}; built in {build_s:.1f} s", flush=True)

        # warm-up (untimed): page cache, libraries, and a few GB of guest memory touched once
        # (on this VM the first run after idling paid ~2x the kernel time for fresh memory)
        ceiling_pair((pairs[0].source, pairs[0].edited, 1, Geo(None, None), False))
        run_ours(catalog, CONFIGS["720p"])

        def make_fns(cfg_name: str) -> dict[str, Callable[[], tuple[int, int]]]:
            cfg = CONFIGS[cfg_name]
            geo = geometry(cfg, clips[0].height, clips[0].width)
            if cfg.mask:  # compared with the same configuration without the mask ("ours" there)
                return {"ours": lambda: run_ours(catalog, cfg)}
            fns: dict[str, Callable[[], tuple[int, int]]] = {
                "a ceiling": lambda: run_ceiling(pairs, cfg),
                "ours": lambda: run_ours(catalog, cfg),
            }
            if cfg.stride == 1:  # Kiwi-Edit reads contiguous frames; its stride is not timed
                fns["b kiwi"] = lambda: run_kiwi(csv_path, kiwi_base, cfg)
            fns["c wds"] = lambda: run_wds(main_tree, cfg, geo)
            if cfg_name == "720p":
                fns["a' ceiling+buffer"] = lambda: run_ceiling(pairs, cfg, keep=True)
                fns["ours (copy on send)"] = lambda: run_ours(catalog, cfg, shared=False)
                fns["ours (no pool)"] = lambda: run_ours(catalog, cfg, pool=False)
            return fns

        methods: dict[str, dict[str, list[Run]]] = {
            c: {m: [] for m in make_fns(c)} for c in configs
        }
        for r in range(repeat):
            for cfg_name in configs:
                fns = make_fns(cfg_name)
                names = list(fns)
                names = names[r % len(names) :] + names[: r % len(names)]
                for m in names:
                    run = timed(fns[m])
                    methods[cfg_name][m].append(run)
                    cpu = " ".join(f"{v:.2f}" for v in run.cpu.values())
                    print(
                        f"  [{r + 1}/{repeat}] {cfg_name:<13} {m:<22} "
                        f"{run.pairs_per_s:6.3f} pairs/s {run.frames_per_s:7.1f} frames/s  "
                        f"peak RSS {run.peak_rss_mb:6.0f} MB "
                        f"cpu/pair main u/s workers u/s {cpu} "
                        f"({time.perf_counter() - started:.0f} s)",
                        flush=True,
                    )

        configs_out: dict[str, Any] = {}
        for cfg_name, by_method in methods.items():
            ours = by_method["ours"]
            ratios: dict[str, float] = {}
            cpu_ratios: dict[str, float] = {}
            others = [(m, by_method[m]) for m in by_method if m != "ours"]
            base = cfg_name.replace("+mask", "")
            if base != cfg_name and base in methods:
                others.append(("ours without mask", methods[base]["ours"]))
            for m, runs in others:
                label = "ours/" + LABELS.get(m, m)
                ratios[label] = ratio(ours, runs)
                cpu_ratios[label] = cpu_ratio(ours, runs)
            configs_out[cfg_name] = {
                "methods": {m: summarize(v) for m, v in by_method.items()},
                "ratios": ratios,
                "cpu_ratios": cpu_ratios,
            }
        result["configs"] = configs_out

        mask_sid = pairs[0].sample_id
        result["mask_decode_ms"] = mask_decode_ms(catalog, mask_sid, 3 if quick else 7)
        result["mask_decode_ms"]["sample"] = mask_sid
        print(f"mask decode: {result['mask_decode_ms']}", flush=True)
        result["resume"] = resume_times(large_cat, large_n, 3 if quick else 7)
        result["resume"]["members"] = large_n
        result["resume"]["catalog_build_s"] = round(large_catalog_s, 3)
        print(f"resume: {result['resume']}", flush=True)
        result["memory_vs_shard"] = memory_vs_shard(small_cat, large_cat)
        print(f"memory vs shard: {result['memory_vs_shard']}", flush=True)

        if synth_root is not None and have_real:
            syn_cat = build_catalog(synth_root, cache=False)
            syn_pairs = [
                Pair(
                    f"Sparkle_location_{c.number:06d}",
                    "location",
                    str(c.source),
                    str(c.edited),
                    None,
                    c.frames,
                    c.source.name,
                )
                for c in synth_clips
            ]
            check: dict[str, Any] = {"samples": synth_n, "shards": "as generated (misaligned)"}
            cfg = CONFIGS["720p"]
            a = [timed(lambda: run_ceiling(syn_pairs, cfg))]
            o = [timed(lambda: run_ours(syn_cat, cfg))]
            check["720p"] = {
                "a ceiling": summarize(a),
                "ours": summarize(o),
                "ours/a": ratio(o, a),
                "cpu ours/a": cpu_ratio(o, a),
            }
            result["synthetic_check"] = check
            print(f"synthetic check: ours/a {check['720p']['ours/a']}", flush=True)

    result["targets"] = make_targets(result, large_n, args.small_members)
    result["parameters"] = {
        "mode": "quick" if quick else "full",
        "repeat": repeat,
        "copies": copies,
        "kiwi_pairs": kiwi_pairs,
        "workers": WORKERS,
        "large_members": large_n,
        "small_members": args.small_members,
        "synthetic_samples": synth_n,
        "decoder_threads": 1,
        "timing": "Pool/DataLoader creation to last sample; consumer reads shapes only",
    }
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_table(result)
    print(f"\nelapsed {result['elapsed_s']} s")
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
