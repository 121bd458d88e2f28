"""Reading user files safely: the one owner of text decoding, number parsing and ``.npy`` loading.

Every reader of a text file (trajectories, times, calibration, list files, YAML) goes through `read_text` or
`read_lines`, every number in such a file through `parse_float` / `parse_int`, and every ``.npy`` through
`load_npy`, so that bad input gives one `VokitError` naming the file (and line) instead of a
``UnicodeDecodeError``, ``EOFError`` or numpy traceback:

- Text must be UTF-8 (ASCII is UTF-8); a UTF-8 byte-order mark is accepted and dropped. Invalid UTF-8 is
  reported with its line, byte offset and byte; UTF-16/32 text (a BOM, or NUL bytes between ASCII
  characters) is reported as such.
- Numbers are plain ASCII decimals: ``[+-]digits[.digits][e[+-]digits]``, or ``nan`` / ``inf`` (which the
  readers then reject where they must be finite). Python's ``float()`` also takes ``1_000``, surrounding
  whitespace and non-ASCII digits; those are refused here.
- A path that exists but is not a regular file (a folder, a FIFO, a device) is reported as such, not as
  "not found".
"""

import os
import re
import stat
import tokenize
from pathlib import Path

import numpy as np

from vokit.errors import VokitError

_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I)
_INT = re.compile(r"[+-]?[0-9]+")
_UTF16_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
               b"\xfe\xff": "UTF-16"}
UTF8_BOM = b"\xef\xbb\xbf"


def require_file(path: Path, what: str = "file", hint: str = "") -> None:
    """Raise `VokitError` unless ``path`` is an existing regular file (following links).

    Args:
        path: the file.
        what: what it is, for the message (``"trajectory file"``): "<what> not found" or "<what> is a folder".
        hint: appended to the "not found" message (``" (missing frame)"``).
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise VokitError(f"{what} not found{hint}", path) from None
    except OSError as err:
        raise VokitError(f"cannot access {what}: {err.strerror or err}", path) from None
    if stat.S_ISREG(mode):
        return
    kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a file"
    raise VokitError(f"{what} is {kind}, not a regular file" if kind != "not a file" else
                     f"{what} is not a regular file (a device or socket)", path)


def read_bytes(path: Path, what: str = "file", hint: str = "") -> bytes:
    """The bytes of a regular file, with `VokitError` for a missing, special or unreadable file."""
    require_file(path, what, hint)
    try:
        return path.read_bytes()
    except OSError as err:
        raise VokitError(f"cannot read {what}: {err.strerror or err}", path) from None


def _line_of(data: bytes, offset: int) -> int:
    head = data[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def decode_text(data: bytes, path: Path) -> str:
    """Decode file bytes as UTF-8 (dropping a BOM), with `VokitError` naming the line of invalid bytes."""
    for bom, name in _UTF16_BOMS.items():
        if data.startswith(bom):
            raise VokitError(f"file is {name} text (byte-order mark {bom.hex(' ')}); save it as UTF-8 or ASCII", path)
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    head = data[: min(64, len(data) - len(data) % 2)]  # UTF-16 of ASCII: every other byte is NUL
    odd, even = head[1::2], head[0::2]
    if len(head) >= 4 and ((odd.count(0) == len(odd) and 0 not in even) or
                           (even.count(0) == len(even) and 0 not in odd)):
        raise VokitError("file looks like UTF-16 text (NUL bytes between characters); save it as UTF-8 or ASCII",
                         path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = data[err.start:err.start + 1].hex()
        raise VokitError(
            f"not UTF-8 text: invalid byte 0x{bad} at byte offset {err.start} (a binary file, or text in another "
            "encoding such as Latin-1; save it as UTF-8 or ASCII)",
            path,
            _line_of(data, err.start),
        ) from None


def read_text(path: str | Path, what: str = "file", hint: str = "") -> str:
    """The text of a UTF-8 file (see the module docstring), line ends as in the file.

    Raises:
        VokitError: a missing or special file, or text that is not UTF-8 (naming the line and byte offset).
    """
    path = Path(path)
    return decode_text(read_bytes(path, what, hint), path)


def read_lines(path: str | Path, what: str = "file", hint: str = "") -> list[str]:
    """The lines of a UTF-8 text file without their line ends (LF, CRLF and CR each end a line).

    Line k of the result (0-based) is line k + 1 of the file, so messages can quote the line number.
    """
    text = read_text(path, what, hint).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_float(text: str) -> float:
    """Parse one number token strictly (module docstring); ``nan`` / ``inf`` are returned as such.

    Raises:
        ValueError: with Python's wording (``could not convert string to float: '1_000'``).
    """
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"could not convert string to float: {text!r}")
    return float(text)


def parse_int(text: str) -> int:
    """Parse one ASCII integer token strictly (no ``_``, spaces or non-ASCII digits).

    Raises:
        ValueError: with Python's wording.
    """
    if not _INT.fullmatch(text):
        raise ValueError(f"invalid literal for int() with base 10: {text!r}")
    return int(text)


def is_ascii_int(text: str) -> bool:
    """True if ``text`` is a non-empty run of ASCII digits 0-9 (``str.isdigit`` also accepts ``'²'``)."""
    return bool(text) and text.isascii() and text.isdigit()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_npy(path: str | Path, what: str = ".npy file", hint: str = "") -> np.ndarray:
    """Load a ``.npy`` array (never a pickle), checking the header against the file size before reading.

    Raises:
        VokitError: naming the file for a missing or special file, a file that is not ``.npy`` (an ``.npz``
            archive, a pickle, random bytes), a corrupt header, or a truncated file.
    """
    path = Path(path)
    require_file(path, what, hint)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
            offset = f.tell()
        size = os.path.getsize(path)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, MemoryError, RecursionError,
            tokenize.TokenError) as err:  # numpy parses the header with tokenize and ast.literal_eval
        raise VokitError(f"not a readable .npy file ({what}): {_first_line(err)}", path) from None
    if dtype.hasobject:
        raise VokitError(f"{what} holds Python objects (dtype {dtype}); only number arrays can be read", path)
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize if shape else dtype.itemsize
    if size - offset < needed:
        raise VokitError(
            f"truncated .npy file: its header says shape {tuple(shape)} {dtype} ({needed} bytes of data), but "
            f"the file holds only {size - offset} bytes after the header",
            path,
        )
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as err:
        raise VokitError(f"cannot read {what}: {_first_line(err)}", path) from None
    if not isinstance(array, np.ndarray):
        raise VokitError(f"{what} is not a single .npy array", path)
    return array


__all__ = [
    "decode_text",
    "is_ascii_int",
    "load_npy",
    "parse_float",
    "parse_int",
    "read_bytes",
    "read_lines",
    "read_text",
    "require_file",
]
