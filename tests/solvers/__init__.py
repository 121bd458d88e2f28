"""Tests of vokit.solvers."""
