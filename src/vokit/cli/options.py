"""Strict number types for the command-line parsers: plain ASCII decimals only (``1_000`` or ``²`` are errors).

Python's ``float`` and ``int`` accept underscores and non-ASCII digits; the numbers in vokit's files do not
(`vokit.data.file_io.parse_float`), and neither do its options. argparse turns the error into its usage message
and exit status 2.
"""

import argparse

from vokit.data.file_io import parse_float, parse_int


def number(text: str) -> float:
    """An argparse ``type``: a plain decimal number (``nan`` / ``inf`` pass; options check their range)."""
    try:
        return parse_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain decimal number") from None


def integer(text: str) -> int:
    """An argparse ``type``: a plain decimal integer."""
    try:
        return parse_int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain decimal integer") from None
