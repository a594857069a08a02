"""The ``codeclens`` command line: ``codeclens <command> ...``.

Each area owns the module that defines its commands; a module exposes ``register(subparsers)``, which adds
its sub-commands with ``set_defaults(func=...)``. Registration must stay cheap: heavy imports (torch,
matplotlib) happen inside the command functions.

Errors: a user error (bad data or arguments, a missing file, a file that is not a store, a missing optional
dependency) prints one line ``codeclens <command>: error: <what is wrong>`` and exits 2, as argparse does for
bad arguments; anything else prints one line naming an internal error and exits 1. ``--debug`` (or
``CODECLENS_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys

# Modules that define commands, in the order they appear in --help.
COMMAND_MODULES: list[str] = [
    "codeclens.demo",
    "codeclens.study.commands",
    "codeclens.training.commands",
    "codeclens.metrics",
]

# Optional dependencies -> the extra that installs them (for the one-line error of a missing module).
EXTRAS = {"torch": "study", "matplotlib": "study", "tqdm": "study", "pillow_heif": "study",
          "efficientnet_lite_pytorch": "study", "scipy": "analysis", "pandas": "analysis", "pyarrow": "distributed",
          "ray": "distributed", "glymur": "jpeg2000"}
def _user_errors() -> tuple[type[BaseException], ...]:
    from .codecs.base import CodecUnavailable

    return (ValueError, TypeError, OSError, ImportError, sqlite3.Error, LookupError, CodecUnavailable)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="codeclens",
        description="How image compression affects deep-learning classification.",
    )
    parser.add_argument("--version", action="version", version=f"codeclens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (or CODECLENS_DEBUG=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def error_message(exc: BaseException) -> str:
    """One line saying what went wrong (a missing module names the extra that installs it)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        root = exc.name.split(".")[0]
        extra = EXTRAS.get(root)
        hint = f"pip install 'codeclens[{extra}]'" if extra else f"pip install {root}"
        return f"missing optional dependency {root!r} ({hint})"
    if isinstance(exc, sqlite3.Error):
        return f"store error: {exc}"
    if isinstance(exc, KeyError):
        return f"not found: {exc.args[0] if exc.args else exc}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("CODECLENS_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    command = f"codeclens {args.command}"
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # the reader went away (`codeclens select ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        if debug:
            raise
        print(f"{command}: error: {error_message(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        print(f"{command}: internal error: {type(exc).__name__}: {error_message(exc)} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
