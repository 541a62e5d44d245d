"""Benchmark the record table loaders against naive baselines, in one run.

Generates synthetic files shaped like the real ones in a temporary directory:

* ``edited_video_score.jsonl``: ~10 KB per line (four frames, each with two reasoning texts
  and two raw outputs), like the real file (30,000 lines ~ 326 MB). The default is 30,000
  lines; the 140K-line figure is extrapolated linearly (the loaders stream line by line, so
  time is linear in bytes) and printed as such;
* ``edited_frame0_score.jsonl``: ~1.2 KB per line, 140,000 lines by default;
* ``foreground_grounding_r2.jsonl``: 4 labels x 11 frames per line (~3 KB), 140,000 lines;
* ``location_train.csv``: 140,000 rows.

Each loader and baseline runs ``--repeat`` times (file in the page cache after the first
write); medians and the ratio baseline / ours are printed and written to
``bench/results/records.json`` together with the machine they ran on. The baselines are what
a user would write without this package: ``json.loads`` per line building dicts, then a
DataFrame, and ``pandas.read_json(lines=True)`` (which keeps every text column).

    python bench/bench_records.py                    # ~1.5 minutes on 2 cores
    python bench/bench_records.py --rows 20000 --video-rows 5000 --repeat 2   # quick
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pathlib
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sparkle_data.readers.grounding import load_grounding_summary_table
from sparkle_data.readers.prompts import load_prompts_csv
from sparkle_data.readers.scores import load_image_score_table, load_video_score_table

FULL_ROWS = 140_000
WORDS = (
    "the",
    "edited",
    "background",
    "shows",
    "a",
    "rooftop",
    "overlooking",
    "modern",
    "city",
    "skyline",
    "at",
    "dusk",
    "with",
    "warm",
    "light",
    "natural",
    "shadows",
    "consistent",
    "subject",
    "identity",
    "slight",
    "distortion",
    "of",
    "hands",
    "realistic",
    "lighting",
    "convincing",
    "perspective",
    "overall",
    "edit",
    "follows",
)


def _texts(rng: random.Random, n: int, words: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(n)]


def write_video_scores(path: pathlib.Path, rows: int, rng: random.Random) -> None:
    reasons = _texts(rng, 64, 80)  # ~0.5 KB each, four per frame -> ~11 KB per line
    prompts = _texts(rng, 64, 30)
    with path.open("w") as f:
        for i in range(rows):
            frames = []
            for _ in range(4):
                sc, pq = round(rng.uniform(5, 10), 1), round(rng.uniform(5, 10), 1)
                frames.append(
                    {
                        "SC_score": sc,
                        "PQ_score": pq,
                        "O_score": (sc * pq) ** 0.5,
                        "SC_score_reasoning": rng.choice(reasons),
                        "PQ_score_reasoning": rng.choice(reasons),
                        "SC_raw_output": json.dumps(
                            {"reasoning": rng.choice(reasons), "score": [sc]}
                        ),
                        "PQ_raw_output": json.dumps(
                            {"reasoning": rng.choice(reasons), "score": [pq]}
                        ),
                    }
                )
            rec = {
                "id": f"Sparkle_location_{i:06d}",
                "prompt": rng.choice(prompts),
                "frame_indices": [1, 26, 51, 76],
                "editscore": frames,
            }
            f.write(json.dumps(rec) + "\n")


def write_image_scores(path: pathlib.Path, rows: int, rng: random.Random) -> None:
    reasons = _texts(rng, 64, 80)
    prompts = _texts(rng, 64, 30)
    with path.open("w") as f:
        for i in range(rows):
            rec = {
                "id": f"Sparkle_location_{i:06d}",
                "prompt": rng.choice(prompts),
                "editscore": {
                    "prompt_following": round(rng.uniform(5, 10), 1),
                    "consistency": round(rng.uniform(5, 10), 1),
                    "perceptual_quality": round(rng.uniform(5, 10), 1),
                    "overall": rng.uniform(5, 10),
                    "SC_reasoning": rng.choice(reasons),
                    "PQ_reasoning": rng.choice(reasons),
                },
            }
            f.write(json.dumps(rec) + "\n")


def write_grounding(path: pathlib.Path, rows: int, rng: random.Random) -> None:
    """Lines are assembled from a pool of pre-serialised frames (json.dumps per line would
    dominate the run); ~5% of the boxes are ``[]``."""
    labels = ["woman in brown hat and coat", "clasped hands", "striped shirt", "brown hat"]

    def box() -> list[int]:
        if rng.random() < 0.05:
            return []
        x1, y1 = rng.randrange(0, 900), rng.randrange(0, 900)
        return [x1, y1, rng.randrange(x1, 1001), rng.randrange(y1, 1001)]

    frames = [json.dumps([{"bbox_2d": box(), "label": lab} for lab in labels]) for _ in range(997)]
    head = json.dumps(
        {
            "prompt": "Shift the background to a rooftop overlooking a modern city skyline.",
            "edit_type": "location",
            "round1_labels": labels,
        }
    )[1:-1]
    with path.open("w") as f:
        for i in range(rows):
            picks = [frames[(i * 7 + k * 13) % len(frames)] for k in range(12)]
            f.write(
                f'{{"id": "Sparkle_location_{i:06d}", {head}, "round1_objects": {picks[0]}, '
                f'"frame_objects": [{", ".join(picks[1:])}]}}\n'
            )


def write_prompts_csv(path: pathlib.Path, rows: int, rng: random.Random) -> None:
    prompts = _texts(rng, 64, 30)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "src_video", "tgt_video", "task"])
        for i in range(rows):
            s = f"Sparkle_location_{i:06d}"
            p = rng.choice(prompts) + ', with "quotes", commas'
            w.writerow([p, f"location/source_video/{s}.mp4", f"location/edited_video/{s}.mp4", s])


# --------------------------------------------------------------------------- baselines


def naive_video(path: pathlib.Path) -> pd.DataFrame:
    rows = []
    with path.open("rb") as f:
        for line in f:
            rec = json.loads(line)
            o = [e["O_score"] for e in rec["editscore"]]
            row: dict[str, Any] = {"sample_id": rec["id"], "mean_o_score": sum(o) / len(o)}
            row["min_o_score"] = min(o)
            for i, e in enumerate(rec["editscore"]):
                row[f"frame_index_{i}"] = rec["frame_indices"][i]
                row[f"sc_score_{i}"] = e["SC_score"]
                row[f"pq_score_{i}"] = e["PQ_score"]
                row[f"o_score_{i}"] = e["O_score"]
            rows.append(row)
    return pd.DataFrame(rows)


def naive_image(path: pathlib.Path) -> pd.DataFrame:
    rows = []
    with path.open("rb") as f:
        for line in f:
            rec = json.loads(line)
            es = rec["editscore"]
            rows.append(
                {
                    "sample_id": rec["id"],
                    "prompt_following": es["prompt_following"],
                    "consistency": es["consistency"],
                    "perceptual_quality": es["perceptual_quality"],
                    "overall": es["overall"],
                }
            )
    return pd.DataFrame(rows)


def naive_grounding(path: pathlib.Path) -> pd.DataFrame:
    rows = []
    with path.open("rb") as f:
        for line in f:
            rec = json.loads(line)
            frames = rec["frame_objects"]
            empty = sum(1 for fr in frames for o in fr if not o["bbox_2d"])
            n = len(rec["round1_labels"])
            rows.append(
                {
                    "sample_id": rec["id"],
                    "num_labels": n,
                    "num_frames": len(frames),
                    "num_empty_boxes": empty,
                    "empty_box_share": empty / (n * len(frames)) if n and frames else 1.0,
                }
            )
    return pd.DataFrame(rows)


def read_json_lines(path: pathlib.Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True)


# --------------------------------------------------------------------------- timing


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _frame(value: object) -> pd.DataFrame:
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, got {type(value).__name__}")
    return value


def machine() -> dict[str, object]:
    import orjson

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "orjson": orjson.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=FULL_ROWS, help="image/grounding/CSV rows")
    ap.add_argument("--video-rows", type=int, default=30_000, help="edited_video_score rows")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results/records.json"))
    ap.add_argument("--skip-read-json", action="store_true", help="skip pandas.read_json")
    args = ap.parse_args(argv)

    rng = random.Random(0)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="sparkle-bench-records-") as tmp:
        root = pathlib.Path(tmp)
        files = {
            "video": (root / "edited_video_score.jsonl", args.video_rows, write_video_scores),
            "image": (root / "edited_frame0_score.jsonl", args.rows, write_image_scores),
            "grounding": (root / "foreground_grounding_r2.jsonl", args.rows, write_grounding),
            "prompts": (root / "location_train.csv", args.rows, write_prompts_csv),
        }
        for path, rows, write in files.values():
            t0 = time.perf_counter()
            write(path, rows, rng)
            size = path.stat().st_size
            print(f"wrote {path.name}: {rows} rows, {size / 1e6:.0f} MB "
                  f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip

        cases: list[tuple[str, str, Callable[[], object]]] = []
        v, i, g, p = (files[k][0] for k in ("video", "image", "grounding", "prompts"))
        cases += [
            ("video", "ours: load_video_score_table", lambda: load_video_score_table(v)),
            ("video", "naive: json.loads + dicts + DataFrame", lambda: naive_video(v)),
            ("image", "ours: load_image_score_table", lambda: load_image_score_table(i)),
            ("image", "naive: json.loads + dicts + DataFrame", lambda: naive_image(i)),
            ("grounding", "ours: load_grounding_summary_table",
             lambda: load_grounding_summary_table(g)),
            ("grounding", "naive: json.loads + dicts + DataFrame", lambda: naive_grounding(g)),
            ("prompts", "ours: load_prompts_csv (validated PromptRow)",
             lambda: load_prompts_csv(p)),
            ("prompts", "naive: pandas.read_csv (no validation)", lambda: pd.read_csv(p)),
        ]  # fmt: skip
        if not args.skip_read_json:
            cases += [
                ("video", "naive: pandas.read_json(lines=True)", lambda: read_json_lines(v)),
                ("image", "naive: pandas.read_json(lines=True)", lambda: read_json_lines(i)),
            ]
        outputs: dict[tuple[str, str], object] = {}
        for key, label, fn in cases:
            med, out = median_time(fn, args.repeat)
            outputs[(key, label)] = out
            entry = results.setdefault(
                key,
                {
                    "file": files[key][0].name,
                    "rows": files[key][1],
                    "mb": round(files[key][0].stat().st_size / 1e6, 1),
                    "timings_s": {},
                },
            )
            entry["timings_s"][label] = round(med, 4)  # type: ignore[index]
            print(f"{key:10s} {label:48s} {med:8.3f} s")

        # Sanity: ours and the naive baseline agree on the numbers.
        naive = "naive: json.loads + dicts + DataFrame"
        ours_v = _frame(outputs[("video", "ours: load_video_score_table")])
        base_v = _frame(outputs[("video", naive)])
        np.testing.assert_allclose(ours_v["mean_o_score"], base_v["mean_o_score"], rtol=1e-12)
        ours_g = _frame(outputs[("grounding", "ours: load_grounding_summary_table")])
        base_g = _frame(outputs[("grounding", naive)])
        assert ours_g["num_empty_boxes"].tolist() == base_g["num_empty_boxes"].tolist()

    print()
    for key, entry in results.items():
        timings: dict[str, float] = entry["timings_s"]  # type: ignore[assignment]
        ours = next(t for k, t in timings.items() if k.startswith("ours"))
        ratios = {k: round(t / ours, 2) for k, t in timings.items() if not k.startswith("ours")}
        entry["baseline_over_ours"] = ratios
        rows = int(entry["rows"])  # type: ignore[call-overload]
        if rows != FULL_ROWS:
            entry["ours_extrapolated_140k_s"] = round(ours * FULL_ROWS / rows, 2)
        print(f"{key}: ours {ours:.3f} s; baseline/ours " + ", ".join(
            f"{k.split(': ', 1)[1]} {r}x" for k, r in ratios.items()))  # fmt: skip
        if "ours_extrapolated_140k_s" in entry:
            print(f"  extrapolated to {FULL_ROWS} rows: {entry['ours_extrapolated_140k_s']} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), "repeat": args.repeat, "results": results}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
