import math

import pytest
import torch

from vokit.engine.configs import OptimConfig
from vokit.engine.optim import build_optimizer, build_scheduler, lr_factor


def test_step_schedule_matches_monodepth2() -> None:
    # Monodepth2: x0.1 after 15 of 20 epochs -> with 200 steps the drop happens at step 150.
    cfg = OptimConfig(schedule="step", milestones=(0.75,), gamma=0.1)
    assert [lr_factor(s, cfg, 200) for s in (0, 149)] == [1.0, 1.0]
    assert lr_factor(150, cfg, 200) == pytest.approx(0.1)
    two = OptimConfig(schedule="step", milestones=(0.5, 0.75), gamma=0.5)
    assert [lr_factor(s, two, 100) for s in (49, 50, 74, 75, 99)] == [1.0, 0.5, 0.5, 0.25, 0.25]


def test_cosine_schedule_endpoints_and_midpoint() -> None:
    cfg = OptimConfig(schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    total = 110
    assert [lr_factor(s, cfg, total) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lr_factor(10, cfg, total) == pytest.approx(1.0)
    assert lr_factor(60, cfg, total) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(110, cfg, total) == pytest.approx(0.1)
    values = [lr_factor(s, cfg, total) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values[:-1], values[1:], strict=True))


def test_scheduler_applies_the_factor_each_step() -> None:
    param = torch.nn.Parameter(torch.zeros(3))
    cfg = OptimConfig(lr=2e-3, schedule="cosine", warmup_steps=3, min_lr_ratio=0.0, weight_decay=0.01)
    opt = build_optimizer([param], cfg)
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.01
    sched = build_scheduler(opt, cfg, total_steps=20)
    for step in range(20):
        assert opt.param_groups[0]["lr"] == pytest.approx(2e-3 * lr_factor(step, cfg, 20))
        param.grad = torch.ones(3)
        opt.step()
        sched.step()


def test_scheduler_state_round_trip_continues_identically() -> None:
    cfg = OptimConfig(lr=1e-3, schedule="step", milestones=(0.5,), warmup_steps=2)

    def make():
        p = torch.nn.Parameter(torch.ones(2))
        o = build_optimizer([p], cfg)
        return p, o, build_scheduler(o, cfg, 10)

    p, o, s = make()
    lrs = []
    for _ in range(10):
        lrs.append(o.param_groups[0]["lr"])
        p.grad = torch.ones(2)
        o.step()
        s.step()
    p2, o2, s2 = make()
    for _ in range(4):
        p2.grad = torch.ones(2)
        o2.step()
        s2.step()
    p3, o3, s3 = make()
    o3.load_state_dict(o2.state_dict())
    s3.load_state_dict(s2.state_dict())
    assert [o3.param_groups[0]["lr"]] == [lrs[4]]
    for k in range(4, 10):
        assert o3.param_groups[0]["lr"] == lrs[k]
        p3.grad = torch.ones(2)
        o3.step()
        s3.step()
