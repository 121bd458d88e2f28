import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from vokit.engine.config_io import load_config

WORKER = Path(__file__).with_name("ddp_worker.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def test_two_cpu_processes_end_with_identical_weights(tmp_path) -> None:
    steps = 3
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(tmp_path), str(steps)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"rank 0 and rank 1 differ in {key}"
    # every rank trained on its own slice of the global batch, so the per-rank losses differ
    assert ranks[0]["losses"] != ranks[1]["losses"]
    # rank 0 alone wrote the run folder
    runs = list((tmp_path / "runs").iterdir())
    assert [r.name for r in runs] == ["ddp"]
    meta = yaml.safe_load((runs[0] / "config.yaml").read_text())["meta"]
    assert meta["world_size"] == 2
    assert load_config(runs[0]).preset == "coopnet-synthetic"
    assert len((runs[0] / "scalars.jsonl").read_text().splitlines()) == steps
    ckpt = torch.load(runs[0] / "checkpoints" / f"step_{steps:08d}.pt", weights_only=True)
    assert len(ckpt["rng"]) == 2  # one RNG snapshot per process
    for key in a:
        assert torch.equal(ckpt["model"][key], a[key])
