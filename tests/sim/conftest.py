"""Simulated fleets for the simulator tests: DICE devices under the test's tmp_path."""

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from sevenfold.protocol.clock import ManualClock
from sevenfold.sim.device import Fleet

MakeFleet = Callable[[int], Fleet]


@pytest.fixture
def make_fleet(tmp_path: Path, clock: ManualClock) -> MakeFleet:
    """Make fleets of fresh DICE devices on the service's clock, each in its own dir."""
    serial = itertools.count()

    def make(count: int) -> Fleet:
        return Fleet.create(count, tmp_path / f"fleet-{next(serial)}", clock=clock)

    return make
