"""core.limits.time_limit: the wall-clock bound on a student's answer or a spec expression."""

from __future__ import annotations

import signal
import time

import pytest

from symbackprop.core.limits import time_limit


def _busy(until: float) -> None:
    while time.monotonic() < until:
        pass


def test_a_timeout_swallowed_once_is_raised_again():
    """Code that catches every exception (as SymPy does in places) must not unbound the work."""
    start = time.monotonic()
    swallowed = []
    with pytest.raises(TimeoutError), time_limit(0.2):
        try:
            _busy(start + 3)
        except TimeoutError:
            swallowed.append(time.monotonic() - start)
        _busy(start + 3)
    assert swallowed and time.monotonic() - start < 1.0


def test_the_timer_and_the_handler_are_restored():
    previous = signal.getsignal(signal.SIGALRM)
    with time_limit(5):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is previous
    with pytest.raises(TimeoutError), time_limit(0.05):
        _busy(time.monotonic() + 2)
    _busy(time.monotonic() + 0.2)  # no alarm left to fire here
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_outer_limit_that_comes_sooner_stays_in_force():
    start = time.monotonic()
    with pytest.raises(TimeoutError), time_limit(0.2), time_limit(5):
        _busy(start + 3)
    assert time.monotonic() - start < 1.0
