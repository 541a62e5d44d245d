"""Sparkle-Bench items: ``{t}_bench.csv`` joined with ``{t}_metadata.jsonl``, and sharding.

An item is one row of a theme's CSV (``edited_type,prompt,original_video``; the id is the
basename of ``original_video``) with its ``metadata.chosen_keyword`` (``"{subtheme}: {scene}"``).
``index`` is the row's 0-based position in its CSV: upstream's inference script shards a
theme with ``idx % num_rank == rank`` on exactly that index (:func:`shard_items`).

Roots are local folders or any location :func:`sparkle_data.io.fs.resolve` accepts
(``hf://datasets/stdKonjac/Sparkle-Bench``, ``https://``). Source videos and reference
images are *locations* (a path or a URL), opened with :func:`sparkle_data.io.fs.open_binary`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args, overload

from fsspec.spec import AbstractFileSystem

from sparkle_data.errors import JoinError, LayoutError, MissingArtifactError
from sparkle_data.io import fs as sfs
from sparkle_data.layout import (
    BENCH_EDIT_TYPES,
    EditType,
    bench_csv_path,
    bench_inference_relpath,
    bench_metadata_path,
    bench_ref_image_path,
    bench_source_video_path,
    parse_edit_type,
    parse_sample_id,
    split_chosen_keyword,
)
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers.sparkle_bench import iter_bench_csv, iter_bench_metadata_jsonl

__all__ = [
    "SHARD_SCHEMES",
    "BenchItem",
    "BenchItems",
    "ShardScheme",
    "check_themes",
    "load_items",
    "shard_items",
]

ShardScheme = Literal["upstream", "global"]
SHARD_SCHEMES: Final[tuple[ShardScheme, ...]] = get_args(ShardScheme)


@dataclass(frozen=True, slots=True)
class BenchItem:
    """One Sparkle-Bench video to edit (and later to rate)."""

    sample_id: str
    theme: EditType
    index: int
    """0-based row of ``{theme}_bench.csv`` (upstream's ``idx``)."""
    prompt: str
    chosen_keyword: str
    """``"{subtheme}: {scene}"`` from the metadata."""
    source_video: str
    """Location of ``source_videos/{theme}/{id}.mp4`` (a path or a URL)."""
    ref_image: str | None = None
    """Location of ``ref_images/{theme}/{id}.png`` when the root has it."""

    def __post_init__(self) -> None:
        sid = parse_sample_id(self.sample_id)
        if sid.edit_type != self.theme:
            raise LayoutError.invalid(
                "theme", self.theme, rule=f"disagrees with the id's edit type {sid.edit_type!r}",
                sample_id=self.sample_id,
            )
        if type(self.index) is not int or self.index < 0:
            raise LayoutError.invalid(
                "index", self.index, rule="must be an int >= 0", sample_id=self.sample_id
            )
        split_chosen_keyword(self.chosen_keyword)

    @property
    def subtheme(self) -> str:
        return split_chosen_keyword(self.chosen_keyword)[0]

    @property
    def scene(self) -> str:
        return split_chosen_keyword(self.chosen_keyword)[1]

    @property
    def output_relpath(self) -> str:
        """``{theme}/{subtheme}---{scene_key}/{id}_edited.mp4`` (relative to the output dir)."""
        return bench_inference_relpath(self.sample_id, self.chosen_keyword)


@dataclass(frozen=True, slots=True)
class BenchItems(Sequence[BenchItem]):
    """A sequence of items (a map-style dataset: ``len`` and ``[i]``), in CSV order per theme."""

    items: tuple[BenchItem, ...]
    root: str = ""
    skipped: SkipReport | None = None
    """Rows left out under ``on_error="skip"`` (``None`` when strict)."""

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> BenchItem: ...
    @overload
    def __getitem__(self, i: slice) -> BenchItems: ...
    def __getitem__(self, i: int | slice) -> BenchItem | BenchItems:
        if isinstance(i, slice):
            return BenchItems(self.items[i], self.root, self.skipped)
        return self.items[i]

    def __iter__(self) -> Iterator[BenchItem]:
        return iter(self.items)

    def __repr__(self) -> str:
        counts = ", ".join(f"{t}={n}" for t, n in self.counts().items())
        return f"BenchItems({len(self.items)} items: {counts}; root={self.root!r})"

    @property
    def themes(self) -> tuple[EditType, ...]:
        return tuple(dict.fromkeys(it.theme for it in self.items))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for it in self.items:
            out[it.theme] = out.get(it.theme, 0) + 1
        return out

    def by_theme(self, theme: str) -> BenchItems:
        return BenchItems(tuple(it for it in self.items if it.theme == theme), self.root)

    def by_id(self) -> dict[str, BenchItem]:
        return {it.sample_id: it for it in self.items}

    def shard(
        self,
        rank: int,
        world_size: int,
        *,
        worker: int = 0,
        num_workers: int = 1,
        scheme: ShardScheme = "upstream",
    ) -> BenchItems:
        """See :func:`shard_items`."""
        return BenchItems(
            shard_items(
                self.items, rank, world_size, worker=worker, num_workers=num_workers, scheme=scheme
            ),
            self.root,
        )


def check_themes(themes: Sequence[str] | None) -> tuple[EditType, ...]:
    """The requested themes (default: all four), validated, without duplicates."""
    if themes is None:
        return BENCH_EDIT_TYPES
    out: list[EditType] = []
    for t in themes:
        et = parse_edit_type(t)
        if et not in BENCH_EDIT_TYPES:
            raise LayoutError.invalid(
                "theme", t, rule="Sparkle-Bench has no such theme",
                hint=f"Choose from {', '.join(BENCH_EDIT_TYPES)}.",
            )
        if et not in out:
            out.append(et)
    return tuple(out)


def _listed(fs: AbstractFileSystem, folder: str) -> set[str] | None:
    """Relative file names under ``folder`` (``None`` where the filesystem cannot list)."""
    try:
        return set(sfs.ls(folder, fs=fs))
    except (NotImplementedError, FileNotFoundError):
        return None


def load_items(
    root: str | os.PathLike[str],
    *,
    themes: Sequence[str] | None = None,
    ref_images: bool = True,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> BenchItems:
    """Read the items of ``themes`` (default all four) from a Sparkle-Bench root.

    Strict by default: a CSV row without metadata raises :class:`~sparkle_data.errors.JoinError`;
    a theme without its CSV or metadata raises
    :class:`~sparkle_data.errors.MissingArtifactError`. With ``on_error="skip"`` unjoinable rows
    are left out and counted in ``report`` (reason ``metadata_missing``); upstream skips them too
    but keeps their ``index`` in the sharding, and so does this function.
    """
    fs, base = sfs.resolve(root)
    if on_error != "error" and report is None:
        report = SkipReport(on_error=on_error)
    items: list[BenchItem] = []
    for theme in check_themes(themes):
        csv_loc = sfs.join(base, bench_csv_path(theme))
        meta_loc = sfs.join(base, bench_metadata_path(theme))
        for loc in (csv_loc, meta_loc):
            if not sfs.exists(loc, fs=fs):
                raise MissingArtifactError.invalid(
                    "Sparkle-Bench file", sfs.unresolve(fs, loc), rule="does not exist",
                    hint=f"Is {os.fspath(root)!r} a Sparkle-Bench root (pass --themes to "
                    "choose fewer themes)?",
                )
        with sfs.open_binary(meta_loc, fs=fs) as f:
            keywords: dict[str, str] = {}
            for rec in iter_bench_metadata_jsonl(
                f, edit_type=theme, name=sfs.unresolve(fs, meta_loc), on_error=on_error,
                report=report,
            ):
                if rec.chosen_keyword is not None:
                    keywords[rec.sample_id] = rec.chosen_keyword
        refs = _listed(fs, sfs.join(base, f"ref_images/{theme}")) if ref_images else None
        csv_name = sfs.unresolve(fs, csv_loc)
        with sfs.open_binary(csv_loc, fs=fs) as f:
            rows = list(
                iter_bench_csv(f, edit_type=theme, name=csv_name, on_error=on_error, report=report)
            )
        for index, row in enumerate(rows):
            keyword = keywords.get(row.sample_id)
            if keyword is None:
                err = JoinError.invalid(
                    "bench row", row.sample_id, rule=f"has no line in {bench_metadata_path(theme)}",
                    path=csv_name, sample_id=row.sample_id,
                    hint="Upstream skips such rows; pass on_error='skip' to do the same.",
                )
                if report is None:
                    raise err
                report.handle(err, "metadata_missing")
                continue
            ref_rel = bench_ref_image_path(row.sample_id)
            ref = None
            if refs is not None and ref_rel.rsplit("/", 1)[1] in refs:
                ref = sfs.unresolve(fs, sfs.join(base, ref_rel))
            items.append(
                BenchItem(
                    row.sample_id, theme, index, row.prompt, keyword,
                    sfs.unresolve(fs, sfs.join(base, bench_source_video_path(row.sample_id))), ref,
                )
            )
    return BenchItems(tuple(items), sfs.unresolve(fs, base), report)


def shard_items(
    items: Sequence[BenchItem],
    rank: int,
    world_size: int,
    *,
    worker: int = 0,
    num_workers: int = 1,
    scheme: ShardScheme = "upstream",
) -> tuple[BenchItem, ...]:
    """The items that process ``rank`` of ``world_size`` (and ``worker`` of its
    ``num_workers`` data-loader workers) handles.

    * ``"upstream"``: exactly ``test_benchmark_sparkle_bench.py``: per theme,
      ``index % world_size == rank`` on the CSV row index (then workers split that rank's
      items by the same rule on ``index // world_size``);
    * ``"global"``: over the concatenated list, position ``i`` goes to shard
      ``i % (world_size * num_workers) == rank * num_workers + worker`` (balanced across
      themes).

    Every item lands in exactly one shard.
    """
    for name, value, bound in (("world_size", world_size, 1), ("num_workers", num_workers, 1)):
        if type(value) is not int or value < bound:
            raise ValueError(f"Invalid {name} {value!r}: must be an int >= {bound}.")
    if type(rank) is not int or not 0 <= rank < world_size:
        raise ValueError(f"Invalid rank {rank!r}: must be in [0, {world_size}).")
    if type(worker) is not int or not 0 <= worker < num_workers:
        raise ValueError(f"Invalid worker {worker!r}: must be in [0, {num_workers}).")
    if scheme == "upstream":
        return tuple(
            it
            for it in items
            if it.index % world_size == rank and (it.index // world_size) % num_workers == worker
        )
    if scheme == "global":
        n = world_size * num_workers
        me = rank * num_workers + worker
        return tuple(it for i, it in enumerate(items) if i % n == me)
    raise ValueError(f"Invalid scheme {scheme!r}: choose from {', '.join(SHARD_SCHEMES)}.")
