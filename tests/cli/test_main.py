import subprocess
import sys

import pytest

import vokit
from vokit.cli import main as cli_main
from vokit.errors import VokitError


def test_help_lists_only_existing_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: vokit" in out
    for name, (module, _) in cli_main.SUBCOMMANDS.items():
        listed = f"  {name} " in out
        assert listed == (name in cli_main._available()), f"{name} ({module}) listing is wrong"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vokit {vokit.__version__}"


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_vokit_error_becomes_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class FakeModule:
        @staticmethod
        def main(argv: list[str]) -> int:
            raise VokitError("unparsable pose row", path="poses.txt", line=3)

    monkeypatch.setitem(cli_main.SUBCOMMANDS, "fake", ("vokit.cli.fake", "test"))
    monkeypatch.setattr(cli_main, "_available", lambda: {"fake": ("vokit.cli.fake", "test")})
    monkeypatch.setattr(cli_main.importlib, "import_module", lambda name: FakeModule)
    assert cli_main.main(["fake"]) == 2
    assert "poses.txt:3: unparsable pose row" in capsys.readouterr().err


def test_console_script_help_is_fast_and_light() -> None:
    code = "import sys, vokit.cli.main as m; m.main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False"), "vokit --help must not import torch"
