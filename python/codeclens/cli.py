"""The ``codeclens`` command line: ``codeclens <command> ...``.

Each area owns the module that defines its commands; a module exposes ``register(subparsers)``, which adds
its sub-commands with ``set_defaults(func=...)``. Registration must stay cheap: heavy imports (torch,
matplotlib) happen inside the command functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that define commands, in the order they appear in --help.
COMMAND_MODULES: list[str] = [
    "codeclens.demo",
    "codeclens.study.commands",
    "codeclens.analysis.commands",
    "codeclens.training.commands",
    "codeclens.metrics",
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="codeclens",
        description="How image compression affects deep-learning classification.",
    )
    parser.add_argument("--version", action="version", version=f"codeclens {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
