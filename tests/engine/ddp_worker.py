"""Launched by test_ddp.py under torchrun: trains a tiny preset on 2 processes and saves each rank's final state.

Usage: ``torchrun --standalone --nproc_per_node 2 ddp_worker.py OUT_DIR STEPS``.
"""

import dataclasses
import sys
from pathlib import Path

import torch

from vokit.engine import train
from vokit.engine.presets import get_preset


def main() -> None:
    out, steps = Path(sys.argv[1]), int(sys.argv[2])
    base = get_preset("coopnet-synthetic")
    config = dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, height=64, width=96, n_sequences=1, sequence_frames=5, batch_size=1),
        model=dataclasses.replace(base.model, width=0.125, flow_width=0.125),
        loss=dataclasses.replace(base.loss, apportion_every=2),
        train=dataclasses.replace(base.train, steps=steps, out_dir=str(out / "runs"), device="cpu", run_name="ddp"),
        log=dataclasses.replace(base.log, log_every=1, use_progress_bar=False),
    )
    losses = []

    def on_step(info) -> None:
        losses.append(info.loss)
        if info.step == steps:
            state = {k: v.clone() for k, v in info.model.state_dict().items()}
            torch.save({"state": state, "losses": losses}, out / f"rank{info.rank}.pt")

    train(config, on_step=on_step)


if __name__ == "__main__":
    main()
