"""Issue 12 rows 9 and 13: options take plain decimals only; a negative synthetic seed is a clear error."""

import pytest

from vokit.app.pipeline import open_source
from vokit.cli import main as cli_main
from vokit.errors import VokitError


@pytest.mark.parametrize("argv", [
    ["synth", "--frames", "1_000", "--out", "x"],
    ["eval", "depth", "gt", "pred", "--min-depth", "1_0"],
    ["run", "synthetic:street", "--stride", "²"],
])
def test_underscore_and_non_ascii_numbers_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "is not a plain decimal" in err and "Traceback" not in err


def test_calib_numbers_are_strict() -> None:
    from vokit.cli.run import parse_calib_arg

    assert parse_calib_arg(["1.5", "2", "3", "4"]) == [1.5, 2.0, 3.0, 4.0]
    with pytest.raises(VokitError, match="takes numbers"):
        parse_calib_arg(["1_000", "2", "3", "4"])


def test_negative_synthetic_seed_in_a_run_source() -> None:
    with pytest.raises(VokitError, match="seed"):
        open_source("synthetic:street:-1")
