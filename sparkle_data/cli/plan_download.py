"""``sparkle-data plan-download``: the exact ``hf download --include`` patterns and bytes for a
selection of the Hub repo (edit types, artifacts, shards, records, an optional filter)."""

from __future__ import annotations

import argparse
import fnmatch
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sparkle_data.cli._common import (
    UsageError,
    add_allow_empty,
    add_edit_types,
    add_index_file,
    add_json,
    choice,
    command_parser,
    did_you_mean,
    emit,
    int_at_least,
    pick,
    require_selection,
)
from sparkle_data.errors import RemoteError
from sparkle_data.layout import (
    ARTIFACTS,
    EDIT_TYPES,
    INTERMEDIATE_DIR,
    PROMPTS_DIR,
    RECORD_FILES,
    parse_shard_name,
    prompts_csv_path,
    prompts_metadata_path,
    record_path,
)

__all__ = ["DownloadPlan", "PlannedFile", "plan_download", "register"]

DEFAULT_REPO: Final = "stdKonjac/Sparkle"
DEFAULT_INDEX: Final = "indexes/sparkle.sparkle-index"

DESCRIPTION: Final = """\
Plan a partial download of the Sparkle Hub repo: list the files a selection needs, with their
sizes from the Hub listing (HfApi.list_repo_tree), and print the `hf download` command with
exact --include patterns. Nothing is downloaded.

A selection is edit types (--edit-types), artifacts (--artifacts: their tar shards), the first
K shards of each artifact family (--max-shards), and the prompts CSV/metadata (always) and
the five pipeline record files (unless --no-records). With --where EXPR (a filter on catalog
columns, as in `sparkle-data subset`), the prompts and records are read from the Hub to pick
the ids, and only the shards holding them are listed: that needs the published member index
(indexes/sparkle.sparkle-index in the repo, or --index-file); without one, every shard of a
family is listed (shards are not split by sample on the Hub side).
"""

EPILOG: Final = """\
examples:
  sparkle-data plan-download --edit-types time --no-records
      one theme's prompts only (kilobytes)
  sparkle-data plan-download --edit-types location --artifacts source_video edited_video \\
      --max-shards 1
      one theme's prompts and records plus one source/edited shard pair
  sparkle-data plan-download --edit-types location --artifacts source_video edited_video \\
      --where "subtheme in ['urban']"
  sparkle-data plan-download --revision <commit> --json plan.json

then run the printed `hf download ...` command (pip install -U huggingface_hub; `hf` is its CLI;
older releases call it `huggingface-cli download` with the same options).
"""


@dataclass(frozen=True, slots=True)
class PlannedFile:
    path: str
    size: int
    why: str


@dataclass
class DownloadPlan:
    """Files to download, their bytes, and the ``hf download`` command that fetches them."""

    repo_id: str
    revision: str | None
    files: list[PlannedFile] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    selected_ids: int | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def command(self, local_dir: str = "./Sparkle") -> str:
        parts = ["hf", "download", self.repo_id, "--repo-type", "dataset"]
        if self.revision:
            parts += ["--revision", self.revision]
        for p in self.patterns:
            parts += ["--include", p]
        parts += ["--local-dir", local_dir]
        return " ".join(shlex.quote(p) for p in parts)

    def to_dict(self, local_dir: str = "./Sparkle") -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "files": [{"path": f.path, "size": f.size, "why": f.why} for f in self.files],
            "total_bytes": self.total_bytes,
            "patterns": list(self.patterns),
            "command": self.command(local_dir),
            "selected_ids": self.selected_ids,
            "notes": list(self.notes),
        }


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - unreachable


def list_repo_files(repo_id: str, revision: str | None, folders: Iterable[str]) -> dict[str, int]:
    """``{path: size}`` of the files directly in ``folders`` of the dataset repo ("" = root)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        EntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi()
    out: dict[str, int] = {}
    for folder in folders:
        try:
            entries = api.list_repo_tree(
                repo_id, path_in_repo=folder or None, repo_type="dataset", revision=revision
            )
            for e in entries:
                size = getattr(e, "size", None)
                if size is not None and not hasattr(e, "tree_id"):
                    out[e.path] = int(size)
        except EntryNotFoundError:
            continue
        except RepositoryNotFoundError:
            raise UsageError(
                f"no dataset repo {repo_id!r} on the Hub (or it is private: log in with "
                f"`hf auth login`).{did_you_mean(repo_id, [DEFAULT_REPO])}"
            ) from None
        except RevisionNotFoundError:
            raise UsageError(f"no revision {revision!r} in datasets/{repo_id}.") from None
        except Exception as e:  # the HTTP stack's own errors (httpx, requests, offline mode)
            raise RemoteError(
                f"cannot list datasets/{repo_id} on the Hub: {type(e).__name__}: {e}"
            ) from e
    return out


def _family_patterns(
    chosen: Sequence[str], listing: dict[str, int], family_of: dict[str, tuple[str, str]]
) -> list[str]:
    """One glob per family when every listed shard of it is chosen, else the exact paths."""
    out: list[str] = []
    by_family: dict[tuple[str, str], list[str]] = {}
    for p in chosen:
        by_family.setdefault(family_of[p], []).append(p)
    for (et, artifact), paths in sorted(by_family.items()):
        every = sorted(p for p, fam in family_of.items() if fam == (et, artifact))
        if sorted(paths) == every and len(paths) > 1:
            folder = paths[0].rsplit("/", 1)[0] + "/" if "/" in paths[0] else ""
            glob = f"{folder}{et}_{artifact}_part*.tar"
            if sorted(fnmatch.filter(listing, glob)) == every:
                out.append(glob)
                continue
        out.extend(sorted(paths))
    return out


def _selected_ids(
    repo_id: str, revision: str | None, edit_types: Sequence[str], where: str
) -> list[str]:
    from sparkle_data.catalog import build_catalog
    from sparkle_data.cli._common import check_filter_fields
    from sparkle_data.filters import parse_filter

    root = f"hf://datasets/{repo_id}" + (f"@{revision}" if revision else "")
    catalog = build_catalog(root, edit_types=edit_types, index_shards=False)
    selection = parse_filter(where)
    check_filter_fields(selection, catalog)
    mask = selection.mask(catalog) & catalog.table["in_corpus"]
    return [str(i) for i in catalog.table.index[mask.to_numpy()]]


def _shards_holding(
    ids: set[str], index_location: str, candidates: Sequence[str]
) -> tuple[set[str], int]:
    """Shards among ``candidates`` with a member of ``ids`` (per the published index)."""
    from sparkle_data.io.index import read_indexes

    indexes = read_indexes(index_location)
    keep: set[str] = set()
    unindexed = 0
    for rel in candidates:
        ix = indexes.get(rel.rsplit("/", 1)[-1])
        if ix is None:
            keep.add(rel)  # unknown content: it may hold selected ids
            unindexed += 1
        elif any(e.sample_id in ids for e in ix.entries):
            keep.add(rel)
    return keep, unindexed


def plan_download(
    *,
    repo_id: str = DEFAULT_REPO,
    revision: str | None = None,
    edit_types: Sequence[str] | None = None,
    artifacts: Sequence[str] = (),
    records: bool = True,
    max_shards: int | None = None,
    where: str | None = None,
    index_file: str | None = None,
) -> DownloadPlan:
    """Plan the download of a selection of ``repo_id`` from its Hub listing (sizes included)."""
    ets = list(edit_types or EDIT_TYPES)
    plan = DownloadPlan(repo_id, revision)
    folders = ["", PROMPTS_DIR, INTERMEDIATE_DIR, *(f"{INTERMEDIATE_DIR}/{et}" for et in ets)]
    if where is not None and index_file is None:
        folders.append(DEFAULT_INDEX.rsplit("/", 1)[0])
    listing = list_repo_files(repo_id, revision, folders)
    if not listing:
        raise UsageError(f"the dataset repo {repo_id!r} lists no file (revision {revision!r}).")

    def add(path: str, why: str) -> None:
        plan.files.append(PlannedFile(path, listing[path], why))

    for et in ets:
        wanted = [prompts_csv_path(et), prompts_metadata_path(et)]
        if records:
            wanted += [record_path(et, rec) for rec in RECORD_FILES]
        for p in wanted:
            if p in listing:
                add(p, "records" if p.startswith(INTERMEDIATE_DIR) else "prompts")
            else:
                plan.notes.append(f"{p} is not in the repo")
        present = [p for p in wanted if p in listing]
        if records and all(record_path(et, r) in listing for r in RECORD_FILES):
            plan.patterns.append(f"{INTERMEDIATE_DIR}/{et}/*.jsonl")
            present = [p for p in present if not p.startswith(INTERMEDIATE_DIR)]
        if prompts_csv_path(et) in listing and prompts_metadata_path(et) in listing:
            plan.patterns.append(f"{PROMPTS_DIR}/{et}_train*")
            present = [p for p in present if not p.startswith(PROMPTS_DIR)]
        plan.patterns.extend(present)

    family_of: dict[str, tuple[str, str]] = {}
    for path in listing:
        if path.endswith(".tar"):
            try:
                shard = parse_shard_name(path)
            except ValueError:
                continue
            if shard.path == path and shard.edit_type in ets and shard.artifact in artifacts:
                family_of[path] = (shard.edit_type, shard.artifact)
    chosen: list[str] = []
    for fam in sorted(set(family_of.values())):
        parts = sorted(
            (p for p, f in family_of.items() if f == fam), key=lambda p: parse_shard_name(p).part
        )
        chosen += parts[:max_shards] if max_shards is not None else parts
    for et in ets:
        for artifact in artifacts:
            if (et, artifact) not in family_of.values():
                plan.notes.append(f"no {et} {artifact} shards in the repo")

    if where is not None:
        ids = set(_selected_ids(repo_id, revision, ets, where))
        plan.selected_ids = len(ids)
        location = index_file
        if location is None and DEFAULT_INDEX in listing:
            location = f"hf://datasets/{repo_id}" + (f"@{revision}" if revision else "")
            location += f"/{DEFAULT_INDEX}"
        if location is None:
            plan.notes.append(
                "no published member index (indexes/sparkle.sparkle-index, --index-file): "
                "every shard of the chosen families is listed"
            )
        elif chosen:
            keep, unindexed = _shards_holding(ids, location, chosen)
            chosen = [p for p in chosen if p in keep]
            if unindexed:
                plan.notes.append(f"{unindexed} shard(s) are not in the index: kept")
    for p in chosen:
        add(p, "shard")
    plan.patterns += _family_patterns(chosen, listing, family_of)
    return plan


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "plan-download",
        help="exact `hf download --include` patterns and bytes for a selection of the Hub repo",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument(
        "--repo",
        default=DEFAULT_REPO,
        metavar="REPO",
        help=f"dataset repo (default {DEFAULT_REPO})",
    )
    p.add_argument("--revision", metavar="REV", help="branch, tag or commit (default: main)")
    add_edit_types(p, "edit types")
    p.add_argument(
        "--artifacts",
        nargs="+",
        default=[],
        type=choice("artifact", tuple(ARTIFACTS)),
        metavar="A",
        help=f"artifacts whose shards to fetch (default: none; any of {', '.join(ARTIFACTS)})",
    )
    p.add_argument(
        "--max-shards",
        type=int_at_least(1),
        metavar="K",
        help="only the first K shards of each artifact family",
    )
    p.add_argument("--no-records", action="store_true", help="skip the five pipeline record files")
    p.add_argument("--where", metavar="EXPR", help="only shards holding ids this filter keeps")
    add_index_file(p, f"published member index for --where (default: {DEFAULT_INDEX} in the repo)")
    p.add_argument("--local-dir", default="./Sparkle", help="--local-dir of the printed command")
    add_json(p, "the plan")
    add_allow_empty(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plan = plan_download(
        repo_id=args.repo,
        records=not args.no_records,
        **pick(args, "revision", "edit_types", "artifacts", "max_shards", "where", "index_file"),
    )
    if plan.selected_ids is not None:
        require_selection(plan.selected_ids, "--where", args)
    local_dir = args.local_dir
    emit(args.json, lambda: plan.to_dict(local_dir), lambda: _format_plan(plan, local_dir))
    return 0


def _format_plan(plan: DownloadPlan, local_dir: str) -> str:
    rev = f"@{plan.revision}" if plan.revision else ""
    lines = [f"plan for datasets/{plan.repo_id}{rev}: {len(plan.files)} files"]
    if plan.selected_ids is not None:
        lines.append(f"--where keeps {plan.selected_ids} corpus samples")
    width = max((len(f.path) for f in plan.files), default=0)
    lines += [f"  {f.path:<{width}}  {human(f.size):>10}  {f.why}" for f in plan.files]
    lines += [f"  note: {note}" for note in plan.notes]
    lines.append(f"total: {human(plan.total_bytes)} ({plan.total_bytes} bytes)\n")
    lines.append(plan.command(local_dir))
    return "\n".join(lines)
