"""The `dsconv` command line: one sub-command per job, each in its own module.

The CLI parses and prints; every job it runs is a library function.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# Modules that add sub-commands: each has add_parser(subparsers) and sets `func` on its parser.
COMMAND_MODULES = ["info", "convert", "train", "deploy", "experiment"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsconv",
        description="Depthwise separable convolutions: models, costs, training, interop, "
        "deployment.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dsconv` script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, ImportError) as err:
        # User errors (bad shapes, unknown names, bad files, a missing extra) in one line.
        print(f"dsconv {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C: where it stopped, not a traceback
        print(f"dsconv {args.command}: {str(err) or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
