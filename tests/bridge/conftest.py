"""The bridge's end-to-end tests inject no fault of the kind the staleness bound watches
for (a cluster cut off, a bridge gone): in them, a silence flush is a false alarm, and
fails the test (issue 15: no silence flush where no fault is injected). A test that stops
a bridge or a target for long enough says so with `@pytest.mark.silence_expected`."""

from __future__ import annotations

import pytest

from .processes import BridgeProcess


@pytest.fixture(autouse=True)
def no_false_silence_alarm(request):
    BridgeProcess.started.clear()
    yield
    if request.node.get_closest_marker("silence_expected") is not None:
        return
    alarms = [line for bridge in BridgeProcess.started for line in bridge.silence_flushes()]
    assert not alarms, f"silence flush without a fault: {alarms}"
