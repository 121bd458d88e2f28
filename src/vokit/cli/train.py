"""``vokit train PRESET [overrides]``: train a named preset, with any config value overridable on the command line.

Examples::

    vokit train coopnet-synthetic --train.steps 2000 --data.batch-size 4 --out runs
    vokit train --resume runs/coopnet-synthetic-20250101-120000        # continue at the exact step
    torchrun --nproc_per_node 2 -m vokit.cli.train coopnet-synthetic   # DDP (gloo on CPU, nccl on GPU)
"""

import sys
from collections.abc import Sequence

DESCRIPTION = (
    "Train a preset; every config value can be overridden (--section.key VALUE). The resolved config, "
    "TensorBoard logs and checkpoints go to a run folder under --out. Continue a stopped run with "
    "`vokit train --resume RUN_FOLDER`; run data-parallel with `torchrun --nproc_per_node N -m vokit.cli.train "
    "PRESET ...`."
)


def parse_config(argv: Sequence[str]) -> object:
    """Build the :class:`~vokit.engine.configs.ExperimentConfig` that ``vokit train ARGV`` would train.

    ``argv`` is either ``PRESET [overrides]`` or ``--resume RUN_FOLDER|CHECKPOINT [overrides]``; in the second form
    the config saved with the run is the base that overrides apply to.

    Args:
        argv: the arguments after ``vokit train``.

    Returns:
        The config.

    Raises:
        SystemExit: for ``--help`` and for arguments tyro cannot parse (status 2).
        VokitError: unknown preset, or an unreadable run folder.
    """
    import tyro

    from vokit.engine.configs import ExperimentConfig
    from vokit.engine.presets import PRESETS, get_preset, preset_description

    args = list(argv)
    if args and (args[0] == "--resume" or args[0].startswith("--resume=")):
        target = args[0].split("=", 1)[1] if "=" in args[0] else (args[1] if len(args) > 1 else "")
        base = _saved_config(target)
        return tyro.cli(ExperimentConfig, default=base, args=args, prog="vokit train", description=DESCRIPTION)
    if args and not args[0].startswith("-") and args[0] not in PRESETS:
        get_preset(args[0])  # raises VokitError naming the known presets
    configs = {name: (preset_description(name), factory()) for name, factory in PRESETS.items()}
    return tyro.extras.overridable_config_cli(configs, args=args, prog="vokit train", description=DESCRIPTION)


def _saved_config(target: str) -> object:
    from pathlib import Path

    from vokit.engine.checkpoint import checkpoint_config, find_checkpoint, read_checkpoint
    from vokit.engine.config_io import load_config
    from vokit.errors import VokitError

    if not target:
        raise VokitError("--resume needs a run folder or checkpoint file")
    path = Path(target)
    if path.is_dir() and (path / "config.yaml").is_file():
        return load_config(path / "config.yaml")
    file = find_checkpoint(path)
    return checkpoint_config(read_checkpoint(file), file)


def main(argv: list[str]) -> int:
    """Run ``vokit train``; returns the exit status (130 when stopped by Ctrl-C or SIGTERM after checkpointing)."""
    import os

    from vokit.engine.trainer import TrainingInterrupted, train

    config = parse_config(argv)
    main_process = os.environ.get("RANK", "0") == "0"
    try:
        run_dir = train(config)  # type: ignore[arg-type]
    except TrainingInterrupted as stop:
        if main_process:
            print(f"vokit train: {stop}\n  resume with: vokit train --resume {stop.run_dir}", file=sys.stderr)
        return 130
    if main_process:
        print(f"vokit train: done; run folder {run_dir}; latest checkpoint {run_dir / 'checkpoints' / 'last.pt'}")
        if config.log.use_tensorboard and (run_dir / "tb").is_dir():  # type: ignore[attr-defined]
            print(f"  TensorBoard: tensorboard --logdir {run_dir / 'tb'}")
    return 0


if __name__ == "__main__":  # `torchrun ... -m vokit.cli.train PRESET ...`
    from vokit.errors import VokitError

    try:
        sys.exit(main(sys.argv[1:]))
    except VokitError as err:
        print(f"vokit train: error: {err}", file=sys.stderr)
        sys.exit(2)
