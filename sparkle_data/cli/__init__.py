"""The ``sparkle-data`` command line.

Each subcommand is a module in this package exposing ``register(subparsers)``, which adds a
parser whose ``func`` default is a callable taking the parsed namespace and returning an exit
code. Modules are discovered, so adding a command never edits this file. Heavy imports belong
inside the command's function so ``sparkle-data --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from sparkle_data import __version__
from sparkle_data.cli._common import UsageError
from sparkle_data.errors import SparkleError

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  sparkle-data make-sample /tmp/sparkle --preset tiny     build a small synthetic Sparkle tree
  sparkle-data info /tmp/sparkle/Sparkle                  counts, coverage and score summaries
  sparkle-data plan-download --edit-types time            what to download for a selection
  sparkle-data <command> --help                           options of one command

exit status: 0 success, 1 problems found in the data (verify) or a failed export,
2 a usage error (bad option value, no dataset at ROOT, empty selection), 130 interrupted.

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one line on stderr and an exit status (never a traceback
    for a bad value: ``ValueError``/``TypeError``/``OSError`` exit 2, other library errors 1)."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
        except (UsageError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
            return _fail(command, e, 2)
        except SparkleError as e:
            return _fail(command, e, 2 if _is_usage(e) else 1)
        except (ValueError, TypeError, OSError) as e:
            return _fail(command, e, 2)
    return int(code or 0)


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
