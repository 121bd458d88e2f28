"""A few CoopNet training steps through the engine with the census flow term and the occlusion mask on."""

import math

from tests.engine.test_trainer import Recorder, unchecked_shapes  # noqa: F401 (the fixture)
from tests.engine.tiny import tiny_config

from vokit.engine import train
from vokit.engine.config_io import load_config
from vokit.engine.logger import read_scalars


def test_coopnet_trains_with_census_and_occlusion_mask(tmp_path, unchecked_shapes) -> None:  # noqa: F811
    config = tiny_config("coopnet-synthetic", tmp_path, steps=6, loss=dict(flow_photometric="census",
                         flow_occlusion_mask=True), log=dict(log_every=2, image_every=3))
    rec = Recorder()
    run_dir = train(config, on_step=rec)
    assert all(math.isfinite(rec.losses[k]) for k in range(1, 7))
    assert load_config(run_dir).loss.flow_photometric == "census"
    logged = read_scalars(run_dir)
    assert all(0.0 < r["stats/flow_excluded_fraction"] < 1.0 for r in logged)
