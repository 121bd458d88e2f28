"""The one exception type vokit raises for bad user input.

Every message names the file (and line, where there is one) and what is wrong, so that the CLI can print it
and exit with status 2 instead of showing a traceback from deep inside torch.
"""

from pathlib import Path


class VokitError(Exception):
    """Bad input: a file, a value or an argument that vokit cannot use.

    Args:
        message: what is wrong, in words a user can act on.
        path: the offending file or folder, if any.
        line: the 1-based line number in ``path``, if any.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = None if path is None else Path(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")
