"""Shared test code (fixtures live in tests/conftest.py)."""
