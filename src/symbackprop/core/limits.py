"""A wall-clock bound on one piece of work (a spec expression, a student's answer).

SymPy can spend minutes on inputs that are small but unlucky (tanh nested a dozen deep); a
SIGALRM timer turns that into a TimeoutError the caller reports. Only the main thread can take
signals, so elsewhere the work runs unbounded; an outer limit that comes sooner stays in force
and is restored afterwards.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError after ``seconds``; an outer limit that comes sooner stays in force and
    is restored afterwards. Only in the main thread (elsewhere there is no limit)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return
    outer = signal.getitimer(signal.ITIMER_REAL)[0]
    if 0 < outer <= seconds:
        yield
        return

    armed = [True]

    def expire(signum, frame):
        if armed[0]:
            raise TimeoutError

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    # The alarm repeats every 50 ms after the first: code that catches every exception (SymPy
    # has such places) may swallow one TimeoutError, and a one-shot alarm would then leave the
    # work unbounded.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        while armed[0]:  # disarm first: an alarm that lands here is retried, not let out
            try:
                armed[0] = False
            except TimeoutError:
                continue
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 0.001))
