"""Clip decoding: a per-frame-PIL baseline vs :func:`read_video`, one run, same clips.

Clips: the real Sparkle clips in ``../shared/real_clips`` when present (or ``--clips DIR``),
otherwise two synthetic 1280x720, 81-frame H.264 clips encoded here. Cases, per clip:

* ``baseline``: decode every frame, ``to_ndarray("rgb24")``, resize each frame with PIL to
  832x480 (bilinear), ``np.stack`` - the shape of Kiwi-Edit's loader without its second decode;
* ``probe_video``: header only;
* ``read_video all``: every frame, native size;
* ``read_video all 480x832``: every frame, resized in swscale;
* ``read_video 4 frames 480x832``: frames ``[0, 20, 40, 60]``;
* ``read_video 4 frames 480x832 TCHW``: the same, planar output.

One decoding thread everywhere. Medians over ``--repeat`` interleaved runs; ratios against
``baseline``; printed and written to ``bench/results/video_decode.json`` with the machine.

    python bench/bench_video_decode.py [--repeat 5] [--clips DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from _machine import machine_info
from PIL import Image

from sparkle_data.readers.video import probe_video, read_video

REAL_CLIPS = Path(__file__).resolve().parents[2] / "shared" / "real_clips"
RESULTS = Path(__file__).resolve().parent / "results" / "video_decode.json"
OUT_H, OUT_W = 480, 832


def baseline(path: str) -> np.ndarray:  # type: ignore[type-arg]
    frames = []
    with av.open(path) as c:
        stream = c.streams.video[0]
        stream.thread_count = 1
        for frame in c.decode(stream):
            img = Image.fromarray(frame.to_ndarray(format="rgb24"))
            frames.append(np.asarray(img.resize((OUT_W, OUT_H), Image.Resampling.BILINEAR)))
    return np.stack(frames)


def synthetic_clips(tmp: str, n: int = 2) -> list[str]:
    paths = []
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (720 // 8, 1280 // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    for k in range(n):
        path = os.path.join(tmp, f"synthetic_{k}.mp4")
        with av.open(path, "w") as c:
            s = c.add_stream("libx264", rate=16)
            s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
            s.options = {"preset": "veryfast", "crf": "23", "keyint": "300"}
            for i in range(81):
                img = np.roll(base, shift=(2 * i + k, 3 * i), axis=(0, 1))
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        paths.append(path)
    return paths


def machine() -> dict[str, Any]:
    return machine_info(av=av.__version__, ffmpeg=av.library_versions.get("libavcodec"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clips", type=Path, default=REAL_CLIPS)
    parser.add_argument("--max-clips", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clips = sorted(str(p) for p in args.clips.glob("*.mp4")) if args.clips.is_dir() else []
        source = f"real clips in {args.clips}" if clips else "synthetic 1280x720 x 81"
        clips = clips[: args.max_clips] or synthetic_clips(tmp)
        idx = [0, 20, 40, 60]
        for path in clips[:1]:  # correctness: swscale resize equals PyAV's own
            with av.open(path) as c:
                ref = [
                    f.to_ndarray(format="rgb24", width=OUT_W, height=OUT_H)
                    for i, f in enumerate(c.decode(video=0))
                    if i in idx
                ]
            assert np.array_equal(read_video(path, indices=idx, height=OUT_H, width=OUT_W), ref)

        cases: dict[str, Callable[[str], object]] = {
            "baseline (PIL per frame)": baseline,
            "probe_video": probe_video,
            "read_video all": lambda p: read_video(p),
            "read_video all 480x832": lambda p: read_video(p, height=OUT_H, width=OUT_W),
            "read_video 4 frames 480x832": lambda p: read_video(
                p, indices=idx, height=OUT_H, width=OUT_W
            ),
            "read_video 4 frames 480x832 TCHW": lambda p: read_video(
                p, indices=idx, height=OUT_H, width=OUT_W, layout="TCHW"
            ),
            "read_video 4 frames, bytes source": lambda p: read_video(
                io.BytesIO(Path(p).read_bytes()), indices=idx, height=OUT_H, width=OUT_W
            ),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.repeat):
            for path in clips:
                for k, fn in cases.items():
                    t0 = time.perf_counter()
                    fn(path)
                    times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["baseline (PIL per frame)"])
    rows = {}
    print(f"{len(clips)} clips ({source}), {args.repeat} repeats, medians per clip")
    for k, ts in times.items():
        med = statistics.median(ts)
        rows[k] = {"median_ms": round(med * 1e3, 2), "speedup_vs_baseline": round(base / med, 2)}
        print(f"  {k:36s} {med * 1e3:9.2f} ms   x{base / med:7.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": machine(), "clips": source, "cases": rows}, indent=2) + "\n"
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
