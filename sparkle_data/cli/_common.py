"""Arguments and checks shared by the subcommands (package-private to ``sparkle_data.cli``).

* :func:`command_parser` adds a command whose ``--help`` keeps the description's layout and
  ends with its examples (an epilog is required).
* :func:`add_root` adds ``ROOT`` and the options of every catalog-reading command
  (``--edit-types``, ``--index-file``, ``--no-cache``, ``--retries``/``--timeout``,
  ``--skip-bad``, ``--duplicates``); the ``add_*`` helpers below it add the options several
  commands repeat (``--json``, ``-q``, ``--workers``, ``--population``, ``--allow-empty``).
* :func:`open_catalog` is the one way a command builds its catalog from those arguments: it
  resolves ``--index-file`` (:func:`resolve_index_file`), builds the catalog and refuses a root
  holding no Sparkle piece (``build_catalog`` raises ``NoDatasetError``, naming the nearest
  folder that has one; the CLI prints it as a usage error).
* :func:`choice` is an argparse ``type`` with a did-you-mean and the valid list;
  :func:`check_filter_fields` does the same for the fields of a filter expression.
* :func:`emit` prints a result, or writes it as JSON (``--json FILE|-``).
* :class:`UsageError` is what a command raises for a bad value: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.errors import FilterWarning, SparkleSkipWarning
from sparkle_data.errors import UsageError as UsageError  # re-exported for the commands
from sparkle_data.layout import EDIT_TYPES

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.catalog.duplicates import DuplicateRule
    from sparkle_data.filters import Filter
    from sparkle_data.io.retry import RetryPolicy
    from sparkle_data.policy import OnError

_LOCATION_COLUMN: Final = re.compile(
    r"(_file|_shard|_offset|_size)$|^video_(o|sc|pq)_score_\d+$|^video_frame_index_\d+$"
)
INDEX_FILE_RULE: Final = (
    "a relative path is looked up in the current directory first, then under ROOT "
    "(the same rule as sparkle_data.hf.load_dataset(index_file=...))"
)


# --------------------------------------------------------------------------- did-you-mean


def did_you_mean(value: str, valid: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest valid name, or ``""``."""
    close = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown(what: str, value: str, valid: Sequence[str]) -> str:
    """The one-line message for a name that is not one of ``valid``."""
    return f"unknown {what} {value!r}.{did_you_mean(value, valid)} Valid: {', '.join(valid)}."


def choice(what: str, valid: Sequence[str]) -> Callable[[str], str]:
    """An argparse ``type`` accepting one of ``valid`` and suggesting the closest otherwise."""

    def parse(text: str) -> str:
        if text in valid:
            return text
        raise argparse.ArgumentTypeError(unknown(what, text, valid))

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


positive_int = int_at_least(1)


# --------------------------------------------------------------------------- arguments


Container = argparse.ArgumentParser | argparse._ArgumentGroup
"""Where an option is added: a parser or one of its argument groups."""


def command_parser(
    sub: Any, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """Add command ``name`` to ``sub``: ``help`` in the command list, ``description`` and the
    ``epilog`` (its examples) in its ``--help``, both printed with their line breaks."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_source(parser: argparse.ArgumentParser) -> None:
    """``ROOT``, ``--edit-types``, ``--no-cache``, ``--retries``/``--timeout``: where the
    shards are and how they are read (``index``, which builds no catalog)."""
    parser.add_argument(
        "root",
        metavar="ROOT",
        help="dataset root: a local folder (downloaded repo or extracted tree, the folder "
        "holding prompts/ and the shards), hf://datasets/stdKonjac/Sparkle[@revision], "
        "or an http:// or https:// URL",
    )
    add_edit_types(parser, "only these edit types")
    add_no_cache(parser)
    add_retry(parser)


def add_root(parser: argparse.ArgumentParser) -> None:
    """:func:`add_source` and the catalog options :func:`open_catalog` reads
    (``--index-file``, ``--skip-bad``, ``--duplicates``)."""
    add_source(parser)
    add_index_file(
        parser,
        "a published member index (from `sparkle-data index --out`): shards it "
        f"describes are not rescanned; {INDEX_FILE_RULE}",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip bad record lines, CSV rows and damaged shards while reading the root "
        "(counted by reason, printed as a warning) instead of failing on the first",
    )
    parser.add_argument(
        "--duplicates",
        choices=("error", "first", "last"),
        default=None,
        help="an id held by two shards of one artifact family: fail (default; verify "
        "reports it), or keep the first/last shard's copy",
    )


def add_edit_types(parser: Container, what: str) -> None:
    """``--edit-types T [T ...]`` (did-you-mean on a typo; default: all five)."""
    parser.add_argument(
        "--edit-types",
        nargs="+",
        type=choice("edit type", EDIT_TYPES),
        metavar="T",
        help=f"{what} (default: all of {', '.join(EDIT_TYPES)})",
    )


def add_index_file(parser: Container, help: str) -> None:
    parser.add_argument("--index-file", metavar="FILE", help=help)


def add_no_cache(parser: Container) -> None:
    parser.add_argument(
        "--no-cache", action="store_true", help="do not read or write the index cache"
    )


def add_retry(parser: Container) -> None:
    """``--retries`` and ``--timeout``: the :class:`RetryPolicy` of remote reads."""
    parser.add_argument(
        "--retries",
        type=int_at_least(0),
        default=None,
        metavar="N",
        help="retries of a failed remote read that made no progress (default 5)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds a remote connection or socket read may stall (default 30)",
    )


def add_quiet(parser: Container, help: str = "no progress bar") -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help=help)


def add_json(parser: Container, what: str) -> None:
    """``--json FILE``: ``what`` as JSON, ``-`` for stdout (see :func:`emit`)."""
    parser.add_argument("--json", metavar="FILE", help=f"write {what} as JSON (- for stdout)")


def add_workers(parser: Container, help: str, default: int | None = None) -> None:
    parser.add_argument("--workers", type=int_at_least(1), default=default, metavar="N", help=help)


def add_population(parser: Container, order: Sequence[str], help: str) -> None:
    """``--population``: which catalog rows a selection starts from (default ``order[0]``)."""
    parser.add_argument(
        "--population", type=choice("population", order), default=order[0], help=help
    )


def add_allow_empty(parser: Container) -> None:
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="an empty selection is not an error (exit 0 instead of 2)",
    )


def retry_policy(args: argparse.Namespace) -> RetryPolicy | None:
    """The :class:`RetryPolicy` of ``--retries``/``--timeout`` (``None``: the defaults)."""
    from sparkle_data.io.retry import RetryPolicy

    retries, timeout = getattr(args, "retries", None), getattr(args, "timeout", None)
    if retries is None and timeout is None:
        return None
    try:
        return RetryPolicy().override(retries=retries, timeout=timeout)
    except ValueError as e:
        raise UsageError(str(e)) from e


# ------------------------------------------------------------ options passed on, output


def pick(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """``{name: args.name}``: options passed on under their own names."""
    return {name: getattr(args, name) for name in names}


def write_json(data: Any, dest: str) -> None:
    text = json.dumps(data, indent=2, default=str)
    if dest == "-":
        sys.stdout.write(text + "\n")
    else:
        from sparkle_data.io.atomic import atomic_write_text

        atomic_write_text(dest, text + "\n")


def emit(dest: str | None, data: Callable[[], Any], text: Callable[[], str]) -> None:
    """The output of a command with ``--json``: ``data()`` as JSON to ``dest`` when given, and
    ``text()`` on stdout unless the JSON went there (``dest`` is ``-``)."""
    if dest:
        write_json(data(), dest)
    if dest != "-":
        print(text())


# --------------------------------------------------------------------------- index files


def resolve_index_file(root: str, index_file: str | None) -> str | None:
    """Where ``--index-file`` points: URLs and absolute paths as given; a relative path in
    the current directory if it exists there, else under ``root`` (as ``hf.load_dataset``)."""
    if index_file is None:
        return None
    if "://" in index_file or os.path.isabs(index_file) or os.path.exists(index_file):
        return index_file
    from sparkle_data.io import fs as sfs

    fs, base = sfs.resolve(root)
    candidate = sfs.join(base, index_file)
    if sfs.exists(candidate, fs=fs):
        return sfs.unresolve(fs, candidate)
    raise UsageError(
        f"index file {index_file!r} not found: looked for {os.path.abspath(index_file)} and "
        f"{sfs.unresolve(fs, candidate)} ({INDEX_FILE_RULE})."
    )


# --------------------------------------------------------------------------- dataset roots


def open_catalog(
    args: argparse.Namespace,
    *,
    index_shards: bool = True,
    on_error: OnError = "error",
    progress: bool | None = None,
    probe_videos: bool = False,
    duplicates: DuplicateRule = "error",
) -> Catalog:
    """Build the catalog of ``args.root`` from the common arguments; refuse an empty root.

    ``--skip-bad`` makes a strict ``on_error`` lenient (the skips are printed as one warning);
    ``--duplicates`` overrides ``duplicates``.

    ``args.index_file`` is replaced by its resolved location (see :func:`resolve_index_file`).
    """
    from sparkle_data.catalog import build_catalog

    args.index_file = resolve_index_file(args.root, args.index_file)
    if getattr(args, "skip_bad", False) and on_error == "error":
        on_error = "skip"
    catalog = build_catalog(  # a root with no Sparkle piece raises NoDatasetError (exit 2)
        args.root,
        edit_types=args.edit_types,
        index_file=args.index_file,
        index_shards=index_shards,
        cache=not args.no_cache,
        progress=(not getattr(args, "quiet", False)) if progress is None else progress,
        on_error=on_error,
        probe_videos=probe_videos,
        duplicates=getattr(args, "duplicates", None) or duplicates,
        retry=retry_policy(args),
    )
    if catalog.report.total and getattr(args, "skip_bad", False):
        import warnings

        warnings.warn(f"--skip-bad: {catalog.report}", SparkleSkipWarning, stacklevel=2)
    return catalog


# --------------------------------------------------------------------------- selections


def add_scope(p: argparse.ArgumentParser) -> None:
    """``--where`` / ``--preset`` (mutually exclusive), of ``view`` and ``report``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--where", metavar="EXPR", help="a filter expression (see docs/filters.md)")
    g.add_argument(
        "--preset",
        choices=("paper", "strict", "loose"),
        help="keep what this preset keeps, and judge scores against it (default judge: paper)",
    )


def scope_of(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(filter or None, preset)`` from ``--where`` / ``--preset``."""
    from sparkle_data.filters import PAPER, get_preset, parse_filter

    if args.preset:
        preset = get_preset(args.preset)
        return preset, preset
    return (parse_filter(args.where) if args.where else None), PAPER


def open_scoped(args: argparse.Namespace) -> tuple[Catalog, Any, Any]:
    """``(catalog, filter or None, preset)`` of ``view`` and ``report``: the filter is parsed
    first (a typo fails before the root is read); unreadable rows are skipped and counted."""
    scope, preset = scope_of(args)
    return open_catalog(args, on_error="skip"), scope, preset


def check_filter_fields(f: Filter, catalog: Catalog) -> None:
    """Raise :class:`UsageError` (did-you-mean, valid columns) for fields the table lacks."""
    from sparkle_data.filters import PENDING_COLUMNS, resolve_field

    columns = {str(c) for c in catalog.table.columns} | {"sample_id"}
    for name in f.fields():
        column = resolve_field(name)
        if column in columns or column in PENDING_COLUMNS:
            continue  # pending columns get the library's own explanation
        shown = sorted(c for c in columns if not _LOCATION_COLUMN.search(c))
        close = did_you_mean(column, sorted(columns))
        raise UsageError(
            f"unknown filter field {name!r}.{close} Valid: {', '.join(shown)} (and the "
            "per-artifact location columns {artifact}_file/_shard/_offset/_size, the per-frame "
            "video_{o,sc,pq}_score_N)."
        )


def warn_filter(f: Filter, catalog: Catalog) -> None:
    """Emit the filter's own warnings (values that appear in no row, ...) as warnings."""
    import warnings

    from sparkle_data.filters import evaluate

    for text in evaluate(f, catalog).warnings:
        warnings.warn(text, FilterWarning, stacklevel=2)


def require_selection(n: int, what: str, args: argparse.Namespace) -> None:
    """An empty selection is an error unless ``--allow-empty``."""
    if n == 0 and not getattr(args, "allow_empty", False):
        raise UsageError(
            f"{what} selected no sample (pass --allow-empty if an empty result is expected)."
        )
