import json

import pytest

from vokit.cli import bench
from vokit.errors import VokitError


def test_bench_ba_writes_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "bench"
    rc = bench.main(
        [
            "ba",
            "--poses",
            "3",
            "--patches",
            "5",
            "--dtypes",
            "float32",
            "--passes",
            "fwd",
            "--budget-s",
            "0",
            "--max-repeats",
            "3",
            "--out",
            str(out),
            "--no-memory",
        ]
    )
    assert rc == 0
    data = json.loads((out / "ba.json").read_text())
    assert data["meta"]["command"].startswith("vokit bench ba")
    methods = {r["method"]: r for r in data["results"]}
    assert methods["vokit"]["median_ms"] > 0
    assert methods["theseus"]["skipped"] and methods["pypose"]["skipped"]
    assert (out / "ba_scaling.png").stat().st_size > 1000
    assert "| 3 | 5 |" in (out / "ba.md").read_text()
    assert "scipy / vokit" in capsys.readouterr().out


def test_bench_lists_benchmarks_and_rejects_unknown(capsys):
    assert bench.main([]) == 0
    assert "ba" in capsys.readouterr().out
    with pytest.raises(VokitError, match="unknown benchmark"):
        bench.main(["nope"])
