"""A pool of checker processes for a server: answers one at a time, as requests come.

    pool = CheckerPool("symbackprop.verify.check:verify_answer", jobs=2, time_limit=5)
    row = pool.check("fc-3-2-2", answer, target)   # blocking; any thread may call it
    pool.close()

The workers are grade.py's (:func:`~symbackprop.verify.grade._worker_main`): each a separate
process with an address-space limit and a SIGALRM timer per answer, which loads the checker by
its ``"module:function"`` name and never executes the text it is given. Where ``grade`` runs a
batch, a server gets answers one by one from many threads: a caller takes an idle worker from a
queue (waiting at most ``wait`` seconds, else :class:`Busy`), hands it one answer over its pipe
and waits ``time_limit + GRACE`` seconds for the row. A worker that dies, or does not answer by
then, is killed and replaced, and the answer gets an "invalid" row that says so, as in ``grade``.

Each worker is a fresh interpreter (grade.py's :class:`~symbackprop.verify.grade._Spawned`, as
on a cluster), not a fork: a server has threads, which make fork unsafe, and multiprocessing's
other start methods import the caller's main script again. A worker says when its checker is
loaded; the first answer it is given waits for that (at most ``START_SECONDS``), so replacing a
worker never holds up the request whose worker was replaced.
"""

from __future__ import annotations

import queue
import threading
import time

from symbackprop.verify.grade import CHECKER_NAME, GRACE, START_SECONDS, _crash_message, _invalid, _Spawned


class Busy(RuntimeError):
    """Every worker stayed busy for as long as the caller would wait."""


class CheckerPool:
    """``jobs`` worker processes that check one answer each at a time (see the module's docstring)."""

    def __init__(self, checker: str, jobs: int = 2, time_limit: float = 5.0, memory_mb: int = 512) -> None:
        if not CHECKER_NAME.fullmatch(checker):
            raise ValueError(f"checker must look like 'package.module:function', not {checker!r}")
        if jobs < 1 or not time_limit > 0:
            raise ValueError("jobs must be >= 1 and time_limit > 0")
        self.time_limit = time_limit
        self._args = (checker, time_limit, memory_mb)
        self._idle: queue.Queue[_Spawned] = queue.Queue()
        self._all: set[_Spawned] = set()
        self._ready: set[_Spawned] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(jobs):
            self._idle.put(self._start())

    def _start(self) -> _Spawned:
        worker = _Spawned(self._args)
        with self._lock:
            self._all.add(worker)
        return worker

    def _retire(self, worker: _Spawned) -> None:
        worker.stop(kill=True)
        with self._lock:
            self._all.discard(worker)
            self._ready.discard(worker)

    def _wait_ready(self, worker: _Spawned) -> None:
        """Consume the worker's ("ready", ...) announcement; ImportError if its checker failed to
        load, EOFError if it died or did not start in time."""
        if worker in self._ready:
            return
        if not worker.conn.poll(START_SECONDS):
            raise EOFError
        kind, message, _ = worker.conn.recv()
        if kind == "fatal":
            raise ImportError(message)
        self._ready.add(worker)

    def warm(self) -> None:
        """Wait until every idle worker has loaded its checker (a server's start-up)."""
        workers = []
        while True:
            try:
                workers.append(self._idle.get_nowait())
            except queue.Empty:
                break
        try:
            for worker in workers:
                self._wait_ready(worker)
        finally:
            for worker in workers:
                self._idle.put(worker)

    def check(self, spec: str, answer: str, target: str | None = None, wait: float = 30.0) -> dict:
        """The checker's row for one answer (a dict with at least "verdict"); :class:`Busy` when
        no worker is free within ``wait`` seconds, ImportError when the checker cannot be loaded."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        try:
            worker = self._idle.get(timeout=wait)
        except queue.Empty:
            raise Busy(f"every checker was busy for {wait:g} s") from None
        restart, started = True, time.monotonic()
        try:
            if not worker.is_alive():
                self._retire(worker)
                worker = self._start()
            self._wait_ready(worker)
            started = time.monotonic()
            worker.conn.send((spec, answer, target))
            if worker.conn.poll(self.time_limit + GRACE):
                kind, row, restart = worker.conn.recv()
                if kind == "fatal":
                    raise ImportError(row)
            else:
                row = _invalid(f"timed out after {self.time_limit:g} s", time.monotonic() - started)
        except (EOFError, OSError):
            row = _invalid(_crash_message(worker), time.monotonic() - started)
        finally:
            if restart:
                self._retire(worker)
                worker = self._start() if not self._closed else None
            if worker is not None:
                self._idle.put(worker)
        return row

    def close(self) -> None:
        """Stop every worker (those still checking an answer are killed)."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop(kill=False)

    def __enter__(self) -> CheckerPool:  # noqa: PYI034 - a final class
        return self

    def __exit__(self, *exc) -> None:
        self.close()
