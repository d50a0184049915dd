"""Grade a whole class: run every student's answers through the checker, write reports.

    grade("fc-3-2-2", "submissions/", "report/", jobs=4) -> summary dict

Input is a folder with one UTF-8 file per student (student = file stem; one ``question: answer``
per non-empty line, ``#`` starts a comment line) or a CSV file with header
``student,question,answer[,target]``. A folder may hold ``questions.toml``, which binds questions
to the quantity they ask for (``q1 = "delta_6"``, ``q2 = "dE/dw_64"``): each value is passed to
the checker as ``target=``, so an answer that derives another quantity is not marked right. The
file is not a student's; each key must be a question some student answers and each value a
string. A later answer to the same (student, question) replaces an earlier one. Malformed input
raises ValueError naming file and line (or key) before anything is graded. Every input file is
read with a bound (:func:`read_bounded`): a regular file only, at most its size limit, within a
time limit, so a FIFO, a device or a huge file is refused instead of blocking the grader.

Isolation. Student text is never executed: it is only passed, as a string, to the checker, which
is named by a ``"module:function"`` string and imported inside the workers only. Each worker is a
separate process with an address-space limit (RLIMIT_AS) and a per-answer SIGALRM timer. The
parent talks to each worker over its own pipe, one answer at a time, so it always knows which
answer a worker holds: if the worker dies (segfault, ``os._exit``, OOM kill) or does not answer
within ``time_limit + GRACE`` seconds, the parent kills it, records that answer as "invalid"
("checker crashed: ..." / "timed out after N s") and starts a fresh worker. A checker exception
or MemoryError is recorded the same way. Nothing an answer does stops the batch.

On a Dask cluster (``scheduler="tcp://host:port"``, dask imported only then) the same worker
loop runs inside each cluster worker thread, in a process of its own that the task starts (a
fresh interpreter, not a fork of a threaded worker) and keeps for the next answers: SIGALRM
cannot reach a worker thread, but the task can kill its process. The task waits for one answer
at most ``time_limit + GRACE`` and records a timeout or a crash as above. The client submits no
more answers than the cluster has threads and gives each ``START_SECONDS + CLUSTER_GRACE``
seconds more than that; an answer the cluster does not return by then, or loses with a worker,
is shown as "not graded" but not recorded as done, so the next run checks it again.

Identical answers (the same text for the same target) are checked once and share that verdict:
students who wrote the same thing get the same grade, and the many identical answers of a class
(the textbook form, the usual slip) cost one check each.

Resuming. Every finished answer is appended (and flushed) to ``out_dir/.progress.jsonl`` by the
parent, as results arrive, with a SHA-256 of (spec, target, answer). A re-run skips answers whose
hash is recorded there unless ``force=True`` (which starts the file afresh). The reports,
results.csv / results.json / index.html, are rebuilt from all current answers at the end and each
is written atomically (temporary file in out_dir, then os.replace). Rows are sorted by student,
then question, with digit runs compared as numbers (q2 before q10). JSON is strict: a non-finite
number becomes null with a ``<key>_text`` sibling ("inf", "-inf", "nan"), see :func:`json_safe`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import html
import importlib
import io
import json
import math
import multiprocessing as mp
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

MAX_ANSWERS, MAX_ANSWER_CHARS, MAX_FILE_BYTES = 100_000, 10_000, 50 * 2**20
MAX_TARGET_CHARS = 200
MAX_LOG_BYTES = 2**31  # .progress.jsonl of MAX_ANSWERS answers, counterexamples and all
READ_SECONDS = 10.0  # for one input file; a regular file on a local disk takes milliseconds
GRACE = 2.0  # seconds the parent waits beyond time_limit before killing a worker
START_SECONDS = 60.0  # for a cluster task's own worker process to start and import the checker
CLUSTER_GRACE = 30.0  # the client's margin beyond time_limit + GRACE (and a start) for one answer
CONNECT_SECONDS = 10.0  # to reach a Dask scheduler
QUESTIONS_FILE = "questions.toml"
VERDICTS = ("correct", "incorrect", "invalid", "undecided")
FIELDS = ("student", "question", "target", "verdict", "diagnosis", "message", "decided_by", "seconds")
QUESTION_ID = re.compile(r"[A-Za-z0-9][\w.\-]{0,31}")
CHECKER_NAME = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


@dataclass(frozen=True)
class Answer:
    student: str
    question: str
    answer: str
    target: str | None = None

    def digest(self, spec: str) -> str:
        return hashlib.sha256(json.dumps([spec, self.target, self.answer]).encode()).hexdigest()


def _natural(text: str) -> tuple:
    return tuple(int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", text))), text


# ---------------------------------------------------------------- bounded input


def read_bounded(path: str | Path, limit: int = MAX_FILE_BYTES, seconds: float = READ_SECONDS) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, read within ``seconds``.

    Opened with O_NONBLOCK, so a FIFO that nobody writes to is not waited for, then refused like
    a device (/dev/zero) or a folder: only regular files are read. At most ``limit + 1`` bytes are
    read whatever the file's size says (files under /proc say 0). ValueError names the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise ValueError(f"{path}: cannot open: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path}: larger than the limit of {limit:,} bytes")
        os.set_blocking(fd, True)
        deadline, chunks, size = time.monotonic() + seconds, [], 0
        while size <= limit:
            if time.monotonic() > deadline:
                raise ValueError(f"{path}: reading took longer than {seconds:g} s")
            chunk = os.read(fd, min(2**20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"{path}: larger than the limit of {limit:,} bytes")
        return b"".join(chunks)
    except OSError as err:
        raise ValueError(f"{path}: cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)


def _read_text(path: Path) -> str:
    try:
        return read_bounded(path).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


# ---------------------------------------------------------------- strict JSON


def _safe(value):
    """(JSON-safe copy, its text twin or None): the twin holds "inf"/"-inf"/"nan" where the copy
    holds None, in the same shape, and is None where nothing was non-finite."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[str(k)], text = _safe(v)
            if text is not None and not isinstance(v, dict):
                out.setdefault(f"{k}_text", text)
        return out, None
    if isinstance(value, (list, tuple)):
        pairs = [_safe(v) for v in value]
        texts = [t for _, t in pairs]
        return [c for c, _ in pairs], (texts if any(t is not None for t in texts) else None)
    if value is None or isinstance(value, (bool, int, str)):
        return value, None
    try:
        number = float(value)  # float, NumPy scalars, SymPy and mpmath numbers
    except (TypeError, ValueError, OverflowError):
        return str(value), None
    if math.isfinite(number):
        return number, None
    return None, "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")


def json_safe(value):
    """A copy of ``value`` that ``json.dumps(..., allow_nan=False)`` always accepts: string keys,
    lists for tuples, strings for unknown objects, and every non-finite number null with a
    sibling ``<key>_text`` ("inf", "-inf", "nan"; a list of such, None elsewhere, for a list)."""
    return _safe(value)[0]


# ---------------------------------------------------------------- submissions


def _questions(path: Path, answered: set[str]) -> dict[str, str]:
    """questions.toml: question -> target text; each key a question answered, each value a string."""
    import tomllib

    try:
        table = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: {err}") from None
    for key, value in table.items():
        if not QUESTION_ID.fullmatch(key) or key not in answered:
            known = ", ".join(sorted(answered, key=_natural)[:20]) or "none"
            raise ValueError(f"{path}: {key}: not a question any student answers (questions: {known})")
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f'{path}: {key}: the target must be a non-empty string, e.g. {key} = "delta_6"')
        if len(value) > MAX_TARGET_CHARS:
            raise ValueError(f"{path}: {key}: the target is longer than {MAX_TARGET_CHARS} characters")
    return {k: v.strip() for k, v in table.items()}


def _load_folder(path: Path) -> dict[tuple[str, str], Answer]:
    found: dict[tuple[str, str], Answer] = {}
    files = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.name != QUESTIONS_FILE)
    for file in files:
        if file.is_dir():
            continue
        for n, line in enumerate(_read_text(file).splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            question, sep, answer = line.partition(":")
            if not sep or not QUESTION_ID.fullmatch(question.strip()):
                raise ValueError(f"{file}:{n}: expected 'question: answer', e.g. 'q1: \\delta_6 = ...'")
            found[file.stem, question.strip()] = Answer(file.stem, question.strip(), answer.strip())
            if len(found) > MAX_ANSWERS:
                raise ValueError(f"{path}: more than {MAX_ANSWERS} answers")
    if (path / QUESTIONS_FILE).exists():
        targets = _questions(path / QUESTIONS_FILE, {q for _, q in found})
        found = {k: Answer(a.student, a.question, a.answer, targets.get(a.question)) for k, a in found.items()}
    return found


def _load_csv(path: Path) -> dict[tuple[str, str], Answer]:
    found: dict[tuple[str, str], Answer] = {}
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    try:
        missing = {"student", "question", "answer"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: header lacks column(s) {', '.join(sorted(missing))}")
        for row in reader:
            student, question, answer = (row.get(k) for k in ("student", "question", "answer"))
            if not student or not student.strip() or not question or answer is None:
                raise ValueError(f"{path}:{reader.line_num}: empty student, question or answer field")
            target = (row.get("target") or "").strip() or None
            if target is not None and len(target) > MAX_TARGET_CHARS:
                raise ValueError(f"{path}:{reader.line_num}: target longer than {MAX_TARGET_CHARS} characters")
            key = (student.strip(), question.strip())
            found[key] = Answer(*key, answer.strip(), target)
            if len(found) > MAX_ANSWERS:
                raise ValueError(f"{path}: more than {MAX_ANSWERS} answers")
    except csv.Error as err:
        raise ValueError(f"{path}:{reader.line_num}: {err}") from None
    return found


def load_submissions(submissions: str | Path) -> list[Answer]:
    """Parse a submissions folder or CSV file into answers sorted by student, then question."""
    path = Path(submissions)
    found = _load_folder(path) if path.is_dir() else _load_csv(path)
    return sorted(found.values(), key=lambda a: (_natural(a.student), _natural(a.question)))


# ---------------------------------------------------------------- worker side


class _TimeLimit(BaseException):  # BaseException: a checker's `except Exception` must not swallow it
    pass


def _invalid(message: str, seconds: float = 0.0) -> dict:
    return {"verdict": "invalid", "diagnosis": [], "message": message, "decided_by": "", "seconds": seconds}


def _address_space() -> int:
    """Bytes of address space this process maps now (Linux /proc; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def check_one(check: Callable, spec: str, answer: str, target: str | None, time_limit: float) -> tuple[dict, bool]:
    """One answer through ``check``: (report row, whether this process should be replaced).

    The per-answer function of every worker, local or on a cluster. In a process's main thread a
    SIGALRM timer stops the check after ``time_limit`` seconds; the caller's own deadline (the
    parent's, or the cluster task's) is what bounds it elsewhere."""
    start, restart, alarm = time.perf_counter(), False, threading.current_thread() is threading.main_thread()
    try:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, time_limit)
        try:
            result = check(spec, answer, target=target)
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
        row = json_safe(result.to_json() if hasattr(result, "to_json") else dict(result))
        if row.get("verdict") not in VERDICTS:
            row = _invalid(f"checker returned verdict {row.get('verdict')!r}")
        row["seconds"] = time.perf_counter() - start
    except _TimeLimit:  # interrupted mid-computation: caches may be inconsistent, so restart too
        row, restart = _invalid(f"timed out after {time_limit:g} s", time.perf_counter() - start), True
    except MemoryError:
        row, restart = _invalid("checker crashed: MemoryError", time.perf_counter() - start), True
    except Exception as err:  # noqa: BLE001 - any checker error is one answer's verdict
        row = _invalid(f"checker crashed: {type(err).__name__}: {err}"[:500], time.perf_counter() - start)
    return row, restart


def _worker_main(conn, checker: str, time_limit: float, memory_mb: int, announce: bool = False) -> None:
    """A worker process: load the checker, then check answers from ``conn`` until told to stop.
    With ``announce`` it says ("ready", ...) once the checker is loaded (the cluster task waits
    for that before it starts an answer's clock)."""
    import faulthandler
    import resource

    faulthandler.disable()  # a crash is reported by the parent, not as a traceback dump on stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_mb:  # on top of what the forked process already maps (a parent with PyTorch maps gigabytes)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = _address_space() + memory_mb * 2**20
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    def on_alarm(signum, frame):
        raise _TimeLimit

    signal.signal(signal.SIGALRM, on_alarm)
    parent = mp.parent_process()
    try:
        module, _, name = checker.partition(":")
        check, failure = getattr(importlib.import_module(module), name), ""
    except BaseException as err:  # noqa: BLE001 - reported on the first task; the parent stops the batch
        check, failure = None, f"cannot load checker {checker!r}: {type(err).__name__}: {err}"
    if announce:
        conn.send(("ready", "", False) if check is not None else ("fatal", failure, True))
    while True:
        if not conn.poll(1.0):
            if parent is not None and not parent.is_alive():
                return  # orphaned: the parent was killed
            continue
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        if check is None:
            conn.send(("fatal", failure, True))
            return
        row, restart = check_one(check, *task, time_limit)
        conn.send(("result", row, restart))
        if restart:  # the parent starts a fresh process
            return


def _sandbox_main() -> None:
    """Entry of a worker process started by a cluster task: ``python -c ... FD CHECKER SECONDS MB``."""
    fd, checker, seconds, memory_mb = sys.argv[1:5]
    _worker_main(Connection(int(fd)), checker, float(seconds), int(memory_mb), announce=True)


# ---------------------------------------------------------------- parent side


class _Worker:
    def __init__(self, ctx, args: tuple) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, *args), daemon=True)
        self.proc.start()
        child.close()
        self.task: Answer | None = None
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        _stop_process(self.conn, self.proc, kill)


def _stop_process(conn, proc, kill: bool = False) -> None:
    """Ask a worker to finish (a None task), wait a second, then kill it; or kill it at once.
    ``proc`` is a multiprocessing.Process or a _Spawned (same join, is_alive and kill)."""
    if not kill:
        try:
            conn.send(None)
        except OSError:
            pass
        proc.join(1.0)
    if proc.is_alive():
        proc.kill()
    proc.join(1.0)
    conn.close()


def _crash_message(proc) -> str:
    proc.join(1.0)
    code = proc.exitcode
    if code is not None and code < 0:
        return f"checker crashed: killed by signal {signal.Signals(-code).name}"
    return f"checker crashed: worker exited with status {code}"


def _run_local(spec: str, todo: list[Answer], checker: str, jobs: int, time_limit: float, memory_mb: int, record):
    """Check every answer in ``todo`` with ``jobs`` workers, calling ``record(answer, row)`` for each."""
    ctx, args, pending = mp.get_context(), (checker, time_limit, memory_mb), deque(todo)
    workers = [_Worker(ctx, args) for _ in range(min(jobs, len(todo)))]
    try:
        while pending or any(w.task for w in workers):
            for i, w in enumerate(workers):
                if w.task is None and pending:
                    if not w.proc.is_alive():
                        w.stop(kill=True)
                        workers[i] = w = _Worker(ctx, args)
                    w.task, w.started = pending.popleft(), time.monotonic()
                    try:
                        w.conn.send((spec, w.task.answer, w.task.target))
                    except OSError:
                        pass  # the worker died; noticed below as a crash
            busy = [w for w in workers if w.task]
            deadline = min(w.started for w in busy) + time_limit + GRACE
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], max(0.0, deadline - time.monotonic()))
            for i, w in enumerate(workers):
                if w.task is None:
                    continue
                elapsed, restart = time.monotonic() - w.started, True
                if w.conn.poll():
                    try:
                        kind, row, restart = w.conn.recv()
                    except (EOFError, OSError):
                        kind, row = "result", _invalid(_crash_message(w.proc), elapsed)
                    if kind == "fatal":
                        raise ImportError(row)
                elif not w.proc.is_alive():
                    row = _invalid(_crash_message(w.proc), elapsed)
                elif elapsed > time_limit + GRACE:
                    row = _invalid(f"timed out after {time_limit:g} s", elapsed)
                else:
                    continue
                record(w.task, row)
                w.task = None
                if restart:
                    w.stop(kill=True)
                    workers[i] = _Worker(ctx, args) if pending else w
    finally:
        for w in workers:
            w.stop(kill=w.task is not None)


# ---------------------------------------------------------------- on a Dask cluster


class _Spawned:
    """A worker process started as a fresh interpreter (``subprocess``), with the parts of the
    ``multiprocessing.Process`` interface that ``_crash_message`` and ``stop`` use. A cluster
    worker may be a daemonic process, which multiprocessing does not let have children, and is
    threaded, which makes fork unsafe."""

    def __init__(self, args: tuple) -> None:
        import socket

        mine, theirs = socket.socketpair()
        fd = theirs.detach()
        paths = os.pathsep.join(p for p in sys.path if p)  # what this process can import, the child can
        command = [sys.executable, "-c", "from symbackprop.verify.grade import _sandbox_main; _sandbox_main()"]
        try:
            self.popen = subprocess.Popen(
                [*command, str(fd), *map(str, args)],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": paths},
            )
        except BaseException:
            mine.close()
            raise
        finally:
            os.close(fd)
        self.conn = Connection(mine.detach())

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.is_alive():
            self.popen.kill()

    def stop(self, kill: bool = False) -> None:
        _stop_process(self.conn, self, kill)


_SANDBOXES: dict[int, tuple[tuple, _Spawned]] = {}  # cluster worker thread -> (its args, its process)
_SANDBOX_LOCK = threading.Lock()


def _close_sandboxes() -> int:
    """Stop every worker process that cluster tasks started in this process; how many."""
    with _SANDBOX_LOCK:
        boxes = [box for _, box in _SANDBOXES.values()]
        _SANDBOXES.clear()
    for box in boxes:
        box.stop()
    return len(boxes)


def _sandbox(args: tuple) -> tuple[_Spawned | None, dict | None]:
    """This thread's worker process, started (and waited for) if need be; or (None, a row)."""
    me = threading.get_ident()
    with _SANDBOX_LOCK:
        held = _SANDBOXES.pop(me, None)
    if held is not None and held[0] == args and held[1].is_alive():
        return held[1], None
    if held is not None:
        held[1].stop(kill=True)
    box = _Spawned(args)
    if not box.conn.poll(START_SECONDS):
        box.stop(kill=True)
        return None, _invalid(f"checker crashed: its process did not start within {START_SECONDS:g} s")
    try:
        kind, message, _ = box.conn.recv()
    except (EOFError, OSError):
        box.stop(kill=True)
        return None, _invalid(_crash_message(box))
    if kind == "fatal":
        box.stop(kill=True)
        return None, {"fatal": message}
    return box, None


def _cluster_check(spec: str, answer: str, target: str | None, checker: str, time_limit: float, memory_mb: int):
    """The task a cluster worker runs: one answer in this thread's worker process, bounded by
    ``time_limit + GRACE`` seconds. Returns the report row ({"fatal": ...} if the checker cannot
    be loaded)."""
    args = (checker, time_limit, memory_mb)
    box, row = _sandbox(args)
    if box is None:
        return row
    started, restart = time.monotonic(), True
    try:
        box.conn.send((spec, answer, target))
        if box.conn.poll(time_limit + GRACE):
            _, row, restart = box.conn.recv()
        else:
            row = _invalid(f"timed out after {time_limit:g} s", time.monotonic() - started)
    except (EOFError, OSError):
        row = _invalid(_crash_message(box), time.monotonic() - started)
    if restart:
        box.stop(kill=True)
    else:
        with _SANDBOX_LOCK:
            _SANDBOXES[threading.get_ident()] = (args, box)
    return row


def _scheduler_address(address: str) -> str:
    """The address as given, or ValueError for one that cannot be a scheduler's."""
    _, sep, rest = address.partition("://")
    host, colon, port = (rest if sep else address).rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"scheduler {address!r}: expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")
    return address


def connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``, which has at least one worker;
    ImportError without dask.distributed, ValueError when it cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("--scheduler needs dask.distributed: pip install distributed") from None
    address = _scheduler_address(address)
    scheme, _, rest = address.rpartition("://")
    if scheme in ("", "tcp"):  # a refused connection is told at once, not after the client's retries
        import socket

        host, _, port = rest.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
        except OSError as err:
            raise ValueError(f"scheduler {address!r}: cannot connect: {err.strerror or err}") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as err:
        raise ValueError(f"scheduler {address!r}: cannot connect: {err}") from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError):
        client.close()
        raise ValueError(f"scheduler {address!r}: no worker joined within {CONNECT_SECONDS:g} s") from None
    return client


def _not_graded(reason: str, seconds: float = 0.0) -> dict:
    """A row for an answer the cluster failed to check (a lost worker, a lost connection): shown in
    the reports, kept out of .progress.jsonl, so the next run checks it again."""
    return {**_invalid(f"not graded: {reason}; run grade again to check it"[:500], seconds), "retry": True}


def _cluster_row(future) -> dict:
    if future.status == "finished":
        return future.result()
    if future.status == "error":  # the task itself returns every verdict: this is the cluster's failure
        err = future.exception()
        return _not_graded(f"the cluster failed: {type(err).__name__}: {err}")
    return _not_graded(f"the cluster {future.status} the task")


def _run_cluster(
    client, spec: str, todo: list[Answer], checker: str, time_limit: float, memory_mb: int, record, task=None
) -> None:
    """Check every answer in ``todo`` on the cluster of ``client``, calling ``record(answer, row)``
    in this process as each result arrives; no more answers in flight than the cluster has threads."""
    import queue

    task = task or _cluster_check
    finished: queue.SimpleQueue = queue.SimpleQueue()  # done callbacks run in the client's own thread
    pending, running = deque(todo), {}  # future -> (answer, when it was submitted)
    bound = time_limit + GRACE + START_SECONDS + CLUSTER_GRACE
    threads, asked = 1, 0.0
    try:
        while pending or running:
            if pending and time.monotonic() - asked > 1.0:  # workers may come and go
                threads, asked = max(1, sum(client.nthreads().values())), time.monotonic()
            for _ in range(min(threads - len(running), len(pending))):
                a = pending.popleft()
                future = client.submit(task, spec, a.answer, a.target, checker, time_limit, memory_mb, pure=False)
                running[future] = (a, time.monotonic())
                future.add_done_callback(finished.put)
            first = min(started for _, started in running.values())
            done = set()
            with contextlib.suppress(queue.Empty):
                done.add(finished.get(timeout=max(0.0, first + bound - time.monotonic())))
                while True:
                    done.add(finished.get_nowait())
            now = time.monotonic()
            for future in list(running):
                a, started = running[future]
                if future in done:
                    row = _cluster_row(future)
                elif now - started > bound:
                    future.cancel()
                    row = _not_graded(f"the cluster did not return it within {bound:g} s", now - started)
                else:
                    continue
                del running[future]
                if "fatal" in row:
                    raise ImportError(row["fatal"])
                record(a, row)
    finally:
        for future in running:
            future.cancel()
        with contextlib.suppress(Exception):  # a worker gone already has no processes to stop
            client.run(_close_sandboxes)


# ---------------------------------------------------------------- reports


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _per_question(rows: list[dict]) -> dict:
    stats: dict[str, dict] = {}
    for r in rows:
        s = stats.setdefault(
            r["question"], {"answers": 0, **dict.fromkeys(VERDICTS, 0), "codes": Counter(), "seen": {}}
        )
        s["answers"] += 1
        s[r["verdict"]] += 1
        s["codes"].update(r["diagnosis"])
        s["seen"][r["target"] or ""] = None
    stats = {q: stats[q] for q in sorted(stats, key=_natural)}
    for s in stats.values():
        s["percent_correct"] = round(100.0 * s["correct"] / s["answers"], 1)
        s["diagnoses"] = dict(sorted(s.pop("codes").items(), key=lambda kv: (-kv[1], kv[0])))
        s["targets"] = [t for t in s.pop("seen") if t]
    return stats


def _html(spec: str, rows: list[dict], per_question: dict) -> str:
    e = html.escape
    questions = list(per_question)
    out = [
        (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Grading report</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.correct{background:#dfd}"
            ".incorrect{background:#fdd}.invalid{background:#eee;color:#666}.undecided{background:#ffd}"
            "</style></head><body>"
        ),
        (
            f"<h1>Grading report: {e(spec)}</h1><h2>Per question</h2><table><tr><th>question</th><th>target</th>"
            "<th>answers</th><th>correct</th><th>incorrect</th><th>invalid</th><th>undecided</th>"
            "<th>common diagnoses</th></tr>"
        ),
    ]
    for q, s in per_question.items():
        codes = ", ".join(f"{e(c)} &times;{n}" for c, n in list(s["diagnoses"].items())[:5])
        targets = e(", ".join(s["targets"])) or "&mdash;"
        out.append(
            f"<tr><td>{e(q)}</td><td>{targets}</td><td>{s['answers']}</td><td>{s['percent_correct']:.1f}%</td>"
            f"<td>{s['incorrect']}</td><td>{s['invalid']}</td><td>{s['undecided']}</td><td>{codes}</td></tr>"
        )
    out.append("</table><h2>Per student</h2><table><tr><th>student</th>")
    out += [f"<th>{e(q)}</th>" for q in questions] + ["</tr>"]
    by_student: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_student.setdefault(r["student"], {})[r["question"]] = r
    for student, answers in by_student.items():
        out.append(f"<tr><td>{e(student)}</td>")
        for q in questions:
            r = answers.get(q)
            if r is None:
                out.append("<td>&mdash;</td>")
                continue
            target = f"target {r['target']}" if r["target"] else ""
            tip = e("; ".join(filter(None, [target, ";".join(r["diagnosis"]), r["message"]])))
            out.append(f"<td class='{e(r['verdict'])}' title='{tip}'>{e(r['verdict'])}</td>")
        out.append("</tr>")
    return "\n".join(out + ["</table></body></html>\n"])


# ---------------------------------------------------------------- entry point


def grade(
    spec: str,
    submissions: str | Path,
    out_dir: str | Path,
    *,
    jobs: int = 2,
    time_limit: float = 5.0,
    memory_mb: int = 512,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    checker: str = "symbackprop.verify.check:verify_answer",
    scheduler: str | None = None,
    report: Callable[[str, list[dict], dict], str] | None = None,
) -> dict:
    """Grade every answer in ``submissions`` against ``spec``; write reports to ``out_dir``; return a summary.

    ``time_limit`` is wall-clock seconds per answer; ``memory_mb`` the address-space limit of each
    worker process (0: none). ``scheduler`` (``tcp://host:port``) runs the answers on that Dask
    cluster instead of ``jobs`` local processes. Raises ValueError for malformed input or a
    scheduler that cannot be reached, ImportError if the workers cannot import ``checker``.
    ``progress(done, total)`` is called once per answer, skipped ones too. ``report(spec, rows,
    per_question)`` makes index.html (default: a bare table); its rows also hold each "answer".
    """
    if jobs < 1 or not time_limit > 0 or not math.isfinite(time_limit) or memory_mb < 0:
        raise ValueError("jobs must be >= 1, time_limit a finite number > 0 and memory_mb >= 0")
    if not CHECKER_NAME.fullmatch(checker):
        raise ValueError(f"checker must look like 'package.module:function', not {checker!r}")
    start, answers = time.monotonic(), load_submissions(submissions)
    client = connect(scheduler) if scheduler else None
    try:
        return _grade(
            spec, answers, Path(out_dir), start, force, progress, client, checker, jobs, time_limit, memory_mb, report
        )
    finally:
        if client is not None:
            client.close()


def _done_before(log_path: Path) -> dict:
    done = {}
    for line in read_bounded(log_path, MAX_LOG_BYTES).decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
            if set(FIELDS) <= rec.keys():
                done[rec["student"], rec["question"], rec["hash"]] = rec
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # e.g. a line cut short by a kill
    return done


def _grade(
    spec, answers, out, start, force, progress, client, checker, jobs, time_limit, memory_mb, report=None
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / ".progress.jsonl"
    done = _done_before(log_path) if log_path.exists() and not force else {}
    results: dict[tuple[str, str], dict] = {}
    todo, count = [], 0
    total = len(answers)
    for a in answers:
        previous = done.get((a.student, a.question, a.digest(spec)))
        if previous is not None:
            results[a.student, a.question] = previous
            count += 1
            if progress:
                progress(count, total)
        else:
            todo.append(a)
    skipped = count
    with open(log_path, "w" if force else "a", encoding="utf-8") as log:
        if log.tell() and not log_path.read_bytes().endswith(b"\n"):
            log.write("\n")

        def record(a: Answer, row: dict) -> None:
            nonlocal count
            rec = {"student": a.student, "question": a.question, "target": row.get("target") or a.target}
            rec |= {k: row.get(k, "") for k in ("verdict", "message", "decided_by")}
            codes = row.get("diagnosis") or []
            rec["diagnosis"] = [codes] if isinstance(codes, str) else [str(c) for c in codes]
            rec["seconds"] = round(float(row.get("seconds", 0)), 4)
            rec |= {"counterexample": json_safe(row.get("counterexample")), "hash": a.digest(spec)}
            results[a.student, a.question] = rec
            if not row.get("retry"):
                log.write(json.dumps(rec, allow_nan=False) + "\n")
                log.flush()
            count += 1
            if progress:
                progress(count, total)

        same: dict[tuple[str, str | None], list[Answer]] = {}  # (answer, target) -> the students who wrote it
        for a in todo:
            if len(a.answer) > MAX_ANSWER_CHARS:
                record(a, _invalid(f"answer is {len(a.answer)} characters long; the limit is {MAX_ANSWER_CHARS}"))
            else:
                same.setdefault((a.answer, a.target), []).append(a)

        def record_same(a: Answer, row: dict) -> None:  # one check, one verdict for every copy
            for copy in same[a.answer, a.target]:
                record(copy, row)

        checked = [copies[0] for copies in same.values()]
        if client is not None:
            _run_cluster(client, spec, checked, checker, time_limit, memory_mb, record_same)
        else:
            _run_local(spec, checked, checker, jobs, time_limit, memory_mb, record_same)

    rows = [{k: results[a.student, a.question].get(k) for k in (*FIELDS, "counterexample")} for a in answers]
    per_question = _per_question(rows)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow([";".join(r[k]) if k == "diagnosis" else ("" if r[k] is None else r[k]) for k in FIELDS])
    _write_atomically(out / "results.csv", table.getvalue())
    _write_atomically(
        out / "results.json", json.dumps(json_safe(rows), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    )
    with_answers = [{**r, "answer": a.answer} for r, a in zip(rows, answers)]
    _write_atomically(out / "index.html", (report or _html)(spec, with_answers, per_question))
    verdicts = Counter(r["verdict"] for r in rows)
    return {
        "total": total,
        "graded": total - skipped,
        "skipped": skipped,
        **{v: verdicts[v] for v in VERDICTS},
        "seconds": round(time.monotonic() - start, 3),
        "per_question": per_question,
    }


def print_progress(done: int, total: int, stream=None) -> None:
    """``graded done/total`` on stderr: rewritten in place on a terminal, else at every 10%."""
    stream = stream or sys.stderr
    if stream.isatty():
        stream.write(f"\rgraded {done}/{total}" + ("\n" if done >= total else ""))
    elif done >= total or (done * 10) // max(total, 1) != ((done - 1) * 10) // max(total, 1):
        stream.write(f"graded {done}/{total}\n")
    stream.flush()
