"""``sparkle-data regen``: plan and rebuild missing pipeline intermediates (see docs/regen.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Final

from sparkle_data.cli._common import UsageError, int_at_least, write_json
from sparkle_data.cli.make_sample import parse_size

__all__ = ["register"]

SUBCOMMANDS: Final = ("run", "plan", "pack", "calibrate-canny", "new")

DESCRIPTION: Final = """\
Rebuild missing pipeline intermediates of a dataset root with the pipeline's stages.

Forms (the first word picks one; a root first means `run`):
  sparkle-data regen [run] ROOT [options]        plan, then rebuild what is missing
  sparkle-data regen plan ROOT [options]         the plan only (= run --dry-run)
  sparkle-data regen pack OUT [--shard-size S]   pack outputs a --pack run staged into shards
  sparkle-data regen calibrate-canny ROOT        measure Canny settings on released canny videos
  sparkle-data regen new VIDEOS CSV --out DIR --edit-type T
                                                 a Sparkle-layout tree for your own videos

Stages (what each makes, where it runs; model stages need `pip install
"sparkle-data[regen-models]"`, EditScore `"sparkle-data[regen-editscore]"`):
@STAGES@

--artifacts names artifacts or record files; what they need is scheduled first. Runs
resume: rerun the same command after a crash or kill. Record files get one line per sample,
merged into intermediate_data/{edit_type}/{record}.jsonl when the run ends. With --pack the
outputs go into tar shards named as the card names them
(intermediate_data/{edit_type}_{artifact}_partXX.tar) instead of loose files.
`sparkle-data regen run --help` lists the options of a form.
"""

_STAGES_MARK: Final = "@STAGES@"

EPILOG: Final = """\
examples:
  sparkle-data regen ./Sparkle --artifacts source_frame0 --dry-run
  sparkle-data regen run ./Sparkle --artifacts source_frame0 edited_video_canny --workers 4
  sparkle-data regen run ./Sparkle --artifacts foreground_grounding_r2 \
      --config foreground_grounding_r2.model=./Qwen3-VL-32B-Instruct
  sparkle-data regen run hf://datasets/stdKonjac/Sparkle --edit-types time --out ./regen
  sparkle-data regen run ./Sparkle --runner ray --workers 8
  sparkle-data regen run ./Sparkle --artifacts source_frame0 --out ./regen --pack --shard-size 5G
  sparkle-data regen pack ./regen                  # after a multi-rank (torchrun/SLURM) --pack run
  sparkle-data regen calibrate-canny ./Sparkle --edit-types location --limit 20
  sparkle-data regen new ./my_videos ./my_prompts.csv --out ./MySparkle --edit-type location
"""


def stage_lines() -> str:
    """One line per registered stage (the registry is imported only when help is shown)."""
    from sparkle_data.regen.registry import stages

    rows = []
    for st in stages():
        where = "cpu" if st.device == "cpu" else f"gpu ~{st.gpu_memory_gib:g} GiB"
        kind = "record" if st.record is not None else "artifact"
        rows.append(f"  {st.name} ({kind}, {where})\n      {st.description}")
    return "\n".join(rows)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Fills the stage list in when the help is printed (not at start-up)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if _STAGES_MARK in text:
            text = text.replace(_STAGES_MARK, stage_lines())
        return super()._fill_text(text, width, indent)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "regen",
        help="plan and rebuild missing intermediates (resumable, local or Ray)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Help,
    )
    p.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="[run|plan|pack|calibrate-canny|new] ..."
    )
    p.set_defaults(func=run)


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", metavar="ROOT", help="dataset root (folder, hf://, https://)")
    p.add_argument("--ids", nargs="+", metavar="ID", help="only these sample ids")
    p.add_argument("--edit-types", nargs="+", metavar="T", help="only these edit types")
    p.add_argument("--where", metavar="EXPR", help="a filter expression (docs/filters.md)")
    p.add_argument("--subset", metavar="FILE", help="a subset spec file (docs/export.md)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _run_parser(prog: str, dry: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Plan the regeneration of --artifacts for the selected corpus samples"
        + ("." if dry else ", then run it; outputs are validated and written atomically."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _selection(p)
    p.add_argument(
        "--artifacts",
        nargs="+",
        default=["source_frame0", "edited_video_canny"],
        metavar="A",
        help="artifacts or record files to rebuild, space- or comma-separated "
        "(default: source_frame0 edited_video_canny; `sparkle-data regen --help` lists "
        "the stages)",
    )
    p.add_argument("--out", metavar="DIR", help="where outputs go (default: the root itself)")
    p.add_argument("--json", metavar="FILE", help="write the plan/report as JSON (- for stdout)")
    p.add_argument(
        "--pack",
        action="store_true",
        help="write outputs into tar shards {edit_type}_{artifact}_partXX.tar under "
        "OUT/intermediate_data (appended after existing parts) instead of loose files",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="nothing to regenerate is not an error (exit 0 instead of 2)",
    )
    if not dry:
        p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
        p.add_argument("--runner", choices=("local", "ray"), default="local")
        p.add_argument("--workers", type=int, help="worker processes / Ray actors")
        p.add_argument("--retries", type=int, default=1, help="retries per sample (default 1)")
        p.add_argument("--max-failures", type=int, help="stop after more failed samples")
        p.add_argument(
            "--config",
            action="append",
            default=[],
            metavar="STAGE.FIELD=VALUE",
            help="override a stage config field, e.g. edited_video_canny.low=80 (repeatable)",
        )
        p.add_argument(
            "--shard-size",
            type=parse_size,
            metavar="SIZE",
            help="with --pack: shard size bound, e.g. 2G (default 5G, as the card's shards)",
        )
    return p


def _configs(items: list[str]) -> dict[str, Any]:
    import dataclasses

    from sparkle_data.regen.registry import get_stage

    changes: dict[str, dict[str, Any]] = {}
    for text in items:
        key, sep, raw = text.partition("=")
        stage, dot, fld = key.partition(".")
        if not sep or not dot:
            raise UsageError(f"invalid --config {text!r}: use STAGE.FIELD=VALUE")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        changes.setdefault(stage, {})[fld] = value
    out: dict[str, Any] = {}
    for stage, kv in changes.items():
        try:
            out[stage] = dataclasses.replace(get_stage(stage).config, **kv)
        except (TypeError, ValueError) as e:
            raise UsageError(f"invalid --config for {stage}: {e}") from None
    return out


def _emit(data: Any, dest: str | None) -> None:
    if dest:
        write_json(data, dest)


def _check_counts(a: argparse.Namespace) -> None:
    for name, low in (("workers", 1), ("retries", 0), ("max_failures", 0)):
        value = getattr(a, name, None)
        if value is not None and value < low:
            raise UsageError(
                f"invalid --{name.replace('_', '-')} {value}: must be an integer >= {low}"
            )
    if getattr(a, "shard_size", None) is not None and not a.pack:
        raise UsageError("--shard-size needs --pack (loose outputs are not sharded)")


def _artifacts(values: list[str]) -> list[str]:
    from sparkle_data.cli._common import did_you_mean
    from sparkle_data.layout import ARTIFACTS, INTERMEDIATE_ARTIFACTS, RECORD_FILES

    names = [s.strip() for v in values for s in v.split(",") if s.strip()]
    valid = (*ARTIFACTS, *RECORD_FILES)
    bad = [n for n in names if n not in valid]
    if bad or not names:
        hint = did_you_mean(bad[0], valid) if bad else ""
        raise UsageError(
            f"invalid --artifacts {' '.join(values)!r}: "
            + (f"unknown {', '.join(bad)}{hint}; " if bad else "")
            + f"name some of {', '.join((*INTERMEDIATE_ARTIFACTS, *RECORD_FILES))}"
        )
    return names


def _catalog(a: argparse.Namespace) -> Any:
    """The root's catalog; a root with no Sparkle piece is a usage error (exit 2)."""
    from sparkle_data.catalog import build_catalog
    return build_catalog(a.root, edit_types=a.edit_types, progress=not a.quiet, on_error="skip")


def _nothing(plan: Any, allow_empty: bool, what: str | None = None) -> int:
    """Nothing to run: an error (exit 2) unless ``--allow-empty`` (then a note, exit 0)."""
    text = what or (
        "nothing to regenerate: every wanted artifact of the "
        f"{len(plan.selected)} selected samples is present"
        + (f" or blocked ({len(plan.blocked)} pairs, see above)" if plan.blocked else "")
    )
    if allow_empty:
        print(f"sparkle-data regen: {text}.", file=sys.stderr)
        return 0
    raise UsageError(f"{text} (pass --allow-empty if that is expected).")


def _cmd_run(argv: list[str], dry: bool) -> int:
    prog = "sparkle-data regen " + ("plan" if dry else "run")
    a = _run_parser(prog, dry).parse_args(argv)
    _check_counts(a)
    configs = {} if dry else _configs(a.config)
    from sparkle_data.regen.manifest import build_manifest, write_manifest
    from sparkle_data.regen.pack import staged_outputs
    from sparkle_data.regen.planner import plan_regen
    from sparkle_data.regen.records import merge_records, pending_records

    wanted = _artifacts(a.artifacts)
    plan = plan_regen(
        _catalog(a),
        wanted,
        out=a.out,
        ids=a.ids,
        edit_types=a.edit_types,
        where=a.where,
        subset=a.subset,
        progress=not a.quiet,
        pack=a.pack,
    )
    if not plan.selected:
        return _nothing(
            plan, a.allow_empty, "nothing to regenerate: the selection holds no corpus sample"
        )
    staged = bool(a.pack and staged_outputs(plan.out))
    pending = pending_records(plan.out)
    if dry or a.dry_run:
        if a.json != "-":
            print(plan.format())
            if staged:
                print("  outputs staged by an earlier --pack run wait to be packed")
            if pending:
                print(f"  {pending} record lines of an earlier run wait to be merged")
        _emit(plan.to_dict(), a.json)
        if not plan.items and not staged and not pending:
            return _nothing(plan, a.allow_empty)
        return 0
    if not plan.items and not staged:
        if a.json != "-":
            print(plan.format())
        if pending:  # a run killed after its last line, before the merge
            for rel, n in merge_records(plan.out).items():
                print(f"  merged {n} lines of an earlier run into {rel}")
            return 0
        return _nothing(plan, a.allow_empty)
    names = {s for it in plan.items for s in it.stages}
    if names:
        write_manifest(plan.out, build_manifest(names, configs))
    pack_opts = {} if a.shard_size is None else {"shard_bytes": a.shard_size}
    if a.runner == "ray":
        from sparkle_data.regen.ray_runner import run_ray

        report = run_ray(
            plan,
            workers=a.workers or 2,
            configs=configs,
            retries=a.retries,
            max_failures=a.max_failures,
            progress=not a.quiet,
            **pack_opts,
        )
    else:
        from sparkle_data.regen.local import run_local

        report = run_local(
            plan,
            workers=a.workers,
            configs=configs,
            retries=a.retries,
            max_failures=a.max_failures,
            progress=not a.quiet,
            **pack_opts,
        )
    path = report.write(plan.out)
    if a.json != "-":
        print(report.format())
        if plan.blocked:
            print(f"  {len(plan.blocked)} (sample, artifact) pairs blocked (see --dry-run)")
        print(f"  report: {path}")
    _emit(report.to_dict(), a.json)
    return 0 if report.ok else 1


def _cmd_pack(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="sparkle-data regen pack",
        description="Pack the outputs a `regen --pack` run staged under OUT/.regen/staging\n"
        "into tar shards OUT/intermediate_data/{edit_type}_{artifact}_partXX.tar (after the\n"
        "highest existing part), recording every member in OUT/.regen/pack.json.\n"
        "A --pack run does this itself at the end; run this after a multi-rank\n"
        "(torchrun/SLURM) run, once every rank has finished. Resumable: rerun after a crash\n"
        "or kill (see docs/regen.md).",
        epilog="examples:\n  sparkle-data regen pack ./regen\n"
        "  sparkle-data regen pack ./Sparkle --shard-size 2G\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="the output folder of the --pack run")
    p.add_argument(
        "--shard-size", type=parse_size, metavar="SIZE", help="shard size bound (default 5G)"
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="nothing staged is not an error (exit 0 instead of 2)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    from sparkle_data.regen.pack import DEFAULT_SHARD_BYTES, pack_staged

    if not os.path.isdir(a.out):
        raise UsageError(f"invalid OUT {a.out!r}: not a folder")
    rep = pack_staged(a.out, shard_bytes=a.shard_size or DEFAULT_SHARD_BYTES, progress=not a.quiet)
    if not rep.shards:
        text = f"nothing to pack: no staged outputs under {a.out}/.regen/staging"
        if rep.recovered:
            print(
                f"sparkle-data regen: {text} ({len(rep.recovered)} shards of a killed run "
                "recovered).",
                file=sys.stderr,
            )
            return 0
        return _nothing(None, a.allow_empty, text)
    print(rep.format() + ": " + ", ".join(rep.shards))
    return 0


def _cmd_calibrate(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="sparkle-data regen calibrate-canny",
        description="Grid-search the Canny settings against samples holding source video, "
        "mask, background video and a canny video; reports edge F1 (1-px tolerance) per "
        "setting, best first.",
    )
    _selection(p)
    p.add_argument("--limit", type=int_at_least(1), default=20, help="samples to use (default 20)")
    p.add_argument(
        "--frames", type=int_at_least(1), default=8, help="frames per sample (default 8)"
    )
    p.add_argument(
        "--grid",
        nargs="+",
        metavar="FIELD=V1,V2",
        help="grid values, e.g. blur=0,3,5 low=50,100 (default: a built-in grid)",
    )
    p.add_argument("--json", metavar="FILE", help="write every setting's scores (- for stdout)")
    a = p.parse_args(argv)
    from sparkle_data.regen.calibrate import calibrate_canny
    from sparkle_data.regen.planner import select_samples

    catalog = _catalog(a)
    ids = select_samples(
        catalog, ids=a.ids, edit_types=a.edit_types, where=a.where, subset=a.subset
    )
    grid = None
    if a.grid:
        grid = {}
        for g in a.grid:
            k, _, v = g.partition("=")
            grid[k] = tuple(json.loads(x) for x in v.split(","))
    try:
        res = calibrate_canny(
            catalog,
            ids=ids,
            grid=grid,
            frames_per_sample=a.frames,
            limit=a.limit,
            progress=not a.quiet,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if a.json != "-":
        print(res.format())
    _emit(res.to_dict(), a.json)
    return 0


def _cmd_new(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="sparkle-data regen new",
        description="Create a Sparkle-layout tree for your own source videos (ids "
        "Sparkle_{edit_type}_900000 and up, a range Sparkle's ids never reach).",
    )
    p.add_argument("videos", metavar="VIDEOS", help="folder of source videos")
    p.add_argument("csv", metavar="CSV", help="prompts CSV: prompt,src_video,tgt_video,task")
    p.add_argument("--out", required=True, metavar="DIR", help="the new root")
    p.add_argument("--edit-type", required=True, help="edit type of every row")
    p.add_argument("--start", type=int, default=900_000, help="first index (>= 900000)")
    a = p.parse_args(argv)
    from sparkle_data.regen.newdata import make_user_tree

    res = make_user_tree(a.videos, a.csv, a.out, edit_type=a.edit_type, start=a.start)
    print(
        f"wrote {len(res.ids)} samples ({res.copied} copied, {res.reencoded} re-encoded) "
        f"to {res.root}: {res.ids[0]} .. {res.ids[-1]}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    argv: list[str] = list(args.args)
    if not argv:
        print(DESCRIPTION.replace(_STAGES_MARK, stage_lines()) + "\n" + EPILOG, file=sys.stderr)
        return 2
    head, rest = argv[0], argv[1:]
    if head == "plan":
        return _cmd_run(rest, dry=True)
    if head == "calibrate-canny":
        return _cmd_calibrate(rest)
    if head == "new":
        return _cmd_new(rest)
    if head == "pack":
        return _cmd_pack(rest)
    if head == "run":
        return _cmd_run(rest, dry=False)
    return _cmd_run(argv, dry=False)
