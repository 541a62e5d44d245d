"""Benchmark ``build_catalog`` on a large synthetic record set against a naive pandas baseline.

The tree is made from real-shaped files: a ``tiny`` sample tree (``make_sample_tree``, three
corpus samples per edit type) is built in a temporary directory, then its text files are
scaled up to ``--rows`` corpus samples in total (default 140,000, i.e. ~28,000 per edit type,
the size of the real corpus):

* ``prompts/{t}_train.csv`` and ``prompts/{t}_train_metadata.jsonl``: one row / line per
  corpus id, cycling the tree's prompts and metadata;
* the five ``intermediate_data/{t}/*.jsonl`` record files: existing lines cloned with new
  ids. Reasoning strings are padded to a few hundred characters (real lengths; the raw
  outputs of ``edited_video_score`` are re-encoded with the padded text, so its lines are the
  big ones, ~6 KB);
* about 20% extra ids (every sixth id) are in the records only: rejected at a pipeline stage
  (present in the record files up to that stage, never in the prompts).

The tar shards and the loose artifact folders are deleted from the scaled copy (they would
only cover the first three ids): the catalog is built from prompts and records only, with
``build_catalog(root, index_shards=False, cache=False)``.

Timed, ``--repeat`` times each (the naive catalog ``--baseline-repeat`` times, default 2:
it is ~4x slower and three runs would push the default past 4 minutes on 2 cores), runs
interleaved, median reported (files are in the page cache after the write):

* ours: ``sparkle_data.catalog.build_catalog``;
* baseline: the same join done by hand: ``pandas.read_csv`` for the prompts,
  ``pandas.read_json(lines=True)`` for the metadata and each record file, ``json_normalize``
  of the nested fields, Python loops for the per-frame video scores and the grounding
  counts, outer merges on the id;
* record parse only, on the biggest file (one ``edited_video_score.jsonl``):
  ``load_video_score_table`` vs ``json.loads`` per line.

A table is printed and ``bench/results/catalog.json`` written with the machine and the
parameters. Absolute times on a small shared machine are noisy; the ratios are the point.

    python bench/bench_catalog.py                  # ~3.5 minutes on 2 cores, ~6.5 GB RSS
    python bench/bench_catalog.py --rows 20000     # quick
    python bench/bench_catalog.py --profile        # also a cProfile top-10 of build_catalog
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import pathlib
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from sparkle_data.catalog import PIPELINE_ORDER, build_catalog
from sparkle_data.layout import EDIT_TYPES
from sparkle_data.readers.scores import load_video_score_table
from sparkle_data.testing import make_sample_tree

DEFAULT_ROWS = 140_000
RECORDS = (
    "edited_frame0_score",
    "edited_frame0_foreground_removed_score",
    "foreground_grounding_r1",
    "foreground_grounding_r2",
    "edited_video_score",
)
REASON_CHARS = 320
FILLER = (
    " The subject's silhouette, hair and hands are preserved, the new background is"
    " coherent in perspective and scale, shadows fall in a plausible direction, colour"
    " temperature matches between subject and scene, and no halo, smearing or duplicated"
    " limbs are visible along the matte edges; small texture repetition in the far"
    " background is the only notable flaw."
)
ID_MARK = "@@SAMPLE_ID@@"
CORPUS_COLUMN_SHARE = 5 / 6  # every sixth id is rejected -> ~20% extra over the corpus


# --------------------------------------------------------------------------- data


def _pad(text: str) -> str:
    out = text
    while len(out) < REASON_CHARS:
        out += FILLER
    return out[:REASON_CHARS].rstrip() + "."


def _padded(rec: dict[str, Any]) -> dict[str, Any]:
    """Reasoning strings padded to realistic length; raw outputs re-encoded to match."""
    es = rec.get("editscore")
    if isinstance(es, dict):
        for k in ("SC_reasoning", "PQ_reasoning"):
            es[k] = _pad(es[k])
    elif isinstance(es, list):
        for frame in es:
            for k in ("SC_score_reasoning", "PQ_score_reasoning"):
                frame[k] = _pad(frame[k])
            for k in ("SC_raw_output", "PQ_raw_output"):
                raw = json.loads(frame[k])
                raw["reasoning"] = _pad(raw["reasoning"])
                frame[k] = json.dumps(raw)
    return rec


def _templates(path: pathlib.Path) -> list[tuple[str, str]]:
    """(prefix, suffix) around the id of each line of ``path`` (id mark replaced)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec["id"] = ID_MARK
        text = json.dumps(_padded(rec), ensure_ascii=False)
        head, tail = text.split(json.dumps(ID_MARK), 1)
        out.append((head + '"', '"' + tail + "\n"))
    return out


def scale_tree(root: pathlib.Path, rows: int) -> dict[str, Any]:
    """Rewrite the text files of ``root`` for ``rows`` corpus samples; drop tars/loose files."""
    for tar in [*root.glob("*.tar"), *root.glob("intermediate_data/*.tar")]:
        tar.unlink()
    for et in EDIT_TYPES:
        for folder in (root / et, *(p for p in (root / "intermediate_data" / et).iterdir())):
            if folder.is_dir():
                shutil.rmtree(folder)
    per_type = [rows // len(EDIT_TYPES)] * len(EDIT_TYPES)
    per_type[0] += rows - sum(per_type)
    corpus_total = rejected_total = 0
    for et, n_corpus in zip(EDIT_TYPES, per_type, strict=True):
        n_ids = round(n_corpus / CORPUS_COLUMN_SHARE)
        while n_ids - n_ids // 6 < n_corpus:
            n_ids += 1
        ids = [f"Sparkle_{et}_{k:06d}" for k in range(n_ids)]
        corpus = [(k, s) for k, s in enumerate(ids) if k % 6 != 5][:n_corpus]
        corpus_set = {k for k, _ in corpus}
        ids = ids[: corpus[-1][0] + 1]
        # a rejected id is in the records up to the stage that dropped it
        depth = {k: (k // 6) % len(PIPELINE_ORDER) for k in range(len(ids)) if k not in corpus_set}
        corpus_total += len(corpus)
        rejected_total += len(depth)

        prompts_dir = root / "prompts"
        with (prompts_dir / f"{et}_train.csv").open(encoding="utf-8", newline="") as f:
            prompts = [r["prompt"] for r in csv.DictReader(f)]
        meta_path = prompts_dir / f"{et}_train_metadata.jsonl"
        meta = _templates(meta_path)
        with (prompts_dir / f"{et}_train.csv").open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["prompt", "src_video", "tgt_video", "task"])
            for i, (_, s) in enumerate(corpus):
                w.writerow(
                    [
                        prompts[i % len(prompts)],
                        f"{et}/source_video/{s}.mp4",
                        f"{et}/edited_video/{s}.mp4",
                        s,
                    ]
                )
        with meta_path.open("w", encoding="utf-8") as f:
            f.writelines(
                meta[i % len(meta)][0] + s + meta[i % len(meta)][1]
                for i, (_, s) in enumerate(corpus)
            )
        for record in RECORDS:
            path = root / "intermediate_data" / et / f"{record}.jsonl"
            tpl = _templates(path)
            stage = PIPELINE_ORDER.index(record)  # type: ignore[arg-type]
            with path.open("w", encoding="utf-8") as f:
                buf = []
                for k, s in enumerate(ids):
                    if k in corpus_set or depth[k] >= stage:
                        head, tail = tpl[k % len(tpl)]
                        buf.append(head + s + tail)
                    if len(buf) >= 4096:
                        f.writelines(buf)
                        buf.clear()
                f.writelines(buf)
    return {"corpus": corpus_total, "rejected": rejected_total}


def file_sizes(root: pathlib.Path) -> dict[str, Any]:
    groups: dict[str, list[pathlib.Path]] = {
        "prompts_csv": list(root.glob("prompts/*_train.csv")),
        "metadata_jsonl": list(root.glob("prompts/*_metadata.jsonl")),
    }
    for record in RECORDS:
        groups[record] = list(root.glob(f"intermediate_data/*/{record}.jsonl"))
    out: dict[str, Any] = {}
    for name, paths in groups.items():
        out[name] = {
            "mb": round(sum(p.stat().st_size for p in paths) / 1e6, 1),
            "lines": sum(_count_lines(p) for p in paths),
        }
    out["total_mb"] = round(sum(v["mb"] for v in out.values()), 1)
    return out


def _count_lines(path: pathlib.Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


# --------------------------------------------------------------------------- baseline


def _read_records(root: pathlib.Path, record: str) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_json(root / "intermediate_data" / et / f"{record}.jsonl", lines=True)
            for et in EDIT_TYPES
        ],
        ignore_index=True,
    )


def naive_catalog(root: pathlib.Path) -> pd.DataFrame:
    """The join a user would write with pandas alone (same columns of interest)."""
    prompts = pd.concat(
        [pd.read_csv(root / "prompts" / f"{et}_train.csv") for et in EDIT_TYPES],
        ignore_index=True,
    )
    prompts = prompts.rename(columns={"task": "id"})[["id", "prompt"]]
    prompts["in_corpus"] = True

    meta = pd.concat(
        [
            pd.read_json(root / "prompts" / f"{et}_train_metadata.jsonl", lines=True)
            for et in EDIT_TYPES
        ],
        ignore_index=True,
    )
    flat = pd.json_normalize(meta["metadata"].tolist())
    meta = pd.DataFrame({"id": meta["id"], "original_scene": flat["original_scene"]})
    kw = flat["chosen_keyword"].str.split(": ", n=1, expand=True)
    meta["chosen_keyword"] = flat["chosen_keyword"]
    meta["subtheme"], meta["scene"] = kw[0], kw[1]
    meta["has_metadata"] = True

    parts = [prompts, meta]
    for record, prefix in (
        ("edited_frame0_score", "frame0_"),
        ("edited_frame0_foreground_removed_score", "fg_removed_"),
    ):
        df = _read_records(root, record)
        es = pd.json_normalize(df["editscore"].tolist())
        cols = ["prompt_following", "consistency", "perceptual_quality", "overall"]
        out = es[cols].add_prefix(prefix)
        out.insert(0, "id", df["id"])
        out[f"in_{record}"] = True
        parts.append(out)

    df = _read_records(root, "edited_video_score")
    cols: dict[str, list[Any]] = {
        k: [] for k in ("mean_o_score", "min_o_score", "mean_sc_score", "mean_pq_score")
    }
    per_frame: dict[str, list[Any]] = {}
    for indices, frames in zip(df["frame_indices"], df["editscore"], strict=True):
        o = [e["O_score"] for e in frames]
        cols["mean_o_score"].append(sum(o) / len(o))
        cols["min_o_score"].append(min(o))
        cols["mean_sc_score"].append(sum(e["SC_score"] for e in frames) / len(frames))
        cols["mean_pq_score"].append(sum(e["PQ_score"] for e in frames) / len(frames))
        for i, e in enumerate(frames):
            per_frame.setdefault(f"frame_index_{i}", []).append(indices[i])
            per_frame.setdefault(f"sc_score_{i}", []).append(e["SC_score"])
            per_frame.setdefault(f"pq_score_{i}", []).append(e["PQ_score"])
            per_frame.setdefault(f"o_score_{i}", []).append(e["O_score"])
    video = pd.DataFrame({"id": df["id"], **cols, **per_frame})
    video.columns = ["id", *("video_" + c for c in video.columns[1:])]
    video["in_edited_video_score"] = True
    parts.append(video)

    df = _read_records(root, "foreground_grounding_r2")
    n_labels, n_frames, n_empty = [], [], []
    for labels, frames in zip(df["round1_labels"], df["frame_objects"], strict=True):
        empty = 0
        for frame in frames:
            boxed = {o["label"] for o in frame if o["bbox_2d"]}
            empty += sum(1 for lab in labels if lab not in boxed)
        n_labels.append(len(labels))
        n_frames.append(len(frames))
        n_empty.append(empty)
    r2 = pd.DataFrame(
        {
            "id": df["id"],
            "grounding_num_labels": n_labels,
            "grounding_num_frames": n_frames,
            "grounding_num_empty_boxes": n_empty,
        }
    )
    slots = r2["grounding_num_labels"] * r2["grounding_num_frames"]
    r2["grounding_empty_box_share"] = (r2["grounding_num_empty_boxes"] / slots).where(
        slots > 0, 1.0
    )
    r2["in_foreground_grounding_r2"] = True
    parts.append(r2)

    df = _read_records(root, "foreground_grounding_r1")
    r1 = pd.DataFrame(
        {"id": df["id"], "grounding_r1_num_labels": [len(v) for v in df["round1_labels"]]}
    )
    r1["in_foreground_grounding_r1"] = True
    parts.append(r1)

    table = reduce(lambda a, b: a.merge(b, on="id", how="outer"), parts)
    flags = [c for c in table.columns if c.startswith("in_") or c == "has_metadata"]
    table[flags] = table[flags].fillna(False).astype(bool)
    table["edit_type"] = table["id"].str.split("_").str[1]
    table["status"] = np.where(table["in_corpus"], "corpus", "rejected")
    return table.set_index("id").sort_index()


# --------------------------------------------------------------------------- record parse


def naive_json_parse(path: pathlib.Path) -> list[Any]:
    with path.open("rb") as f:
        return [json.loads(line) for line in f]


def naive_json_table(path: pathlib.Path) -> pd.DataFrame:
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


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        result = None  # free the previous result before the next run
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def check_same(ours: pd.DataFrame, naive: pd.DataFrame) -> dict[str, Any]:
    """Cheap agreement check between the two tables (outside the timings)."""
    ids_equal = list(ours.index) == list(naive.index)
    status_equal = bool((ours["status"].to_numpy() == naive["status"].to_numpy()).all())
    cols = [
        "frame0_overall",
        "video_mean_o_score",
        "grounding_num_empty_boxes",
        "grounding_r1_num_labels",
    ]
    close = {}
    for c in cols:
        a = pd.to_numeric(ours[c], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(naive[c], errors="coerce").to_numpy(dtype=float)
        close[c] = bool(np.allclose(a, b, equal_nan=True))
    return {"same_ids": ids_equal, "same_status": status_equal, "columns_close": close}


def profile_top(root: pathlib.Path, n: int = 10) -> str:
    prof = cProfile.Profile()
    prof.enable()
    build_catalog(root, index_shards=False, cache=False)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(n)
    tot = io.StringIO()
    pstats.Stats(prof, stream=tot).sort_stats("tottime").print_stats(n)
    return out.getvalue() + tot.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Time sparkle_data.catalog.build_catalog on a synthetic Sparkle tree scaled to "
            "--rows corpus samples (prompts + the five record files, no shards) against a "
            "naive pandas read_csv/read_json/json_normalize/merge baseline in the same run."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help="corpus samples in total across the five edit types (+~20%% rejected ids)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median kept)")
    parser.add_argument(
        "--baseline-repeat",
        type=int,
        default=2,
        help="runs of the naive catalog baseline (~4x slower than ours; 2 keeps the default "
        "run under 4 minutes on 2 cores)",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path(__file__).parent / "results" / "catalog.json",
        help="JSON results file ('-' to skip writing)",
    )
    parser.add_argument(
        "--workdir", type=pathlib.Path, default=None, help="where to build (default: a temp dir)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile top-10 of one build_catalog"
    )
    args = parser.parse_args(argv)
    if args.rows < 10 or args.repeat < 1 or args.baseline_repeat < 1:
        parser.error("--rows must be >= 10, --repeat and --baseline-repeat >= 1")

    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench_catalog_") as tmp:
        t0 = time.perf_counter()
        summary = make_sample_tree(pathlib.Path(tmp) / "t", preset="tiny", samples=3, bench=False)
        root = pathlib.Path(summary.root)
        counts = scale_tree(root, args.rows)
        gen_s = time.perf_counter() - t0
        sizes = file_sizes(root)
        print(
            f"tree: {counts['corpus']:,} corpus + {counts['rejected']:,} rejected ids, "
            f"{sizes['total_mb']} MB of text, generated in {gen_s:.1f} s",
            file=sys.stderr,
        )

        # interleaved (ours, naive, ours, ...) so drift on a shared machine hits both alike
        ours_all: list[float] = []
        naive_all: list[float] = []
        ours = naive = None
        for i in range(max(args.repeat, args.baseline_repeat)):
            if i < args.repeat:
                ours = None
                t = time.perf_counter()
                ours = build_catalog(root, index_shards=False, cache=False).table
                ours_all.append(time.perf_counter() - t)
            if i < args.baseline_repeat:
                naive = None
                t = time.perf_counter()
                naive = naive_catalog(root)
                naive_all.append(time.perf_counter() - t)
        ours_s, naive_s = statistics.median(ours_all), statistics.median(naive_all)
        assert ours is not None
        assert naive is not None
        agreement = check_same(ours, naive)
        catalog_rows = len(ours)
        ours = naive = None

        biggest = max(
            root.glob("intermediate_data/*/edited_video_score.jsonl"),
            key=lambda p: p.stat().st_size,
        )
        parse = {
            "ours: load_video_score_table": timed(
                lambda: load_video_score_table(biggest), args.repeat
            ),
            "naive: json.loads per line (parse only)": timed(
                lambda: naive_json_parse(biggest), args.repeat
            ),
            "naive: json.loads + summary + DataFrame": timed(
                lambda: naive_json_table(biggest), args.repeat
            ),
        }
        parse_ours = parse["ours: load_video_score_table"][0]
        profile = profile_top(root) if args.profile else None
        biggest_info = {
            "file": str(biggest.relative_to(root)),
            "mb": round(biggest.stat().st_size / 1e6, 1),
            "lines": _count_lines(biggest),
        }

    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "parameters": {
            "rows": args.rows,
            "repeat": args.repeat,
            "baseline_repeat": args.baseline_repeat,
            "tree": "make_sample_tree(preset='tiny', samples=3) scaled; shards and loose "
            "artifact folders deleted (prompts + records only)",
            "reasoning_chars": REASON_CHARS,
            "rejected_share_of_ids": "1/6 (~20% over the corpus)",
        },
        "tree": {**counts, "catalog_rows": catalog_rows, "generate_s": round(gen_s, 1)},
        "sizes": sizes,
        "catalog": {
            "timings_s": {
                "ours: build_catalog(index_shards=False, cache=False)": round(ours_s, 3),
                "naive: read_csv + read_json + json_normalize + merge": round(naive_s, 3),
            },
            "all_runs_s": {
                "ours": [round(t, 3) for t in ours_all],
                "naive": [round(t, 3) for t in naive_all],
            },
            "baseline_over_ours": round(naive_s / ours_s, 2),
            "agreement": agreement,
        },
        "record_parse": {
            **biggest_info,
            "timings_s": {k: round(v[0], 3) for k, v in parse.items()},
            "baseline_over_ours": {
                k: round(v[0] / parse_ours, 2) for k, v in parse.items() if not k.startswith("ours")
            },
        },
    }

    print(
        f"\ncatalog: {catalog_rows:,} rows ({counts['corpus']:,} corpus, "
        f"{counts['rejected']:,} rejected), {sizes['total_mb']} MB of prompts + records, "
        f"median of {args.repeat} (baseline: {args.baseline_repeat})"
    )
    print(f"  {'':58} {'seconds':>8} {'MB/s':>7}")
    for name, secs in results["catalog"]["timings_s"].items():
        print(f"  {name:58} {secs:8.2f} {sizes['total_mb'] / secs:7.0f}")
    print(f"  baseline / ours: {results['catalog']['baseline_over_ours']:.2f}x")
    print(f"  agreement: {agreement}")
    print(
        f"\nrecord parse: {biggest_info['file']} ({biggest_info['lines']:,} lines, "
        f"{biggest_info['mb']} MB)"
    )
    for name, secs in results["record_parse"]["timings_s"].items():
        ratio = secs / parse_ours
        print(f"  {name:58} {secs:8.2f} {biggest_info['mb'] / secs:7.0f}  x{ratio:.2f}")
    if profile is not None:
        print("\ncProfile of one build_catalog:\n" + profile)

    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
