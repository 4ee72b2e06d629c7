"""The NIC driver-state machine the fixtures move along (no lab needed)."""
from __future__ import annotations

import pytest

from nictest.binding import lifecycle as lc
from nictest.errors import StateError


def full_cycle(life: lc.NicLifecycle, driver: str) -> None:
    for state in (lc.UNBOUND, driver, lc.MAPPED, lc.RINGS_UP, driver, lc.RESTORED):
        life.move(state)


@pytest.mark.parametrize("driver", [lc.VFIO, lc.UIO])
def test_a_whole_cycle_and_a_second_one(driver):
    life = lc.NicLifecycle("lab1", "0000:00:03.0")
    full_cycle(life, driver)
    assert life.state == lc.RESTORED and life.driver is None
    assert life.path() == f"kernel -> unbound -> {driver} -> mapped -> rings up -> {driver} -> restored"
    mark = len(life.history)
    full_cycle(life, driver)
    assert life.path(mark).startswith("restored -> unbound")


@pytest.mark.parametrize("steps, bad", [
    ((), lc.MAPPED),                                     # PMD open on the kernel driver
    ((), lc.VFIO),                                       # bind without unbinding first
    ((lc.UNBOUND, lc.VFIO, lc.MAPPED, lc.RINGS_UP), lc.UNBOUND),   # rebind with rings up
    ((lc.UNBOUND, lc.VFIO, lc.MAPPED, lc.RINGS_UP), lc.UIO),       # close onto the other driver
    ((lc.UNBOUND, lc.VFIO, lc.RESTORED), lc.MAPPED),     # open after restore
    ((), lc.RESTORED),                                   # restore what was never bound
])
def test_illegal_steps_raise_a_state_error_naming_the_state(steps, bad):
    life = lc.NicLifecycle("lab1", "0000:00:03.0")
    for state in steps:
        life.move(state)
    before = life.state
    with pytest.raises(StateError) as err:
        life.move(bad)
    assert f"from {before!r} to {bad!r}" in str(err.value) and "0000:00:03.0" in str(err.value)
    assert life.state == before, "a refused step must not change the state"


def test_unknown_state_and_require():
    life = lc.NicLifecycle("lab2", "0000:00:04.0")
    with pytest.raises(StateError, match="not a NIC state"):
        life.move("bound-ish")
    with pytest.raises(StateError, match="is 'kernel': cannot open the PMD"):
        life.require(lc.VFIO, to="open the PMD")
    life.require(*lc.AT_REST, to="bind")


def test_registry_keeps_one_lifecycle_per_host_and_nic():
    reg = lc.Registry()
    a = reg.get("lab1", "0000:00:03.0")
    a.move(lc.UNBOUND)
    assert reg.get("lab1", "0000:00:03.0") is a
    assert reg.get("lab2", "0000:00:03.0").state == lc.KERNEL
    assert len(reg.all()) == 2
