"""``sparkle-data subset``: select a subset with filters, export it, optionally push it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.cli._common import (
    UsageError,
    add_allow_empty,
    add_population,
    add_quiet,
    add_root,
    add_workers,
    check_filter_fields,
    choice,
    command_parser,
    int_at_least,
    open_catalog,
    pick,
    require_selection,
    warn_filter,
)
from sparkle_data.cli.make_sample import parse_size
from sparkle_data.layout import ARTIFACTS

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.export import ExportReport
    from sparkle_data.filters import Filter, SubsetSpec

__all__ = ["register"]

DESCRIPTION: Final = """\
Select samples of SOURCE with the paper's quality filters (or stricter / looser presets, an
expression, a saved subset spec), then export them:

  kiwi     a Kiwi-Edit training tree: {edit_type}/source_video|edited_video/{id}.mp4 and
           metadata.csv (prompt,src_video,tgt_video[,ref_image]). Pairs whose clips differ
           in size or frame count are dropped and counted (--trim-4k1 re-encodes them to a
           common 4k+1 frame count instead).
  wds      paired WebDataset shards shard-XXXXXX.tar ({id}.json, {id}.src.mp4, {id}.tgt.mp4
           and the --include-* extras), shards.json and a member index. They load with
           webdataset.WebDataset and datasets.load_dataset("webdataset", ...).
  sparkle  the Sparkle layout itself, restricted to the subset (prompts, metadata, the five
           record files, re-packed shards): every sparkle-data command reads it.
  hub      wds (or --hub-format sparkle) plus a dataset card README.md, ready for --push.

The selection is saved beside the export as OUT/subset.yaml (source root and revision, the
filter, seed, counts per edit type, sha256 of the ids): `--spec OUT/subset.yaml` rebuilds the
same ids later, or fails loudly if the source changed. Every export ends with OUT/export.json,
which lists every file with its size and sha256.

Exports are resumable: rerun the same command after an interruption and it skips what is
done (verified by size and sha256) and finishes the rest. Work runs in parallel per output
file or shard (--workers), or on Ray (--engine ray); the bytes are the same either way.
"""

EPILOG: Final = """\
examples:
  sparkle-data subset ./Sparkle --format kiwi --out ./kiwi --trim-4k1
      the paper's subset (the released corpus) as a Kiwi-Edit tree; then train with
      --vid_dataset_metadata_path ./kiwi/metadata.csv --dataset_base_path ./kiwi
  sparkle-data subset ./Sparkle --preset strict --edit-types location time --format wds \\
      --out ./wds --include-mask --max-shard-bytes 2G
  sparkle-data subset ./Sparkle --where "video_min_o_score >= 7.5 and subtheme in ['urban']" \\
      --limit-per-theme 500 --seed 1 --format sparkle --out ./urban
  sparkle-data subset hf://datasets/stdKonjac/Sparkle --spec ./urban/subset.yaml \\
      --format hub --out ./hub --push me/sparkle-urban
  sparkle-data subset ./Sparkle --preset loose --dry-run      counts only, writes nothing

expressions (--where): comparisons of catalog columns with numbers (chains allowed),
`col in [...]`, `'text' in prompt`, `col is None`, `matches(col, 'regex')`, the presets
(`paper`, `strict(video_mean_o_score=8.3)`), and/or/not. See docs/filters.md.
"""

_FORMATS: Final = ("kiwi", "wds", "sparkle", "hub")
_PRESETS: Final = ("paper", "strict", "loose", "none")


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "subset",
        help="select samples with filters and export them (Kiwi-Edit, WebDataset, Sparkle, Hub)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    sel = p.add_argument_group("selection")
    sel.add_argument(
        "--preset",
        type=choice("preset", _PRESETS),
        default=None,
        help="score thresholds: paper 8/8.5/8, strict 8.5/9/8.5, loose 7.5/8/7.5, none "
        "(default: paper)",
    )
    sel.add_argument("--where", metavar="EXPR", help="an extra filter expression (ANDed)")
    sel.add_argument(
        "--spec",
        metavar="FILE",
        help="select with a saved subset spec (.yaml/.json) instead; the ids must match it",
    )
    add_population(
        sel,
        ("corpus", "entered", "all"),
        "rows filtered: the released pairs (default), every id that entered the pipeline, "
        "or every row",
    )
    sel.add_argument(
        "--limit-per-theme", type=int_at_least(1), metavar="K", help="keep K ids per edit type"
    )
    sel.add_argument("--seed", type=int, default=0, help="seed of --limit-per-theme (default 0)")
    sel.add_argument("--name", help="name recorded in the subset spec (default: the preset)")
    sel.add_argument(
        "--source-revision",
        metavar="REV",
        help="Hub revision SOURCE was downloaded at, recorded in the spec (hf:// roots "
        "record theirs)",
    )
    sel.add_argument(
        "--dry-run",
        action="store_true",
        help="print the selection's counts, export nothing (the catalog is built as for the "
        "export, shards indexed, so the counts are the ids the export would write)",
    )
    add_allow_empty(sel)

    out = p.add_argument_group("export")
    out.add_argument(
        "--format",
        type=choice("format", _FORMATS),
        help="what to write (required unless --dry-run)",
    )
    out.add_argument("--out", metavar="DIR", help="output folder (new, empty, or to resume)")
    out.add_argument(
        "--overwrite",
        action="store_true",
        help="replace another export in DIR (or write into a non-empty DIR)",
    )
    out.add_argument(
        "--verify",
        choices=("sha256", "size"),
        default="sha256",
        help="how files done by an earlier run are checked before they are skipped",
    )

    out.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="drop (and count) samples with an unreadable member instead of failing (every format)",
    )

    kiwi = p.add_argument_group("kiwi")
    kiwi.add_argument("--base-dir", metavar="DIR", help="CSV paths relative to DIR (default OUT)")
    kiwi.add_argument(
        "--stage3", action="store_true", help="add ref_image (Stage 3 clean background PNGs)"
    )
    kiwi.add_argument(
        "--trim-4k1",
        action="store_true",
        help="re-encode pairs to the largest common 4k+1 frame count instead of dropping them",
    )
    kiwi.add_argument("--reencode", action="store_true", help="re-encode every clip (H.264)")
    kiwi.add_argument(
        "--link", action="store_true", help="hard-link/symlink loose files instead of copying"
    )

    w = p.add_argument_group("wds / hub")
    w.add_argument("--include-mask", action="store_true", help="add {id}.mask.npz")
    w.add_argument("--include-background", action="store_true", help="add {id}.bg.mp4")
    w.add_argument("--include-canny", action="store_true", help="add {id}.canny.mp4")
    w.add_argument(
        "--max-shard-bytes", type=parse_size, metavar="SIZE", help="shard size bound (default 1G)"
    )
    w.add_argument(
        "--max-shard-samples",
        type=int_at_least(1),
        metavar="N",
        help="samples per shard (default 10000)",
    )
    w.add_argument(
        "--hub-format",
        choices=("wds", "sparkle"),
        default="wds",
        help="what --format hub packs (default wds)",
    )
    w.add_argument("--pretty-name", help="title of the dataset card")

    s = p.add_argument_group("sparkle / hub")
    s.add_argument(
        "--artifacts",
        nargs="+",
        type=choice("artifact", tuple(ARTIFACTS)),
        metavar="A",
        help=f"artifacts to re-pack (default: all present; any of {', '.join(ARTIFACTS)})",
    )
    s.add_argument(
        "--shard-size", type=parse_size, metavar="SIZE", help="shard size bound (default 5G)"
    )
    s.add_argument(
        "--previews",
        type=int_at_least(0),
        default=0,
        metavar="K",
        help="also write K loose previews per type",
    )

    run = p.add_argument_group("run")
    run.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local thread pool (default) or Ray tasks (pip install 'sparkle-data[ray]')",
    )
    add_workers(run, "parallel units (default: CPUs, <= 8)")
    run.add_argument("--push", metavar="REPO", help="upload OUT to this Hub dataset repo")
    run.add_argument("--push-revision", metavar="BRANCH", help="branch to push to")
    run.add_argument("--private", action="store_true", help="create the Hub repo as private")
    add_quiet(run, "no progress bars")
    p.set_defaults(func=run_subset)


def _filter(args: argparse.Namespace) -> Filter | None:
    from sparkle_data.filters import And, field, get_preset, parse_filter

    parts: list[Filter] = []
    preset = args.preset or "paper"
    if preset != "none":
        parts.append(get_preset(preset))
    if args.edit_types:
        parts.append(field("edit_type").isin(list(args.edit_types)))
    if args.where:
        parts.append(parse_filter(args.where))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return And(tuple(parts))


def _spec(args: argparse.Namespace, catalog: Catalog) -> SubsetSpec:
    from sparkle_data.filters import SubsetSpec

    if args.spec:
        conflicting = [
            flag
            for flag, value in (
                ("--preset", args.preset),
                ("--where", args.where),
                ("--limit-per-theme", args.limit_per_theme),
                ("--name", args.name),
            )
            if value is not None
        ]
        if conflicting:
            drop = ", ".join(conflicting)
            raise UsageError(f"--spec fixes the selection; drop {drop}")
        return SubsetSpec.load(args.spec)
    selection = _filter(args)
    if selection is not None:
        check_filter_fields(selection, catalog)
        warn_filter(selection, catalog)
    return SubsetSpec.create(
        catalog,
        selection,
        population=args.population,
        seed=args.seed,
        limit_per_theme=args.limit_per_theme,
        revision=args.source_revision,
        name=args.name or args.preset or "paper",
    )


def _format_options(args: argparse.Namespace) -> dict[str, Any]:
    fmt = args.hub_format if args.format == "hub" else args.format
    if args.format == "kiwi":
        return pick(args, "base_dir", "stage3", "trim_4k1", "reencode", "link")
    if fmt == "wds":
        opts = pick(args, "include_mask", "include_background", "include_canny")
        bounds = pick(args, "max_shard_bytes", "max_shard_samples")
    else:
        opts = pick(args, "artifacts", "previews")
        bounds = {"shard_bytes": args.shard_size}
    return {**opts, **{k: v for k, v in bounds.items() if v is not None}}


def run_subset(args: argparse.Namespace) -> int:
    from sparkle_data.export import push_to_hub

    if not args.dry_run and (args.format is None or args.out is None):
        raise UsageError("--format and --out are required (or --dry-run)")
    # The same catalog for --dry-run as for the export: a filter on a location column
    # ({artifact}_shard, _file, _offset, _size), --population all and the duplicate check
    # all depend on the shards' indexes, so a dry run without them would count other ids.
    catalog = open_catalog(args)
    spec = _spec(args, catalog)
    ids = list(spec.select(catalog))
    counts = ", ".join(f"{k} {v}" for k, v in spec.counts.items()) or "none"
    rule = spec.filter.describe() if spec.filter else "no filter"
    print(f"selected {len(ids)} ids ({counts}) with {rule}")
    require_selection(len(ids), "the filter", args)
    if args.dry_run or not ids:
        return 0
    common: dict[str, Any] = {
        "spec": spec,
        "engine": args.engine,
        "workers": args.workers,
        "verify": args.verify,
        "overwrite": args.overwrite,
        "progress": not args.quiet,
        "on_error": "skip" if args.skip_corrupt else "error",
    }
    opts = _format_options(args)
    try:
        report = _export(args, catalog, ids, common, opts)
    except ImportError as e:  # engine="ray" without Ray installed
        print(f"sparkle-data subset: error: {e}", file=sys.stderr)
        return 1
    print(report)
    if args.push:
        sha = push_to_hub(
            args.out, args.push, revision=args.push_revision, private=args.private or None
        )
        print(f"pushed {args.out} to datasets/{args.push} (commit {sha[:12]})")
    return 0


def _export(
    args: argparse.Namespace,
    catalog: Catalog,
    ids: list[str],
    common: dict[str, Any],
    opts: dict[str, Any],
) -> ExportReport:
    from sparkle_data.export import export_hub, export_kiwi, export_sparkle, export_wds

    if args.format == "kiwi":
        return export_kiwi(catalog, ids, args.out, **common, **opts)
    if args.format == "wds":
        return export_wds(catalog, ids, args.out, **common, **opts)
    if args.format == "sparkle":
        return export_sparkle(catalog, ids, args.out, **common, **opts)
    return export_hub(
        catalog,
        ids,
        args.out,
        format=args.hub_format,
        pretty_name=args.pretty_name,
        **common,
        **opts,
    )
