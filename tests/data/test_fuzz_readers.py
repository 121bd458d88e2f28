"""Issue 12 deliverable 5: fuzzing every file reader with hypothesis.

Random bytes and mutated valid files (byte changes, truncation, insertion of bytes and of troublesome tokens
such as ``nan``, ``1_000``, a BOM, ``\\xff`` or ``²``, deletion) must give either `VokitError` or a valid
result, never another exception. Bounded: a fixed number of examples per reader, derandomized (the same
examples every run) and without an example database, so it runs in seconds and never writes into the repo;
``VOKIT_FUZZ_EXAMPLES=N`` (and ``VOKIT_FUZZ_RANDOM=1`` for fresh random examples) runs a deeper fuzz by hand.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.readers import TEXT_READERS, Reader, binary_readers

from vokit.errors import VokitError

EXAMPLES = int(os.environ.get("VOKIT_FUZZ_EXAMPLES", "60"))
"""Examples per reader and test; raise it (``VOKIT_FUZZ_EXAMPLES=5000``) for a deeper run by hand."""
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=os.environ.get("VOKIT_FUZZ_RANDOM") is None,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TOKENS = [b"nan", b"inf", b"-inf", b"1e999", b"1_000", b"\xef\xbb\xbf", b"\xff", b"\xc3", "\u00b2".encode(),
          b"\x00", b"\r", b"\n", b"#", b",", b":", b"-", b"[", b"]", b"{", b"null", b"0", b"-1", b"1e-320",
          b"99999999999999999999", b"\t", b" ", b".", b"e", b"%YAML:1.0\n", b"T_BS", b"data: ", b"\xff\xfe"]

with tempfile.TemporaryDirectory() as _scratch:
    BINARY_READERS = binary_readers(Path(_scratch))
ALL_READERS: list[tuple[str, str, bytes, Reader]] = [
    (name, file_name, text.encode(), read) for name, file_name, text, read in TEXT_READERS
] + BINARY_READERS
IDS = [r[0] for r in ALL_READERS]


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with 1-4 random edits: change, insert (random bytes or a token), delete, truncate."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["change", "insert", "token", "delete", "truncate"]))
        at = draw(st.integers(0, len(data)))
        if kind == "change" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


def _check_result(result: object) -> None:
    """A reader's result holds only numbers that are allowed to be there (no NaN poses, no negative depth...)."""
    tensors = [result] if isinstance(result, torch.Tensor | np.ndarray) else (
        list(result) if isinstance(result, tuple) else [])
    for value in tensors:
        if isinstance(value, torch.Tensor) and value.dtype != torch.bool:
            assert bool(torch.isfinite(value.double()).all()), "reader returned non-finite numbers"


def _read(read: Reader, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        result = read(path)
    except VokitError as err:
        assert err.path is not None, f"VokitError without a file: {err}"
        assert "\n" not in str(err), f"not a one-line message: {err!r}"
        return
    _check_result(result)


@pytest.mark.parametrize(("name", "file_name", "valid", "read"), ALL_READERS, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_mutated_valid_file_gives_vokit_error_or_a_result(tmp_path: Path, name: str, file_name: str, valid: bytes,
                                                          read: Reader, data: st.DataObject) -> None:
    _read(read, tmp_path / file_name, data.draw(mutated(valid), label="file bytes"))


@pytest.mark.parametrize(("name", "file_name", "valid", "read"), ALL_READERS, ids=IDS)
@settings(SETTINGS, max_examples=max(1, EXAMPLES // 2))
@given(raw=st.binary(max_size=300))
def test_random_bytes_give_vokit_error_or_a_result(tmp_path: Path, name: str, file_name: str, valid: bytes,
                                                   read: Reader, raw: bytes) -> None:
    _read(read, tmp_path / file_name, raw)


@pytest.mark.parametrize(("name", "file_name", "valid", "read"), ALL_READERS, ids=IDS)
def test_the_valid_samples_read(tmp_path: Path, name: str, file_name: str, valid: bytes, read: Reader) -> None:
    path = tmp_path / file_name
    path.write_bytes(valid)
    result = read(path)
    assert result is not None
    _check_result(result)
