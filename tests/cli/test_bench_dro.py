"""``vokit bench dro`` writes its table and JSON, and rejects bad sizes in one line."""

import json
from pathlib import Path

import pytest

import vokit.cli.bench as bench
from vokit.cli.main import main as vokit_main


def test_bench_dro_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    rc = bench.main(["dro", "--sizes", "32x48", "--models", "small", "--version", "it2-seq1", "--repeats", "1",
                     "--threads", "1", "--out", str(out)])
    assert rc == 0
    data = json.loads((out / "dro.json").read_text())
    (row,) = data["rows"]
    assert row["size"] == "32x48" and row["model"] == "small" and row["median_ms"] > 0
    assert data["meta"]["command"].startswith("vokit bench dro")
    assert "| 32x48 | small |" in (out / "dro.md").read_text()


@pytest.mark.parametrize(("args", "message"), [(["--sizes", "30x48"], "multiples of 16"),
                                               (["--version", "it10"], "--version")])
def test_bench_dro_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                                message: str) -> None:
    rc = vokit_main(["bench", "dro", "--models", "small", "--repeats", "1", *args, "--out", str(tmp_path / "b")])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
