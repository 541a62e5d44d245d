""":func:`load_dataset`: Sparkle as a 🤗 ``datasets.IterableDataset`` or ``datasets.Dataset``.

See ``docs/hf.md``. Streaming builds an ``IterableDataset.from_generator`` over a catalog of
the root (one generator shard per group of samples, so DataLoader workers and
``datasets.distributed.split_dataset_by_node`` split real work); non-streaming downloads only
the files the selection needs (Hub repos; verified), then writes a map-style ``Dataset``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sparkle_data._version import __version__
from sparkle_data.catalog.groups import group_ids
from sparkle_data.catalog.select import Predicate, warn_if_empty
from sparkle_data.errors import MissingArtifactError
from sparkle_data.hf.indexes import DEFAULT_REPO, Root, list_files, open_root, root_catalog
from sparkle_data.hf.rows import (
    DEFAULT_FIELDS,
    FILE_FIELDS,
    METADATA_COLUMNS,
    SCORE_COLUMNS,
    Media,
    RowGenerator,
    RowSpec,
    check_row_fields,
    parse_name,
    select_ids,
)
from sparkle_data.io import fs as sfs
from sparkle_data.io.retry import RetryPolicy
from sparkle_data.layout import parse_shard_name

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.catalog.duplicates import DuplicateRule
    from sparkle_data.policy import OnError
    from sparkle_data.sampling import BoxFrames, FrameMismatch, FrameSampler, Resize

__all__ = ["DecodeTransform", "load_dataset"]

SPLIT = "train"


def _check_split(split: str | None) -> None:
    if split is not None and str(split) != SPLIT:
        raise ValueError(
            f"Invalid split {split!r}: Sparkle has one split, 'train' (or None for a dict). "
            "Select samples with name=, ids= or where=, and use .take()/.select() for slices."
        )


def _artifacts(spec: RowSpec) -> tuple[str, ...]:
    arts = list(spec.file_fields)
    if "boxes" in spec.fields and not any(a in arts for a in ("source_video", "edited_video")):
        arts.insert(0, "source_video")  # boxes are mapped through the source video's geometry
    return tuple(arts)


def load_dataset(
    path: str | os.PathLike[str] = DEFAULT_REPO,
    name: str | Sequence[str] | None = "all",
    *,
    split: str | None = SPLIT,
    revision: str | None = None,
    streaming: bool = True,
    fields: Sequence[str] = DEFAULT_FIELDS,
    where: Predicate | None = None,
    ids: Sequence[str] | None = None,
    token: str | bool | None = None,
    index_file: str | None = None,
    decode: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    media: Media = "video",
    num_shards: int | None = None,
    frames: FrameSampler | None = None,
    resize: Resize | None = None,
    frame_mismatch: FrameMismatch = "error",
    box_frames: BoxFrames = "exact",
    num_proc: int | None = None,
    max_workers: int = 8,
    progress: bool = True,
    on_error: OnError = "error",
    max_skips: int | None = None,
    duplicates: DuplicateRule = "error",
    retry: RetryPolicy | None = None,
) -> Any:
    """Load Sparkle pairs as a 🤗 dataset.

    ``path``: a Hub repo id (``"stdKonjac/Sparkle"``), ``hf://datasets/{repo}[@rev][/folder]``,
    a local root (download or extracted tree) or any fsspec/``http(s)://`` root. Hub revisions
    (``revision=`` or ``@rev``) are pinned to their commit sha first. The catalog is built by
    the start-up path every front end shares (``docs/io.md``: one listing, the published
    index, only the requested fields' shards, a disk cache). ``retry`` (a
    :class:`~sparkle_data.io.remote.RetryPolicy`) sets retries and timeouts of remote reads.

    ``name``: ``"all"`` or an edit type (the card's config names); a list or a comma-separated
    string selects several. ``ids`` / ``where`` (a predicate on the
    :class:`~sparkle_data.catalog.Catalog` table, e.g.
    ``lambda t: t["video_mean_o_score"] >= 8.2``) narrow the corpus before any video byte is
    read. ``fields``: the sample fields of :class:`~sparkle_data.dataset.SparkleDataset`
    (``source_video``, ``edited_video``, ``metadata``, ``scores``, the intermediates, and
    ``boxes`` with ``decode=True``). Columns and features: ``docs/hf.md``.

    ``streaming=True`` (default) returns a ``datasets.IterableDataset`` with one generator
    shard per shard of the first requested file (or ``num_shards`` equal chunks); bytes are
    read lazily by ranged reads, nothing is downloaded. ``streaming=False`` downloads only the
    shards (or preview files) holding the selected samples' fields (Hub repos, into the Hub
    cache under ``cache_dir``; each file checked against the Hub's sha256, else
    :class:`~sparkle_data.errors.IntegrityError`) and returns a map-style ``datasets.Dataset``
    written to the Arrow cache (``cache_dir``; ``num_proc`` processes). Local roots are read in
    place. ``split=None`` wraps the result in a ``DatasetDict`` / ``IterableDatasetDict``.

    ``decode=True`` decodes with sparkle-data's readers (``frames``, ``resize``, ... as in
    :class:`~sparkle_data.dataset.SparkleDataset`): uint8 arrays instead of bytes; with
    ``streaming=False`` the Arrow table keeps the scalar columns and arrays are decoded on
    access (``set_transform``). ``index_file`` is a published member index (see
    :func:`~sparkle_data.hf.fetch_indexes`); by default ``indexes/sparkle.sparkle-index`` of the
    root is used when present, else shards are indexed by header reads (cached).

    ``on_error="skip"`` (bounded by ``max_skips``) skips a bad record line, CSV row or damaged
    shard while the root is catalogued instead of failing (``docs/reliability.md``);
    ``duplicates`` picks the copy of an id held by two shards (``"first"``/``"last"``; default
    ``"error"``).
    """
    from sparkle_data.hf.features import check_datasets_version

    check_datasets_version()
    _check_split(split)
    edit_types = parse_name(name)
    decoding = None
    if decode:
        from sparkle_data.sampling import DecodeOptions

        decoding = DecodeOptions(frames, resize, frame_mismatch, box_frames, output="numpy")
    spec = RowSpec(check_row_fields(fields, decode=decode), media, decode, decoding)
    if media not in ("video", "binary"):
        raise ValueError(f"Invalid media {media!r}: must be 'video' or 'binary'.")
    root = open_root(path, revision=revision, token=token)
    options: dict[str, Any] = {
        "index_file": index_file,
        "max_workers": max_workers,
        "progress": progress,
        "on_error": on_error,
        "max_skips": max_skips,
        "duplicates": duplicates,
        "retry": retry,
    }
    if streaming:
        catalog = root_catalog(root, edit_types=edit_types, artifacts=_artifacts(spec), **options)
    elif root.kind == "hub":
        catalog = _downloaded_catalog(root, edit_types, spec, ids, where, cache_dir, **options)
    else:
        catalog = root_catalog(root, edit_types=edit_types, artifacts=_artifacts(spec), **options)
    selected = select_ids(catalog, edit_types=edit_types, ids=ids, where=where)
    warn_if_empty(selected, catalog, edit_types=edit_types, ids=ids, where=where, stacklevel=2)
    catalog = _trim(catalog, selected, spec)
    _check_located(catalog, selected, spec)
    groups = group_ids(catalog, selected, spec.fields, num_shards=num_shards)
    if streaming:
        from sparkle_data.hf.streaming import iterable_dataset

        ds = iterable_dataset(catalog, groups, spec, split=SPLIT)
        if split is None:
            from datasets import IterableDatasetDict

            return IterableDatasetDict({SPLIT: ds})
        return ds
    mapped = _map_dataset(catalog, selected, groups, spec, cache_dir=cache_dir, num_proc=num_proc)
    if split is None:
        from datasets import DatasetDict

        return DatasetDict({SPLIT: mapped})
    return mapped


def _trim(catalog: Catalog, selected: Sequence[str], spec: RowSpec) -> Catalog:
    """The catalog cut to the selected rows and the columns rows read: what the generator
    carries into every DataLoader worker (and what ``datasets`` hashes)."""
    keep = ["edit_type", "prompt", *METADATA_COLUMNS, *SCORE_COLUMNS]
    for a in _artifacts(spec):
        keep += [f"{a}_file", f"{a}_shard", f"{a}_offset", f"{a}_size"]
    table = catalog.table
    columns = [c for c in keep if c in table.columns]
    return replace(catalog, table=table.loc[list(selected), columns])


def _check_located(catalog: Catalog, selected: Sequence[str], spec: RowSpec) -> None:
    """Fail now, not mid-epoch, when a selected sample has a requested file nowhere."""
    t = catalog.table
    for a in _artifacts(spec):
        found = np.zeros(len(t), dtype=bool)
        for col in (f"{a}_file", f"{a}_shard"):
            if col in t.columns:
                found |= t[col].notna().to_numpy()
        if not found.all():
            missing = [str(s) for s in t.index[~found]]
            raise MissingArtifactError.invalid(
                "selection",
                missing[:5],
                rule=f"{len(missing)} of {len(selected)} selected samples have no {a} "
                "(no shard member, no loose file)",
                path=catalog.root,
                hint=f"Download its shards, or keep only samples that have it: where=lambda t: "
                f"t['{a}_shard'].notna() | t['{a}_file'].notna().",
            )


# --------------------------------------------------------------------------- non-streaming


def _downloaded_catalog(
    root: Root,
    edit_types: tuple[str, ...],
    spec: RowSpec,
    ids: Sequence[str] | None,
    where: Predicate | None,
    cache_dir: str | os.PathLike[str] | None,
    *,
    index_file: str | None,
    max_workers: int,
    progress: bool,
    on_error: OnError = "error",
    max_skips: int | None = None,
    duplicates: DuplicateRule = "error",
    retry: RetryPolicy | None = None,
) -> Catalog:
    """Download what the selection needs from a Hub root; the catalog of the local snapshot."""
    from sparkle_data.hf.download import download_files

    if root.repo_id is None or root.revision is None:
        raise ValueError(f"{root.location} is not a Hub repo")
    artifacts = _artifacts(spec)
    lenient: dict[str, Any] = {"on_error": on_error, "max_skips": max_skips}
    base = root_catalog(
        root, edit_types=edit_types, artifacts=(), index_shards=False, **lenient
    )
    selected = select_ids(base, edit_types=edit_types, ids=ids, where=where)
    inv = base.inventory
    needed: set[str] = {*inv.prompts.values(), *inv.metadata.values(), *inv.records.values()}
    files = list_files(root, edit_types=edit_types, artifacts=artifacts)
    shards = [rel for rel in files if rel.endswith(".tar")]
    everything = set(selected) == set(select_ids(base, edit_types=edit_types))
    families = {(s.edit_type, s.artifact) for s in map(parse_shard_name, shards)}
    if everything and all((et, a) in families for et in edit_types for a in artifacts):
        needed.update(shards)  # every shard of these artifacts: no index needed to choose
    elif selected and artifacts:
        located = root_catalog(
            root,
            edit_types=edit_types,
            artifacts=artifacts,
            index_file=index_file,
            max_workers=max_workers,
            progress=progress,
            duplicates=duplicates,
            retry=retry,
            **lenient,
        )
        rows = located.table.loc[list(selected)]
        for a in artifacts:  # what Catalog.locate picks: the loose file, else the shard
            loose, shard = rows[f"{a}_file"], rows[f"{a}_shard"]
            needed.update(str(p) for p in loose.where(loose.notna(), shard).dropna())
    prefix = f"{root.subdir}/" if root.subdir else ""
    snapshot = download_files(
        root.repo_id,
        [prefix + rel for rel in sorted(needed)],
        revision=root.revision,
        token=root.token,
        cache_dir=cache_dir,
        max_workers=max_workers,
        progress=progress,
    )
    local = snapshot / root.subdir if root.subdir else snapshot
    return root_catalog(
        open_root(str(local)),
        edit_types=edit_types,
        artifacts=artifacts,
        max_workers=max_workers,
        progress=progress,
        on_error=on_error,
        max_skips=max_skips,
        duplicates=duplicates,
    )


def _fingerprint(catalog: Catalog, ids: Sequence[str], spec: RowSpec, shards: Sequence[str]) -> str:
    """Identity of a map-style build: sparkle-data version, root, selection, columns, and the
    size/etag of every file read (a changed local file gives a new Arrow cache)."""
    inv = catalog.inventory
    small = sorted({*inv.prompts.values(), *inv.metadata.values(), *inv.records.values()})
    infos = [sfs.info(sfs.join(catalog.base, rel), fs=catalog.fs) for rel in small]
    parts: list[Any] = [
        __version__,
        catalog.root,
        hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        list(shards),
        list(spec.columns),
        spec.media,
        [(i.location, i.size, i.etag, i.sha256) for i in infos],
        sorted((ix.shard, ix.shard_size, ix.etag, ix.sha256) for ix in catalog.indexes.values()),
    ]
    if sfs.is_local(catalog.fs):
        loose = sorted(p for files in inv.loose.values() for p in files.values())
        parts.append([(p, os.stat(sfs.join(catalog.base, p)).st_mtime_ns) for p in loose])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


@dataclass
class DecodeTransform:
    """``set_transform`` of a non-streaming ``decode=True`` dataset: adds the decoded columns
    of each row (read from the catalog's files by sparkle-data's readers)."""

    catalog: Catalog
    spec: RowSpec

    def __post_init__(self) -> None:
        self._rows = RowGenerator(self.catalog, {}, self.spec)

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {**batch}
        for c in self.spec.loaded_columns:
            out[c] = []
        for sid in batch["sample_id"]:
            decoded = self._rows.decoded(sid)
            for c in self.spec.loaded_columns:
                out[c].append(decoded[c])
        return out


def _map_dataset(
    catalog: Catalog,
    ids: Sequence[str],
    groups: dict[str, list[str]],
    spec: RowSpec,
    *,
    cache_dir: str | os.PathLike[str] | None,
    num_proc: int | None,
) -> Any:
    from datasets import Dataset

    from sparkle_data.hf.features import sparkle_features

    stored = spec
    if spec.decode:
        kept = tuple(f for f in spec.fields if f not in FILE_FIELDS and f != "boxes")
        stored = replace(spec, fields=kept, decode=False)
    gen = RowGenerator(catalog, groups, stored)
    shard_ids = list(groups) or ["empty"]
    if not groups:
        gen = RowGenerator(catalog, {"empty": []}, stored)
    ds = Dataset.from_generator(
        gen,
        features=sparkle_features(stored),
        gen_kwargs={"shard_ids": shard_ids},
        cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
        num_proc=num_proc if num_proc and len(shard_ids) > 1 else None,
        fingerprint=_fingerprint(catalog, ids, stored, shard_ids),
        split=SPLIT,
    )
    if spec.decode:
        ds.set_transform(DecodeTransform(catalog, spec))
    return ds
