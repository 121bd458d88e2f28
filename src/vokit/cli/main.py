"""Entry point of the ``vokit`` command.

Each subcommand lives in its own module ``vokit.cli.<name>`` exposing ``main(argv: list[str]) -> int``.
Modules are imported only when their subcommand runs, so ``vokit --help`` stays fast. Bad input raises
``VokitError``, printed here as one line with exit status 2.
"""

import importlib
import importlib.util
import sys
from collections.abc import Sequence

import vokit
from vokit.errors import VokitError

# name -> (module, one-line help). A subcommand is listed only when its module exists.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("vokit.cli.demo", "render a synthetic street, run the shipped model, evaluate, write a report"),
    "run": ("vokit.cli.run", "VO + depth on your images, video or dataset sequence"),
    "train": ("vokit.cli.train", "train a preset (see `vokit train --help`)"),
    "eval": ("vokit.cli.eval", "trajectory, depth and flow metrics from files; a checkpoint's model-card table"),
    "synth": ("vokit.cli.synth", "write a synthetic sequence with full ground truth to disk"),
    "bench": ("vokit.cli.bench", "speed and memory benchmarks"),
    "gradvar": ("vokit.cli.gradvar", "gradient signal-to-noise of a checkpoint"),
    "adapt-stats": ("vokit.cli.adapt_stats", "store source feature statistics in a checkpoint copy (run --align)"),
}


def _available() -> dict[str, tuple[str, str]]:
    return {name: spec for name, spec in SUBCOMMANDS.items() if importlib.util.find_spec(spec[0]) is not None}


def _usage() -> str:
    lines = [
        f"vokit {vokit.__version__}: learned visual odometry, depth and optical flow in pure PyTorch",
        "",
        "usage: vokit [--version] [--help] <command> [args...]",
        "",
        "commands:",
    ]
    for name, (_, help_text) in _available().items():
        lines.append(f"  {name:<9} {help_text}")
    lines += ["", "Run `vokit <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vokit`` command line; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"vokit {vokit.__version__}")
        return 0
    commands = _available()
    if args[0] not in commands:
        print(f"vokit: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(commands[args[0]][0])
    try:
        return int(module.main(args[1:]) or 0)
    except VokitError as err:
        print(f"vokit {args[0]}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vokit {args[0]}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
