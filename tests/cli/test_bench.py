import json
import sys

import pytest

import vokit.cli.bench as bench
from vokit.cli.main import main as vokit_main
from vokit.errors import VokitError

TINY = ["--patches", "5", "--dtypes", "float32", "--passes", "fwd", "--budget-s", "0", "--max-repeats", "3"]


def test_bench_ba_writes_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "bench"
    rc = bench.main(["ba", "--poses", "3", *TINY, "--out", str(out), "--no-memory"])
    assert rc == 0
    data = json.loads((out / "ba.json").read_text())
    assert data["meta"]["command"].startswith("vokit bench ba")
    assert data["meta"]["edge_scaling_exponent"] is None  # one size: no fit, and no NaN in the JSON
    methods = {r["method"]: r for r in data["results"]}
    assert set(methods) == {"vokit", "dense", "scipy"}
    assert methods["vokit"]["median_ms"] > 0
    assert (out / "ba_scaling.png").stat().st_size > 1000
    assert "| 3 | 5 |" in (out / "ba.md").read_text()
    text = capsys.readouterr().out
    assert "scipy / vokit" in text and "edges^nan" not in text and "no edge-scaling fit" in text


def test_bench_lists_benchmarks_and_rejects_unknown(capsys):
    assert bench.main([]) == 0
    assert "ba" in capsys.readouterr().out
    with pytest.raises(VokitError, match="unknown benchmark"):
        bench.main(["nope"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--poses", "1"], "N >= 2"),
        (["--poses", "3", "--max-repeats", "0"], "--max-repeats"),
        (["--poses", "3", "--threads", "0"], "--threads"),
    ],
)
def test_bench_ba_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    rc = vokit_main(["bench", "ba", *args, *TINY[:2], "--out", str(tmp_path / "b"), "--no-memory", "--no-plot"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("vokit bench: error:") and message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_bench_rejects_unknown_method(capsys):
    # theseus and pypose are not benchmarked (see benchmarks/ba.py): no option that only reports a skip
    with pytest.raises(SystemExit) as exc:
        bench.main(["ba", "--methods", "pypose"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bench_without_source_checkout_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "benchmarks_dir", lambda: tmp_path / "benchmarks")
    with pytest.raises(VokitError, match="source checkout"):
        bench.main(["ba", "--help"])


def test_bench_refuses_a_foreign_benchmarks_module(tmp_path, monkeypatch):
    foreign = type(sys)("benchmarks")
    foreign.__path__ = [str(tmp_path)]
    monkeypatch.setitem(sys.modules, "benchmarks", foreign)
    with pytest.raises(VokitError, match="different module named 'benchmarks'"):
        bench.load_benchmark("ba")


def test_bench_vo_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "vo"
    rc = bench.main(["vo", "--sizes", "48x64", "--presets", "fast", "--frames", "10", "--out", str(out)])
    assert rc == 0
    data = json.loads((out / "vo.json").read_text())
    (row,) = data["rows"]
    assert row["operator"] == "lk" and row["fps"] > 0 and row["ms_per_frame"]["operator"] > 0
    assert "fps_after_init" in row and "initialised_after" in row  # None when no frame followed initialisation
    assert "| 48x64 | fast | lk |" in (out / "vo.md").read_text()
    assert "frames/s" not in capsys.readouterr().err


def test_bench_vo_takes_a_scene_and_overrides(tmp_path, capsys):
    out = tmp_path / "vo"
    argv = ["vo", "--sizes", "48x64", "--presets", "fast", "--frames", "8", "--scene", "street-highway",
            "--set", "lk_warp_scale=False", "--out", str(out)]
    assert bench.main(argv) == 0
    data = json.loads((out / "vo.json").read_text())
    assert data["meta"]["scene"] == "street-highway" and data["meta"]["overrides"] == {"lk_warp_scale": False}
    assert "synthetic street-highway" in capsys.readouterr().out


def test_bench_render_times_the_new_scenes(tmp_path, capsys):
    out = tmp_path / "render.json"
    argv = ["render", "--frames", "2", "--repeats", "1", "--modes", "1-thread", "--height", "32", "--width", "64",
            "--scenes", "clutter", "street-camera", "--out", str(out)]
    assert bench.main(argv) == 0
    data = json.loads(out.read_text())
    assert [(r["domain"], r["mode"]) for r in data["rows"]] == [("clutter", "1-thread"), ("street-camera", "1-thread")]
    assert all(r["fps_best"] > 0 and r["cpu_ms_per_frame_best"] > 0 for r in data["rows"])
    assert set(data["scene_build_s"]) == {"street", "room", "clutter"}
    assert "| clutter " in capsys.readouterr().out
