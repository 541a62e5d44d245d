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
from collections.abc import Sequence

from sparkle_data import __version__
from sparkle_data.errors import SparkleError

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  sparkle-data make-sample /tmp/sparkle --preset tiny     build a small synthetic Sparkle tree
  sparkle-data info /tmp/sparkle                          counts, coverage and score summaries
  sparkle-data <command> --help                           options of one command

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = func(args)
    except SparkleError as e:
        print(f"sparkle-data {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sparkle-data {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
