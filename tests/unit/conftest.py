"""Tests of code alone: no database, no app. The suite's autouse ``_clean`` (tests/conftest.py) would
start both to empty the tables after each test; here it is replaced by one that does nothing, and every
test is marked ``unit`` (``pytest -m unit`` runs them in seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/unit/" in str(item.path):
            item.add_marker(pytest.mark.unit)
