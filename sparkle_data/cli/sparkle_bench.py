"""``sparkle-data sparkle-bench {check,rate,scores}``: evaluate a model on Sparkle-Bench."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any

from sparkle_data.cli._common import (
    UsageError,
    add_json,
    add_quiet,
    choice,
    command_parser,
    emit,
    int_at_least,
)
from sparkle_data.errors import RubricError, SparkleWarning

DEFAULT_BENCH = "hf://datasets/stdKonjac/Sparkle-Bench"
_THEMES = ("location", "season", "time", "style")

DESCRIPTION = """\
Evaluate a video background-replacement model on Sparkle-Bench (458 videos, 4 themes), with
upstream's protocol (showlab/Sparkle: test_benchmark_sparkle_bench.py and
eval_sparkle_bench_gemini.py):

  1. your inference writes OUTDIR/{theme}/{subtheme}---{scene_key}/{id}_edited.mp4
     (items and sharding: sparkle_data.sparkle_bench.load_items / BenchItems.shard);
  2. `check` compares OUTDIR with the items (missing, extra, unreadable, frames, size);
  3. `rate` asks a multimodal rater (any OpenAI-compatible endpoint) for six 1-5 scores per
     video and appends each answer to OUTDIR/{theme}_{model}_sparkle_score.jsonl at once
     (rerun to resume);
  4. `scores` prints the per-theme means and the macro row, side by side for several OUTDIRs.

Exit status of every step: 0 nothing wrong; 1 it ran and found problems (outputs missing,
items unrated, a macro row refused); 2 nothing to work on or a bad input (no OUTDIR, a bench
root without a theme's files, no score files, an unknown rater, an unusable rubric).
"""

EPILOG = """\
examples:
  sparkle-data sparkle-bench check runs/ckpt-a --bench-root ./Sparkle-Bench
  export OPENAI_API_KEY=...
  sparkle-data sparkle-bench rate runs/ckpt-a --bench-root ./Sparkle-Bench \\
      --endpoint https://my-gateway/v1 --model gemini-2.5-pro --rubric eval_sparkle_bench_gemini.py
  sparkle-data sparkle-bench scores runs/ckpt-a runs/ckpt-b --csv cmp.csv --plot plots/

See docs/sparkle-bench.md for the whole worked example.
"""


def _add_bench(p: argparse.ArgumentParser, *, default_hub: bool) -> None:
    p.add_argument(
        "--bench-root",
        metavar="ROOT",
        default=DEFAULT_BENCH if default_hub else None,
        help="Sparkle-Bench root: a local folder or hf://datasets/stdKonjac/Sparkle-Bench"
        + (f" (default {DEFAULT_BENCH})" if default_hub else ""),
    )
    p.add_argument(
        "--themes", nargs="+", type=choice("theme", _THEMES), metavar="T",
        help=f"only these themes (default: all of {', '.join(_THEMES)})",
    )


def _step(
    cmds: Any, name: str, *, help: str, description: str, epilog: str, what: str
) -> argparse.ArgumentParser:
    """A step on the outputs of one run (``check``, ``rate``): OUTDIR, the bench, -q, --json."""
    p = command_parser(cmds, name, help=help, description=description, epilog=epilog)
    p.add_argument("outdir", metavar="OUTDIR", help="inference output dir (local)")
    _add_bench(p, default_hub=True)
    add_json(p, what)
    add_quiet(p)
    return p


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "sparkle-bench",
        help="Sparkle-Bench: check outputs, rate them with an LLM rater, aggregate scores",
        description=DESCRIPTION,
        epilog=EPILOG,
    )

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)
    cmds = p.add_subparsers(dest="sparkle_bench_command", metavar="<step>")

    c = _step(
        cmds,
        "check",
        help="compare an inference output dir with the items",
        description="Per theme: outputs missing, extra files, unreadable MP4s, frame counts "
        "other than min(source frames, --max-frames) and sizes other than the source's. "
        "Exit 0 when clean, 1 otherwise, 2 when there is nothing to check (no OUTDIR, a "
        "bench root without the themes' files).",
        epilog="examples:\n  sparkle-data sparkle-bench check runs/a --bench-root ./Sparkle-Bench\n"
        "  sparkle-data sparkle-bench check runs/a --size aspect --max-frames 0 --json -\n",
        what="the report",
    )
    c.add_argument("--no-probe", action="store_true", help="check file names only")
    c.add_argument(
        "--max-frames", type=int_at_least(0), default=81, metavar="N",
        help="outputs hold min(source frames, N) frames (upstream: 81; 0: no cap)",
    )
    c.add_argument("--frames", choices=("exact", "none"), default="exact",
                   help="frame-count rule (default exact)")
    c.add_argument("--size", choices=("exact", "aspect", "none"), default="exact",
                   help="size rule: exact, aspect (ratio within 2%%, for resizing models), none")
    c.set_defaults(func=run_check)

    r = _step(
        cmds,
        "rate",
        help="rate the outputs with a multimodal model behind an OpenAI-compatible API",
        description="Send each (source, edited) pair with the rubric to the rater, as upstream "
        "does (temperature 0, seed 42, both videos as data:video/mp4 parts), and append every "
        "valid answer to OUTDIR/{theme}_{model}_sparkle_score.jsonl as it arrives. Rerun to "
        "resume: rated ids are skipped. Exit 0 when every item is rated, 1 otherwise (the "
        "unrated items are listed, and written to {theme}_{model}_sparkle_unrated.json), 2 "
        "for bad input (no OUTDIR, a rubric that cannot be used, a bench root without the "
        "themes' files, no API key).",
        epilog="examples:\n"
        "  export OPENAI_API_KEY=...\n"
        "  sparkle-data sparkle-bench rate runs/a --bench-root ./Sparkle-Bench \\\n"
        "      --endpoint https://gateway.example/v1 --model gemini-2.5-pro \\\n"
        "      --rubric eval_sparkle_bench_gemini.py --concurrency 16\n"
        "  sparkle-data sparkle-bench rate runs/a --endpoint http://127.0.0.1:8000/v1 \\\n"
        "      --model local-vlm --rubric rubric.txt --api-key-env LOCAL_KEY --themes time\n",
        what="the run report",
    )
    r.add_argument("--endpoint", required=True, metavar="URL",
                   help="base URL of an OpenAI-compatible API (…/v1)")
    r.add_argument("--model", required=True, metavar="NAME", help="rater model name")
    r.add_argument(
        "--rubric", required=True, metavar="FILE",
        help="rubric text file with an {edit_prompt} slot, or upstream's "
        "eval_sparkle_bench_gemini.py (its BACKGROUND_REPLACEMENT string is read with ast, "
        "never executed)",
    )
    r.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    r.add_argument("--score-tag", metavar="TAG",
                   help="name in the score file names (default: the model, / replaced by _)")
    r.add_argument("--concurrency", type=int_at_least(1), default=8, metavar="N",
                   help="requests in flight (default 8)")
    r.add_argument("--max-invalid", type=int_at_least(1), default=20, metavar="N",
                   help="asks per item ending in an invalid answer before giving up (default 20)")
    r.add_argument("--max-retries", type=int_at_least(0), default=8, metavar="N",
                   help="429/5xx/timeout/connection failures per item (default 8)")
    r.add_argument("--backoff", type=float, default=2.0, metavar="S",
                   help="first backoff in seconds, doubled per failure (default 2)")
    r.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds per request (default 60)")
    r.add_argument("--temperature", type=float, default=0.0, help="default 0 (upstream)")
    r.add_argument("--seed", type=int, default=42, help="default 42 (upstream); -1: none")
    r.set_defaults(func=run_rate)

    s = command_parser(
        cmds,
        "scores",
        help="per-theme means and the macro row of one or more output dirs",
        description="Aggregate score files (ours or upstream's) exactly as upstream: per theme "
        "the mean of each dimension and overall = mean of the six means; MACRO = mean over "
        "themes of the per-theme means. The macro row is refused (exit 1) while a theme or "
        "an item is unrated, or when the expected items are unknown (give --bench-root, or "
        "rate with `rate`, which records them), unless --allow-missing. An OUTDIR with no "
        "score file (of --rater, for --themes) is an error (exit 2): nothing to aggregate.",
        epilog="examples:\n"
        "  sparkle-data sparkle-bench scores runs/a\n"
        "  sparkle-data sparkle-bench scores runs/a runs/b --names base ours --csv cmp.csv "
        "--plot plots/\n"
        "  sparkle-data sparkle-bench scores upstream_results/ --bench-root ./Sparkle-Bench\n"
        "  sparkle-data sparkle-bench scores runs/a --allow-missing\n",
    )
    s.add_argument("outdirs", nargs="+", metavar="OUTDIR", help="output dirs (one per run)")
    _add_bench(s, default_hub=False)
    s.add_argument("--names", nargs="+", metavar="NAME", help="run names (default: dir names)")
    s.add_argument("--rater", metavar="TAG",
                   help="rater in the score file names (default: the only one present)")
    s.add_argument("--allow-missing", action="store_true",
                   help="print macro rows over what is rated, with the counts")
    s.add_argument("--csv", metavar="FILE", help="write the table as CSV (full precision)")
    s.add_argument("--plot", metavar="DIR", help="write one PNG per dimension into DIR")
    add_json(s, "the rows")
    s.add_argument("--digits", type=int_at_least(0), default=2,
                   help="decimals in the table (default 2)")
    s.set_defaults(func=run_scores)


def _outdir(path: str) -> None:
    if not os.path.isdir(path):
        raise NotADirectoryError(f"Output dir {path!r} does not exist.")


def _items(args: argparse.Namespace) -> Any:
    """The bench items of ``--themes``; a root without them is bad input (exit 2)."""
    from sparkle_data.errors import MissingArtifactError
    from sparkle_data.sparkle_bench.items import load_items

    try:
        items = load_items(args.bench_root, themes=args.themes)
    except MissingArtifactError as e:  # no such root, or a theme's CSV/metadata missing
        raise UsageError(str(e)) from e
    if not items:
        themes = ", ".join(args.themes or _THEMES)
        raise UsageError(f"no Sparkle-Bench items in {args.bench_root} (themes {themes}).")
    return items


def run_check(args: argparse.Namespace) -> int:
    from sparkle_data.sparkle_bench.check import check_outputs, format_check

    _outdir(args.outdir)
    items = _items(args)
    report = check_outputs(
        args.outdir, items, probe=not args.no_probe, max_frames=args.max_frames,
        frames=args.frames, size=args.size, progress=not args.quiet,
    )
    total = sum(t.present for t in report.themes)
    status = f"{'OK' if report.ok else 'FAIL'}: {total} of {len(items)} outputs present"
    emit(args.json, report.to_dict, lambda: f"{format_check(report)}\n{status}")
    return 0 if report.ok else 1


def run_rate(args: argparse.Namespace) -> int:
    from sparkle_data.sparkle_bench.rater import (
        RaterConfig,
        format_rate_report,
        make_client,
        rate_items,
    )
    from sparkle_data.sparkle_bench.rubric import load_rubric

    key = os.environ.get(args.api_key_env)
    if not key:
        raise ValueError(
            f"The API key variable ${args.api_key_env} is not set. Export it (keys are read "
            "from the environment only), or name another with --api-key-env."
        )
    _outdir(args.outdir)
    try:
        rubric = load_rubric(args.rubric)
    except RubricError as e:  # a rubric file that cannot be used is a bad option value
        raise UsageError(str(e)) from e
    items = _items(args)
    config = RaterConfig(
        model=args.model, temperature=args.temperature, seed=None if args.seed < 0 else args.seed,
        timeout=args.timeout, max_invalid=args.max_invalid, max_retries=args.max_retries,
        backoff=args.backoff, concurrency=args.concurrency,
    )
    client = make_client(args.endpoint, key, timeout=args.timeout)
    report = rate_items(
        items, args.outdir, client=client, rubric=rubric, config=config, tag=args.score_tag,
        progress=not args.quiet,
    )
    total = sum(report.expected.values())
    done = sum(report.already.values()) + sum(report.rated.values())
    if report.complete and not any(report.rated.values()):
        status = f"OK: nothing to do, all {total} items were already rated"
    else:
        status = f"{'OK' if report.complete else 'INCOMPLETE'}: {done} of {total} items rated"
    emit(args.json, report.to_dict, lambda: f"{format_rate_report(report)}\n{status}")
    return 0 if report.complete else 1


def _row_json(r: Any) -> dict[str, object]:
    return {
        "theme": r.theme, "run": r.run, "n": r.n, "expected": r.expected, "missing": r.missing,
        "overall": r.overall, "means": None if r.means is None else list(r.means),
        "note": r.note,
    }


def _score_files(outdir: str, rater: str | None, themes: list[str]) -> None:
    """Refuse (exit 2) an OUTDIR that holds nothing to aggregate (see
    :func:`~sparkle_data.sparkle_bench.aggregate.pick_score_files`)."""
    from sparkle_data.sparkle_bench.aggregate import pick_score_files

    _outdir(outdir)
    try:
        pick_score_files(outdir, rater, themes)
    except ValueError as e:  # ScoreFileError, or a --rater no score file name can hold
        raise UsageError(str(e)) from e


def run_scores(args: argparse.Namespace) -> int:
    from sparkle_data.sparkle_bench.aggregate import UPSTREAM_THEME_ORDER, load_run
    from sparkle_data.sparkle_bench.table import comparison_rows, format_table, write_csv

    if args.names and len(args.names) != len(args.outdirs):
        raise ValueError(f"--names has {len(args.names)} names for {len(args.outdirs)} dirs.")
    themes = [t for t in UPSTREAM_THEME_ORDER if args.themes is None or t in args.themes]
    for d in args.outdirs:
        _score_files(d, args.rater, themes)
    expected = None
    if args.bench_root:
        items = _items(args)
        expected = {t: [it.sample_id for it in items.by_theme(t)] for t in themes}
    names = args.names or [os.path.basename(os.path.normpath(d)) for d in args.outdirs]
    if len(set(names)) != len(names):
        names = [os.path.normpath(d) for d in args.outdirs]
    runs = [
        load_run(d, tag=args.rater, themes=themes, expected=expected, name=n)
        for d, n in zip(args.outdirs, names, strict=True)
    ]
    for run in runs:
        for path in run.torn_tails:
            warnings.warn(
                f"{path} ends in a torn line (ignored); rerun `rate` to finish it",
                SparkleWarning,
                stacklevel=1,
            )
    rows = comparison_rows(runs, allow_missing=args.allow_missing)
    emit(
        args.json,
        lambda: [_row_json(r) for r in rows],
        lambda: format_table(runs, allow_missing=args.allow_missing, digits=args.digits),
    )
    if args.csv:
        write_csv(runs, args.csv, allow_missing=args.allow_missing)
    if args.plot:
        from sparkle_data.sparkle_bench.plot import plot_runs

        plot_runs(runs, args.plot, allow_missing=args.allow_missing)
    refused = [r for r in rows if r.theme == "MACRO" and r.means is None]
    for r in refused:
        print(f"sparkle-bench scores: macro row of {r.run} {r.note}; rate the rest or pass "
              "--allow-missing", file=sys.stderr)
    return 1 if refused else 0
