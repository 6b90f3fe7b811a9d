"""The chaos scenarios (issue 15's staleness bound, test_chaos.py) are opt-in: they run only
when the `-m` expression names them (`-m chaos`, `-m "chaos and rabbitmq"`). Several fail
until the features they accept are built; the main engineer turns them on in scripts/test."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("chaos") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("chaos")])
        items[:] = kept
