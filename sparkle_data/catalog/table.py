"""Build the catalog table: one row per sample id seen anywhere under a root.

Columns (``docs/catalog.md`` is the reference):

* ``sample_id`` (index), ``edit_type``, ``in_corpus`` (listed in the prompts CSV),
  ``status`` (``corpus``; ``rejected`` = only in record files, i.e. dropped at a pipeline
  stage; ``orphan`` = artifact files or metadata without a CSV row), ``last_record``
  (last pipeline record holding the id);
* ``prompt``, ``chosen_keyword``, ``subtheme``, ``scene``, ``original_scene``, ``has_metadata``;
* ``in_{record}`` for the five record files;
* ``frame0_*`` / ``fg_removed_*`` (``prompt_following``, ``consistency``,
  ``perceptual_quality``, ``overall``), ``video_*`` (``mean_o_score``, ``min_o_score``,
  ``mean_sc_score``, ``mean_pq_score``, per frame ``o_score_i``, ``sc_score_i``,
  ``pq_score_i``, ``frame_index_i``);
* ``grounding_num_labels``, ``grounding_num_frames``, ``grounding_num_empty_boxes``,
  ``grounding_empty_box_share`` (from r2), ``grounding_r1_num_labels``;
* per artifact ``{artifact}_file`` (relative path of a loose file), ``{artifact}_shard``,
  ``{artifact}_offset``, ``{artifact}_size`` (where the bytes are inside a shard).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sparkle_data.catalog.inventory import Inventory
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import ShardIndex
from sparkle_data.layout import ARTIFACTS, RECORD_FILES, RecordName
from sparkle_data.policy import SkipReport
from sparkle_data.readers.grounding import load_grounding_summary_table
from sparkle_data.readers.prompts import iter_metadata_jsonl, iter_prompts_csv
from sparkle_data.readers.scores import load_image_score_table, load_video_score_table

if TYPE_CHECKING:
    import pandas as pd
    from fsspec.spec import AbstractFileSystem

__all__ = ["PIPELINE_ORDER", "build_table"]

PIPELINE_ORDER: tuple[RecordName, ...] = (
    "edited_frame0_score",
    "foreground_grounding_r1",
    "edited_frame0_foreground_removed_score",
    "foreground_grounding_r2",
    "edited_video_score",
)
"""The record files in the order the pipeline writes them (stages 2 to 5)."""

_IMAGE_PREFIX: dict[RecordName, str] = {
    "edited_frame0_score": "frame0_",
    "edited_frame0_foreground_removed_score": "fg_removed_",
}


def _open(fs: AbstractFileSystem, base: str, rel: str) -> Any:
    return sfs.open_binary(sfs.join(base, rel), fs=fs)


def _record_table(
    inv: Inventory,
    fs: AbstractFileSystem,
    base: str,
    record: RecordName,
    report: SkipReport,
) -> pd.DataFrame | None:
    import pandas as pd

    loader: Callable[..., pd.DataFrame]
    if record in _IMAGE_PREFIX:
        loader, prefix = load_image_score_table, _IMAGE_PREFIX[record]
    elif record == "edited_video_score":
        loader, prefix = load_video_score_table, "video_"
    else:
        loader = load_grounding_summary_table
        prefix = "grounding_" if record == "foreground_grounding_r2" else "grounding_r1_"
    parts = []
    for et in inv.edit_types:
        rel = inv.records.get((et, record))
        if rel is None:
            continue
        kwargs: dict[str, Any] = {"edit_type": et, "name": f"{inv.root}/{rel}", "report": report}
        if loader is load_grounding_summary_table:
            kwargs["record"] = record
        with _open(fs, base, rel) as f:
            parts.append(loader(f, **kwargs))
    if not parts:
        return None
    table = pd.concat(parts, ignore_index=True)
    if record == "foreground_grounding_r1":
        table = table[["sample_id", "num_labels"]]
    table = table.set_index("sample_id")
    table.columns = [prefix + c for c in table.columns]
    table[f"in_{record}"] = True
    out: pd.DataFrame = table
    return out


def _prompt_table(
    inv: Inventory, fs: AbstractFileSystem, base: str, report: SkipReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    rows: dict[str, list[Any]] = {"sample_id": [], "prompt": []}
    for et, rel in inv.prompts.items():
        with _open(fs, base, rel) as f:
            for row in iter_prompts_csv(f, edit_type=et, name=f"{inv.root}/{rel}", report=report):
                rows["sample_id"].append(row.sample_id)
                rows["prompt"].append(row.prompt)
    meta: dict[str, list[Any]] = {
        k: [] for k in ("sample_id", "chosen_keyword", "subtheme", "scene", "original_scene")
    }
    for et, rel in inv.metadata.items():
        with _open(fs, base, rel) as f:
            for rec in iter_metadata_jsonl(
                f, edit_type=et, name=f"{inv.root}/{rel}", report=report
            ):
                meta["sample_id"].append(rec.sample_id)
                meta["chosen_keyword"].append(rec.chosen_keyword)
                meta["subtheme"].append(rec.subtheme)
                meta["scene"].append(rec.scene)
                meta["original_scene"].append(rec.original_scene)
    prompts = pd.DataFrame(rows).set_index("sample_id")
    prompts["in_corpus"] = True
    metadata = pd.DataFrame(meta).set_index("sample_id")
    metadata["has_metadata"] = True
    return prompts, metadata


def _artifact_table(inv: Inventory, indexes: Mapping[str, ShardIndex]) -> pd.DataFrame:
    import pandas as pd

    frames = []
    for artifact in ARTIFACTS:
        files: dict[str, str] = {}
        for (_et, art), found in inv.loose.items():
            if art == artifact:
                files.update(found)
        ids: list[str] = []
        shard_col: list[str] = []
        offsets: list[int] = []
        sizes: list[int] = []
        for rel, shard in inv.shards.items():
            if shard.artifact != artifact or rel not in indexes:
                continue
            for entry in indexes[rel].entries:
                ids.append(entry.sample_id)
                shard_col.append(rel)
                offsets.append(entry.offset)
                sizes.append(entry.size)
        in_shards = pd.DataFrame(
            {
                f"{artifact}_shard": pd.array(shard_col, dtype="object"),
                f"{artifact}_offset": pd.array(offsets, dtype="Int64"),
                f"{artifact}_size": pd.array(sizes, dtype="Int64"),
            },
            index=pd.Index(ids, name="sample_id", dtype="object"),
        )
        in_shards = in_shards[~in_shards.index.duplicated(keep="first")]
        loose = pd.DataFrame(
            {f"{artifact}_file": pd.array(list(files.values()), dtype="object")},
            index=pd.Index(list(files.keys()), name="sample_id", dtype="object"),
        )
        frames.append(loose.join(in_shards, how="outer"))
    joined: pd.DataFrame = pd.concat(frames, axis=1)
    return joined


def build_table(
    inv: Inventory,
    fs: AbstractFileSystem,
    base: str,
    indexes: Mapping[str, ShardIndex],
    report: SkipReport,
) -> pd.DataFrame:
    """Assemble the catalog table from an inventory and the shard indexes."""
    import pandas as pd

    prompts, metadata = _prompt_table(inv, fs, base, report)
    parts: list[pd.DataFrame] = [prompts, metadata]
    for record in RECORD_FILES:
        t = _record_table(inv, fs, base, record, report)
        if t is not None:
            parts.append(t)
    artifacts = _artifact_table(inv, indexes)
    parts.append(artifacts)
    ids = pd.Index(sorted(set().union(*(p.index for p in parts))), name="sample_id", dtype="object")
    table = pd.DataFrame(index=ids)
    for p in parts:
        table = table.join(p, how="left")
    table.insert(0, "edit_type", [s.split("_")[1] for s in table.index])
    for flag in ["in_corpus", "has_metadata", *(f"in_{r}" for r in RECORD_FILES)]:
        if flag not in table:
            table[flag] = False
        table[flag] = table[flag].fillna(False).astype(bool)
    last = np.full(len(table), None, dtype=object)
    for record in PIPELINE_ORDER:
        last[table[f"in_{record}"].to_numpy()] = record
    table.insert(2, "last_record", last)
    has_artifact = np.zeros(len(table), dtype=bool)
    for artifact in ARTIFACTS:
        for col in (f"{artifact}_file", f"{artifact}_shard"):
            if col in table:
                has_artifact |= table[col].notna().to_numpy()
    in_records = table[[f"in_{r}" for r in RECORD_FILES]].any(axis=1).to_numpy()
    status = np.where(
        table["in_corpus"].to_numpy(),
        "corpus",
        np.where(
            has_artifact | table["has_metadata"].to_numpy(),
            "orphan",
            np.where(in_records, "rejected", "unknown"),
        ),
    )
    table.insert(1, "status", status)
    result: pd.DataFrame = table
    return result
