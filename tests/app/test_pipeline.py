"""The main job (`vokit.engine.pipeline`): outputs, metrics against independent numpy oracles, clear errors."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tests.engine.tiny import tiny_config
from tests.support.sequences import make_sequence as make_test_sequence

from vokit.app import pipeline
from vokit.app.outputs import format_summary, summary_row
from vokit.app.pipeline import (
    RunResult,
    open_source,
    prepare_output_dir,
    run_sequence,
    select_frames,
)
from vokit.data.image_io import read_png16
from vokit.data.output_folder import MANIFEST_NAME, read_manifest
from vokit.data.synthetic import make_sequence, split_seed
from vokit.data.trajectory_io import read_trajectory
from vokit.data.writers import write_sequence
from vokit.engine.checkpoint import atomic_torch_save, make_checkpoint
from vokit.engine.registry import get_method
from vokit.errors import VokitError
from vokit.geometry.lie import quat_to_matrix
from vokit.metrics.serialize import json_ready

N_FRAMES = 5
HEIGHT, WIDTH = 48, 80
RUN_OUTPUTS = ("trajectory_tum.txt", "trajectory_kitti.txt", "depth", "depth_preview", "flow_preview", "motion_mask",
               "motion_mask_preview", "plots", "metrics.json", "config.yaml", "report.html", MANIFEST_NAME)


def write_tiny_checkpoint(preset: str, path: Path, seed: int = 0) -> Path:
    """An initialised (untrained) model of ``preset`` at 64x96, saved with the engine's checkpoint writer."""
    config = tiny_config(preset, path.parent)
    torch.manual_seed(seed)
    model = get_method(config.model.method).build_model(config)
    return atomic_torch_save(make_checkpoint(config, 0, model), path)


def write_tiny_street(folder: Path, n_frames: int = N_FRAMES) -> Path:
    """A test-split synthetic street (moving cars) in the KITTI layout with all vokit ground-truth extras."""
    sequence = make_sequence("street", n_frames=n_frames, seed=split_seed("test", 0), height=HEIGHT, width=WIDTH)
    return write_sequence(sequence, folder)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline")
    return {
        "coopnet": write_tiny_checkpoint("coopnet-synthetic", root / "coopnet.pt"),
        "monodepth2": write_tiny_checkpoint("monodepth2-synthetic", root / "monodepth2.pt"),
        "street": write_tiny_street(root / "street"),
        "root": root,
    }


@pytest.fixture(scope="module")
def coopnet_run(artifacts: dict[str, Path]) -> RunResult:
    return run_sequence(artifacts["street"], method="coopnet", out=artifacts["root"] / "run-coopnet",
                        weights=artifacts["coopnet"], progress=False, batch_size=2)


def _frames(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_run_writes_every_output(coopnet_run: RunResult) -> None:
    out = coopnet_run.out
    for name in RUN_OUTPUTS:
        assert (out / name).exists(), f"{name} missing"
    kind, listed = read_manifest(out) or ("", [])
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    assert kind == "run" and listed == on_disk
    stems = [f"{k:06d}.png" for k in range(N_FRAMES)]
    assert _frames(out / "depth") == stems
    assert _frames(out / "depth_preview") == stems
    assert _frames(out / "motion_mask") == stems
    assert _frames(out / "motion_mask_preview") == stems
    assert _frames(out / "flow_preview") == stems[:-1]  # flow of frame k goes to frame k + 1
    for plot in ("trajectory", "ape", "rpe", "summary", "frames_panel", "depth_error_histogram"):
        assert (out / "plots" / f"{plot}.png").is_file()
    info = yaml.safe_load((out / "config.yaml").read_text())
    assert info["method"] == "coopnet" and info["format"] == "kitti-odom"
    assert info["sequence"]["image_size"] == [HEIGHT, WIDTH] and info["training_input_size"] == [64, 96]
    # 48x80 frames (5:3) at the 64x96 pixel budget: 61x101, padded to the stride 32
    assert info["network_input_size"] == [64, 128]
    assert info["end_to_end_frames_per_second"] > 0
    assert info["model_config"]["model"]["method"] == "coopnet"
    assert coopnet_run.n_frames == N_FRAMES and coopnet_run.frames_per_second > 0
    assert 0 < coopnet_run.end_to_end_frames_per_second < coopnet_run.frames_per_second


def test_written_files_round_trip(coopnet_run: RunResult) -> None:
    out, pred = coopnet_run.out, coopnet_run.prediction
    stamps, poses = read_trajectory(out / "trajectory_tum.txt", "tum")
    torch.testing.assert_close(stamps, pred.timestamps, rtol=0, atol=1e-9)
    torch.testing.assert_close(poses[:, :3], pred.world_from_cam[:, :3], rtol=0, atol=1e-9)
    _, kitti = read_trajectory(out / "trajectory_kitti.txt", "kitti")
    torch.testing.assert_close(quat_to_matrix(kitti[:, 3:]), quat_to_matrix(pred.world_from_cam[:, 3:]),
                               rtol=0, atol=1e-8)
    torch.testing.assert_close(kitti[0], torch.tensor([0, 0, 0, 0, 0, 0, 1.0], dtype=torch.float64))
    assert pred.depth.shape == (N_FRAMES, HEIGHT, WIDTH)
    for k in range(N_FRAMES):
        raw = read_png16(out / "depth" / f"{k:06d}.png").astype(np.float64)
        # 16-bit PNG with the stated scale: value = round(256 depth), so |value / 256 - depth| <= 1/512.
        assert np.abs(raw / 256.0 - pred.depth[k].double().numpy()).max() <= 0.5 / 256 + 1e-9
    mask = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(out / "motion_mask" / "000002.png"))
    expected = (pred.motion_mask[2].clamp(0, 1) * 255).round().numpy()  # type: ignore[index]
    assert np.abs(mask.astype(np.float64) - expected).max() <= 1.0


def _umeyama_sim3(est: np.ndarray, ref: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama (1991) similarity ``ref ~ s R est + t`` in plain numpy, the oracle for the ATE."""
    mu_e, mu_r = est.mean(0), ref.mean(0)
    e, r = est - mu_e, ref - mu_r
    cov = r.T @ e / len(est)
    u, d, vt = np.linalg.svd(cov)
    s_fix = np.eye(3)
    s_fix[2, 2] = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    rot = u @ s_fix @ vt
    scale = float(np.trace(np.diag(d) @ s_fix) / (e**2).sum(1).mean())
    return scale, rot, mu_r - scale * rot @ mu_e


def test_metrics_match_independent_oracles(coopnet_run: RunResult, artifacts: dict[str, Path]) -> None:
    metrics = json.loads((coopnet_run.out / "metrics.json").read_text())
    assert metrics == coopnet_run.metrics
    pred = coopnet_run.prediction
    street = artifacts["street"]
    gt_depth = [np.load(street / "gt_depth" / f"{k:06d}.npy").astype(np.float64) for k in range(N_FRAMES)]
    gt_mask = [np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(street / "gt_motion_mask" / f"{k:06d}.png"))
               > 0 for k in range(N_FRAMES)]

    def eigen(k: int, region: np.ndarray) -> tuple[float, float]:
        gt = gt_depth[k]
        valid = (gt > 0) & (gt < 80.0) & region
        p = pred.depth[k].double().numpy()[valid]
        g = gt[valid]
        p = np.clip(p * np.median(g) / np.median(p), 1e-3, 80.0)
        return float(np.mean(np.abs(g - p) / g)), float(np.mean(np.maximum(g / p, p / g) < 1.25))

    everywhere = [eigen(k, np.ones_like(gt_mask[k])) for k in range(N_FRAMES)]
    assert metrics["depth"]["mean"]["abs_rel"] == pytest.approx(np.mean([a for a, _ in everywhere]), rel=1e-9)
    assert metrics["depth"]["mean"]["a1"] == pytest.approx(np.mean([a for _, a in everywhere]), rel=1e-9)
    moving = [eigen(k, gt_mask[k]) for k in range(N_FRAMES) if ((gt_depth[k] > 0) & gt_mask[k]).any()]
    assert moving, "the test street must show a moving car"
    assert metrics["depth_moving"]["n_images"] == len(moving)
    assert metrics["depth_moving"]["mean"]["abs_rel"] == pytest.approx(np.mean([a for a, _ in moving]), rel=1e-9)

    _, ref = read_trajectory(street / "poses.txt", "kitti")
    ref_t, est_t = ref[:, :3].numpy(), pred.world_from_cam[:, :3].numpy()
    s, rot, t = _umeyama_sim3(est_t, ref_t)
    ate = math.sqrt(float(np.mean(np.sum((ref_t - (s * est_t @ rot.T + t)) ** 2, axis=1))))
    assert metrics["trajectory"]["alignment"]["mode"] == "sim3"
    assert metrics["trajectory"]["alignment"]["scale"] == pytest.approx(s, rel=1e-6)
    assert metrics["trajectory"]["ape"]["translation_m"]["rmse"] == pytest.approx(ate, rel=1e-6, abs=1e-9)

    from vokit.data.flow_io import read_flo

    errors = []
    for k in range(N_FRAMES - 1):
        flow, valid = read_flo(street / "gt_flow" / f"{k:06d}.flo")
        diff = pred.flow[k].double().numpy() - flow.double().numpy()  # type: ignore[index]
        errors.append(np.linalg.norm(diff, axis=-1)[valid.numpy()])
    assert metrics["flow"]["epe_pooled"] == pytest.approx(float(np.concatenate(errors).mean()), rel=1e-9)
    assert metrics["flow"]["n_pairs"] == N_FRAMES - 1

    inter = sum(((pred.motion_mask[k].numpy() > 0.5) & gt_mask[k]).sum() for k in range(N_FRAMES))  # type: ignore[index]
    union = sum(((pred.motion_mask[k].numpy() > 0.5) | gt_mask[k]).sum() for k in range(N_FRAMES))  # type: ignore[index]
    assert metrics["motion_mask"]["iou_pooled"] == pytest.approx(inter / union, rel=1e-12)

    def finite(value: object) -> bool:
        if isinstance(value, dict):
            return all(finite(v) for v in value.values())
        if isinstance(value, list):
            return all(finite(v) for v in value)
        return not isinstance(value, float) or math.isfinite(value)

    assert finite(metrics)


def test_report_has_tables_and_embedded_images(coopnet_run: RunResult) -> None:
    page = coopnet_run.report.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    for title in ("Summary", "Depth (Eigen metrics)", "Trajectory", "Optical flow", "Motion mask"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<table>") >= 5
    assert page.count('src="data:image/png;base64,') == 4
    assert "http://" not in page and "https://" not in page, "the report must be self-contained"
    abs_rel = coopnet_run.metrics["depth"]["mean"]["abs_rel"]  # type: ignore[index]
    assert f"<td>{abs_rel:.4g}</td>" in page


def test_monodepth2_with_stride_and_max_frames(artifacts: dict[str, Path]) -> None:
    result = run_sequence(artifacts["street"], method="monodepth2", out=artifacts["root"] / "run-md2",
                          weights=artifacts["monodepth2"], stride=2, max_frames=2, progress=False)
    assert result.n_frames == 2
    torch.testing.assert_close(result.prediction.timestamps,
                               torch.tensor([0.0, 0.2], dtype=torch.float64), rtol=0, atol=1e-9)
    for absent in ("flow_preview", "motion_mask", "motion_mask_preview"):
        assert not (result.out / absent).exists()
    assert _frames(result.out / "depth") == ["000000.png", "000001.png"]
    metrics = result.metrics
    assert metrics is not None and "depth" in metrics
    assert "flow" not in metrics, "ground-truth flow points to the next original frame: dropped with a stride"
    assert "alignment needs between 3" in metrics["notes"]["trajectory"]
    assert (result.out / "plots" / "trajectory.png").is_file()


def test_image_folder_with_calibration(artifacts: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(3):
        shutil.copy(artifacts["street"] / "image_2" / f"{k:06d}.png", folder / f"frame{k}.png")
    calib = [40.0, 40.0, WIDTH / 2 - 0.5, HEIGHT / 2 - 0.5]
    result = run_sequence(folder, out=tmp_path / "out", weights=artifacts["coopnet"], calib=calib, progress=False)
    assert result.metrics is None and not (result.out / "metrics.json").exists()
    assert len(_frames(result.out / "depth")) == 3 and len(_frames(result.out / "flow_preview")) == 2
    assert (result.out / "plots" / "trajectory.png").is_file()
    page = result.report.read_text(encoding="utf-8")
    assert "No ground truth" in page and page.count("data:image/png;base64,") == 2
    (tmp_path / "calib.txt").write_text(" ".join(map(str, calib)) + "\n")
    sequence, fmt = open_source(folder, calib=str(tmp_path / "calib.txt"))
    assert fmt == "images" and len(sequence) == 3
    torch.testing.assert_close(sequence.intrinsics[0], torch.tensor(calib))


def test_missing_calibration_names_the_folder(artifacts: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(artifacts["street"] / "image_2" / "000000.png", folder / "a.png")
    with pytest.raises(VokitError, match="--calib") as err:
        run_sequence(folder, out=tmp_path / "out", weights=artifacts["coopnet"], progress=False)
    assert err.value.path == folder


def test_unreadable_image_names_the_file(artifacts: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "street"
    shutil.copytree(artifacts["street"], broken)
    (broken / "image_2" / "000003.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not an image")
    with pytest.raises(VokitError, match="cannot read image") as err:
        run_sequence(broken, out=tmp_path / "out", weights=artifacts["coopnet"], progress=False)
    assert err.value.path == broken / "image_2" / "000003.png"


def test_unwritable_output_is_reported_before_any_work(artifacts: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    # The source does not exist either: the output folder is checked first.
    with pytest.raises(VokitError, match="cannot create or write the output folder") as err:
        run_sequence(tmp_path / "no_such_source", out=blocker / "out", weights=artifacts["coopnet"])
    assert err.value.path == blocker / "out"
    with pytest.raises(VokitError, match="not a folder"):
        prepare_output_dir(blocker)


def test_weights_errors(artifacts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    street = artifacts["street"]
    with pytest.raises(VokitError, match="not found") as err:
        run_sequence(street, out=tmp_path / "a", weights=tmp_path / "missing.pt")
    assert err.value.path == tmp_path / "missing.pt"
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"definitely not a torch checkpoint")
    with pytest.raises(VokitError, match="cannot read checkpoint") as err:
        run_sequence(street, out=tmp_path / "b", weights=corrupt)
    assert err.value.path == corrupt
    shipped = tmp_path / "weights" / "coopnet-synthetic.pt"
    monkeypatch.setattr(pipeline, "shipped_weights_path", lambda method: shipped)
    with pytest.raises(VokitError, match="vokit train coopnet-synthetic") as err:
        run_sequence(street, out=tmp_path / "c")
    assert err.value.path == shipped
    with pytest.raises(VokitError, match="monodepth2 model, not coopnet"):
        run_sequence(street, method="coopnet", out=tmp_path / "d", weights=artifacts["monodepth2"])


def test_calibration_of_datasets(artifacts: dict[str, Path], tmp_path: Path) -> None:
    """Issue 19: --calib is taken by TUM-format folders, refused for KITTI unless overridden, and recorded."""
    calib = [40.0, 40.0, WIDTH / 2 - 0.5, HEIGHT / 2 - 0.5]
    with pytest.raises(VokitError, match=r"own calibration \(calib.txt\).*--calib-override"):
        run_sequence(artifacts["street"], out=tmp_path / "kitti", weights=artifacts["coopnet"], calib=calib)
    assert not (tmp_path / "kitti").exists()
    run = run_sequence(artifacts["street"], out=tmp_path / "kitti", weights=artifacts["coopnet"], calib=calib,
                       calib_override=True, progress=False, max_frames=2)
    info = yaml.safe_load((run.out / "config.yaml").read_text())
    assert info["calib"] == calib and "replacing the dataset's calib.txt" in info["calibration"]
    assert "calibration from the calibration given (--calib), replacing" in run.report.read_text()
    tum = write_sequence(make_sequence("room", n_frames=3, seed=0, height=HEIGHT, width=WIDTH), tmp_path / "tum",
                         "tum")
    run = run_sequence(tum, out=tmp_path / "tum-run", weights=artifacts["coopnet"], calib=calib, progress=False)
    info = yaml.safe_load((run.out / "config.yaml").read_text())
    assert info["format"] == "tum" and info["calibration"] == "the calibration given (--calib)"
    sequence, _ = open_source(tum, calib=calib)
    torch.testing.assert_close(sequence.intrinsics[0], torch.tensor(calib))
    with pytest.raises(VokitError, match="synthetic world"):
        open_source("synthetic:street", calib=calib)


def test_output_folder_of_an_earlier_run_needs_overwrite(tmp_path: Path) -> None:
    """A run folder of vokit <= 0.1 (no manifest) is replaced only when it holds nothing but run outputs."""
    out = tmp_path / "run"
    (out / "depth").mkdir(parents=True)
    (out / "depth" / "000000.png").write_bytes(b"old")
    (out / "report.html").write_text("old")
    (out / "notes.txt").write_text("user file")
    with pytest.raises(VokitError, match="--overwrite"):
        prepare_output_dir(out)
    with pytest.raises(VokitError, match="did not record writing"):
        prepare_output_dir(out, overwrite=True)
    (out / "notes.txt").unlink()
    prepare_output_dir(out, overwrite=True)
    assert list(out.iterdir()) == []


def test_overwrite_replaces_exactly_the_earlier_run(artifacts: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_sequence(artifacts["street"], out=out, weights=artifacts["coopnet"], progress=False, max_frames=3)
    (out / "plots" / "my_notes.txt").write_text("mine")
    with pytest.raises(VokitError, match="plots/my_notes.txt"):
        run_sequence(artifacts["street"], out=out, weights=artifacts["coopnet"], progress=False, max_frames=3,
                     overwrite=True)
    assert (out / "report.html").is_file()  # nothing was removed
    (out / "plots" / "my_notes.txt").unlink()
    run_sequence(artifacts["street"], out=out, weights=artifacts["coopnet"], progress=False, max_frames=4,
                 overwrite=True)
    assert len(list((out / "depth").iterdir())) == 4


def test_overwrite_never_deletes_a_dataset_or_a_training_run(artifacts: dict[str, Path], tmp_path: Path) -> None:
    """Issue 12 row 1: `vokit run S --out S --overwrite` deleted S/depth/ of a vokit synth dataset."""
    from vokit.cli.synth import synth

    data = synth(tmp_path / "S", "room", 4, 0, "tum", 48, 64, progress=False)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    with pytest.raises(VokitError, match="vokit synth"):
        run_sequence(data, out=data, weights=artifacts["coopnet"], overwrite=True, progress=False)
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    train = tmp_path / "train"
    (train / "checkpoints").mkdir(parents=True)
    (train / "config.yaml").write_text("model: {}\n")
    with pytest.raises(VokitError, match="did not record writing"):
        run_sequence(artifacts["street"], out=train, weights=artifacts["coopnet"], overwrite=True, progress=False)
    assert (train / "config.yaml").read_text() == "model: {}\n"


def test_a_failed_run_leaves_no_empty_out(artifacts: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(VokitError):
        run_sequence(tmp_path / "no_such_source", out=tmp_path / "new", weights=artifacts["coopnet"])
    assert not (tmp_path / "new").exists()


def test_non_finite_predictions_stop_the_run_naming_frame_and_weights(
    artifacts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vokit.methods import inference

    real = inference.FrameResult.__init__

    def poisoned(self: inference.FrameResult, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.position == 2:
            self.depth[0, 0] = float("nan")

    monkeypatch.setattr(inference.FrameResult, "__init__", poisoned)
    with pytest.raises(VokitError, match="non-finite depth at frame 2") as err:
        run_sequence(artifacts["street"], out=tmp_path / "nan", weights=artifacts["coopnet"], progress=False)
    assert err.value.path == artifacts["coopnet"]


def test_a_checkpoint_with_nan_parameters_is_refused(artifacts: dict[str, Path], tmp_path: Path) -> None:
    state = torch.load(artifacts["coopnet"], map_location="cpu", weights_only=True)
    for tensor in state["model"].values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))
    bad = tmp_path / "nan.pt"
    torch.save(state, bad)
    with pytest.raises(VokitError, match="non-finite parameters") as err:
        run_sequence(artifacts["street"], out=tmp_path / "out", weights=bad, progress=False)
    assert err.value.path == bad and not (tmp_path / "out").exists()


def test_select_frames() -> None:
    sequence = make_test_sequence(n=7)
    assert len(select_frames(sequence)) == 7
    picked = select_frames(sequence, stride=3)
    torch.testing.assert_close(picked.timestamps, sequence.timestamps[[0, 3, 6]])
    assert len(select_frames(sequence, stride=2, max_frames=3)) == 3
    with pytest.raises(VokitError, match="stride"):
        select_frames(sequence, stride=0)
    with pytest.raises(VokitError, match="max-frames"):
        select_frames(sequence, max_frames=1)
    with pytest.raises(VokitError, match="at least 2"):
        select_frames(sequence, stride=7)


def test_summary_table() -> None:
    metrics = {"depth": {"mean": {"abs_rel": 0.125, "a1": 0.9}}, "motion_mask": {"iou_pooled": 0.61}}
    row = summary_row(metrics, frames_per_second=3.5)
    assert row["abs_rel"] == 0.125 and row["mask IoU"] == 0.61 and row["frames/s"] == 3.5
    assert row["ATE rmse (m)"] == "-" and row["flow EPE (px)"] == "-"
    text = format_summary({"coopnet": row, "monodepth2 (baseline)": summary_row(None)})
    lines = text.splitlines()
    assert len(lines) == 4 and lines[0].startswith("method") and "0.125" in lines[2]
    assert lines[3].startswith("monodepth2 (baseline)")


def test_json_ready_replaces_non_finite_numbers() -> None:
    value = {"a": float("nan"), "b": [1.5, float("inf"), torch.tensor([2.0, float("-inf")])], "c": np.float32(0.5),
             "d": np.int64(3), "e": "text"}
    assert json_ready(value) == {"a": None, "b": [1.5, None, [2.0, None]], "c": 0.5, "d": 3, "e": "text"}
    json.dumps(json_ready(value), allow_nan=False)


def test_depth_metrics_merged_per_frame_equal_one_call() -> None:
    from vokit.app.outputs import merge_depth_metrics
    from vokit.metrics import eigen_depth_metrics

    gen = torch.Generator().manual_seed(3)
    gts = [torch.rand(12, 16, generator=gen) * 20 + 0.5 for _ in range(5)]
    preds = [torch.rand(12, 16, generator=gen) * 3 + 0.1 for _ in range(5)]
    whole = eigen_depth_metrics(gts, preds, pred_kind="depth", crop="none", max_depth_m=80.0, median_scaling=True)
    parts = [eigen_depth_metrics([g], [p], pred_kind="depth", crop="none", max_depth_m=80.0, median_scaling=True)
             for g, p in zip(gts, preds, strict=True)]
    merged = merge_depth_metrics(parts)
    assert merged.mean == whole.mean and merged.ratio_median == whole.ratio_median
    assert math.isclose(merged.ratio_std, whole.ratio_std, rel_tol=1e-12)
    torch.testing.assert_close(merged.per_image, whole.per_image, rtol=0, atol=0)
    torch.testing.assert_close(merged.abs_rel_hist, whole.abs_rel_hist, rtol=0, atol=0)


def test_run_reports_trivial_predictors(coopnet_run: RunResult) -> None:
    metrics = coopnet_run.metrics or {}
    trivial = metrics["trivial"]
    assert trivial["align"] == "sim3" and isinstance(trivial["beats_trivial"], bool)
    for name in ("estimate", "static camera", "constant-velocity line"):
        assert math.isfinite(trivial[name]["ate_rmse_m"]) and math.isfinite(trivial[name]["ate_rot_rmse_deg"])
    # the estimate's row is the run's own ATE
    assert trivial["estimate"]["ate_rmse_m"] == pytest.approx(metrics["trajectory"]["ape"]["translation_m"]["rmse"])
    assert metrics["depth_constant"]["mean"]["abs_rel"] > 0
    assert metrics["depth_beats_constant"] == (metrics["depth"]["mean"]["abs_rel"]
                                              < metrics["depth_constant"]["mean"]["abs_rel"])
    assert len(metrics["verdicts"]) == 2
    html = coopnet_run.report.read_text()
    assert "Beside trivial trajectories" in html and "Depth beside a constant" in html
    assert metrics["verdicts"][0].split(":")[0] in html


def test_operator_choice_comes_from_the_method(artifacts: dict[str, Path], tmp_path: Path) -> None:
    from vokit.methods import registry

    assert registry.get_method("coopnet").operators == () and "lk" in registry.get_method("patchvo").operators
    assert registry.get_method("coopnet").model_without_weights(None) is None
    with pytest.raises(VokitError, match="coopnet offers no operator choice"):
        run_sequence(artifacts["street"], method="coopnet", out=tmp_path / "op", weights=artifacts["coopnet"],
                     operator="lk", progress=False)
    assert not (tmp_path / "op").exists()
