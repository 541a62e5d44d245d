"""The ``sparkle-data`` command line.

Each subcommand is a module in this package exposing ``register(subparsers)``, which adds a
parser whose ``func`` default is a callable taking the parsed namespace and returning an exit
code. Modules are discovered, so adding a command never edits this file. Heavy imports belong
inside the command's function so ``sparkle-data --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import select
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from sparkle_data import __version__
from sparkle_data.cli._common import UsageError
from sparkle_data.errors import NoDatasetError, SparkleError

__all__ = ["EXIT_BROKEN_PIPE", "build_parser", "main"]

EPILOG = """\
examples:
  sparkle-data make-sample /tmp/sparkle --preset tiny     build a small synthetic Sparkle tree
  sparkle-data info /tmp/sparkle/Sparkle                  counts, coverage and score summaries
  sparkle-data plan-download --edit-types time            what to download for a selection
  sparkle-data <command> --help                           options of one command

exit status: 0 success, 1 problems found in the data (verify) or a failed export,
2 a usage error or nothing to work on (bad option value, no dataset at ROOT, empty
selection), 130 interrupted,
141 stdout closed early (`sparkle-data peek ROOT | head -1`: quiet, like other Unix tools).

Sparkle: https://huggingface.co/datasets/stdKonjac/Sparkle
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkle-data",
        description="Tools for the Sparkle video background-replacement dataset.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def _warning_printer(command: str) -> Any:
    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = str(message).splitlines()[0] if str(message) else category.__name__
        print(f"sparkle-data {command}: warning: {text}", file=sys.stderr)

    return show


EXIT_BROKEN_PIPE = 141
"""Exit status when the reader of stdout went away (``sparkle-data peek ROOT | head -1``):
128 + SIGPIPE, what a shell reports for a standard Unix tool killed by SIGPIPE (``yes | head``
under ``set -o pipefail``). Python's docs exit 1 there, but 1 means "problems found" here."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one line on stderr and an exit status (never a traceback
    for a bad value: ``ValueError``/``TypeError``/``OSError`` exit 2, other library errors 1).

    A closed stdout (the reader of a pipe exited, as ``head`` does) ends the command quietly
    with :data:`EXIT_BROKEN_PIPE`, like a standard Unix tool: no message, no traceback."""
    command = "?"
    try:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            command = getattr(args, "command", None) or "?"
            return _run(parser, args)
        finally:
            sys.stdout.flush()  # inside the try: a broken pipe is found here, not at exit
    except BrokenPipeError as e:
        if not _stdout_closed():  # a broken socket or subprocess pipe: a real error
            return _fail(command, e, 2)
        # The Python docs' recipe (signal module, "Note on SIGPIPE"): point stdout at devnull
        # so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    command = args.command
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _warning_printer(command)
        try:
            code = func(args)
        except KeyboardInterrupt:
            print(f"sparkle-data {command}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            raise  # main decides: a closed stdout is no error
        except NoDatasetError as e:  # the library's sentence, in the CLI's lower case
            text = str(e)
            return _fail(command, UsageError(text[:1].lower() + text[1:]), 2)
        except (UsageError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
            return _fail(command, e, 2)
        except SparkleError as e:
            return _fail(command, e, 2 if _is_usage(e) else 1)
        except (ValueError, TypeError, OSError) as e:
            return _fail(command, e, 2)
    return int(code or 0)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (``poll`` reports an error on it)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO in tests: not a pipe
        return False
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


def _is_usage(error: SparkleError) -> bool:
    """Errors about what the user typed (filter expressions, subset specs) rather than data."""
    from sparkle_data.filters import FilterError, SubsetMismatchError

    return isinstance(error, FilterError) and not isinstance(error, SubsetMismatchError)


def _fail(command: str, error: BaseException, status: int) -> int:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.strerror}: {error.filename}"
    print(f"sparkle-data {command}: error: {text}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
