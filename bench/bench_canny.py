"""The ``edited_video_canny`` stage vs a naive per-frame baseline, frames/s, one run.

On the real clips (``../shared/real_clips``): the source video, the edited video standing in
for the background video (the clips ship no background video) and an elliptic foreground
mask. Both paths compute the same edges (grey, 5x5 blur, ``cv2.Canny(100, 200)``, source
inside the mask, background outside) and encode an H.264 MP4:

* ``naive``: decode each video completely with PyAV (``frame.to_ndarray(format="rgb24")``),
  ``cv2.Canny`` per frame, encode with PyAV's default ``libx264`` settings;
* ``stage``: :func:`sparkle_data.regen.canny.canny_video_bytes` (streamed decode of both
  videos, bit-exact single-thread encoder at the stage's default ``crf``/preset).

Medians over ``--repeat`` runs (interleaved) per clip, frames/s and the ratio stage/naive;
written to ``bench/results/canny.json``. Compare ratios, not absolute times.

    python bench/bench_canny.py [--repeat 2] [--clips DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from _machine import machine_info

from sparkle_data.regen.canny import canny_video_bytes
from sparkle_data.regen.config import CannyConfig

RESULTS = Path(__file__).resolve().parent / "results" / "canny.json"
CLIPS = Path(__file__).resolve().parents[2] / "shared" / "real_clips"


def ellipse_mask(t: int, h: int, w: int) -> np.ndarray:  # type: ignore[type-arg]
    yy, xx = np.mgrid[:h, :w]
    m = ((xx - w / 2) / (w / 5)) ** 2 + ((yy - h / 2) / (h / 2.5)) ** 2 <= 1
    return np.broadcast_to(m, (t, h, w)).copy()


def decode_all(data: bytes) -> list[np.ndarray]:  # type: ignore[type-arg]
    with av.open(io.BytesIO(data)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def edges(rgb: np.ndarray, cfg: CannyConfig) -> np.ndarray:  # type: ignore[type-arg]
    g = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (cfg.blur, cfg.blur), 0)
    return cv2.Canny(g, cfg.low, cfg.high) > 0  # type: ignore[no-any-return]


def naive(src: bytes, bg: bytes, mask: np.ndarray, cfg: CannyConfig) -> bytes:  # type: ignore[type-arg]
    s, b = decode_all(src), decode_all(bg)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        st = out.add_stream("libx264", rate=16)
        st.width, st.height, st.pix_fmt = s[0].shape[1], s[0].shape[0], "yuv420p"
        for i, frame in enumerate(s):
            e = np.where(mask[i], edges(frame, cfg), edges(b[i], cfg))
            rgb = np.repeat((e.astype(np.uint8) * 255)[..., None], 3, axis=2)
            for p in st.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--clips", type=Path, default=CLIPS)
    a = ap.parse_args()
    cfg = CannyConfig()
    sources = sorted(a.clips.glob("*_source.mp4"))
    if not sources:
        raise SystemExit(f"no *_source.mp4 under {a.clips}")
    rows: dict[str, Any] = {}
    for src_path in sources:
        src = src_path.read_bytes()
        bg = src_path.with_name(src_path.name.replace("_source", "_edited")).read_bytes()
        t = len(decode_all(src))
        h, w = decode_all(src)[0].shape[:2]
        mask = ellipse_mask(t, h, w)
        times: dict[str, list[float]] = {"naive": [], "stage": []}
        for _ in range(a.repeat):
            for name, fn in (("naive", naive), ("stage", canny_video_bytes)):
                t0 = time.perf_counter()
                fn(src, bg, mask, cfg)
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows[src_path.stem] = {
            "frames": t,
            "size": [w, h],
            "naive_fps": round(t / med["naive"], 2),
            "stage_fps": round(t / med["stage"], 2),
            "stage_vs_naive": round(med["naive"] / med["stage"], 3),
        }
        print(src_path.stem, rows[src_path.stem], flush=True)
    ratios = [r["stage_vs_naive"] for r in rows.values()]
    result = {
        "machine": machine_info(opencv=cv2.__version__, av=av.__version__),
        "config": {"blur": cfg.blur, "low": cfg.low, "high": cfg.high, "crf": cfg.crf,
                   "x264_preset": cfg.x264_preset},
        "repeat": a.repeat,
        "clips": rows,
        "median_stage_vs_naive": statistics.median(ratios),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"median_stage_vs_naive": result["median_stage_vs_naive"]}))


if __name__ == "__main__":
    main()
