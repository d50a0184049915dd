"""Grade a whole class: run every student's answers through the checker, write reports.

    grade("fc-3-2-2", "submissions/", "report/", jobs=4) -> summary dict

Input is a folder with one UTF-8 file per student (student = file stem; one ``question: answer``
per non-empty line, ``#`` starts a comment line) or a CSV file with header
``student,question,answer[,target]``. A later answer to the same (student, question) replaces an
earlier one. Malformed input raises ValueError naming file and line before anything is graded.

Isolation. Student text is never executed: it is only passed, as a string, to the checker, which
is named by a ``"module:function"`` string and imported inside the workers only. Each worker is a
separate process with an address-space limit (RLIMIT_AS) and a per-answer SIGALRM timer. The
parent talks to each worker over its own pipe, one answer at a time, so it always knows which
answer a worker holds: if the worker dies (segfault, ``os._exit``, OOM kill) or does not answer
within ``time_limit + GRACE`` seconds, the parent kills it, records that answer as "invalid"
("checker crashed: ..." / "timed out after N s") and starts a fresh worker. A checker exception
or MemoryError is recorded the same way. Nothing an answer does stops the batch.

Resuming. Every finished answer is appended (and flushed) to ``out_dir/.progress.jsonl`` with a
SHA-256 of (spec, target, answer). A re-run skips answers whose hash is recorded there unless
``force=True`` (which starts the file afresh). The reports, results.csv / results.json /
index.html, are rebuilt from all current answers at the end and each is written atomically
(temporary file in out_dir, then os.replace). Rows are sorted by student, then question, with
digit runs compared as numbers (q2 before q10).
"""

from __future__ import annotations

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
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

MAX_ANSWERS, MAX_ANSWER_CHARS, MAX_FILE_BYTES = 100_000, 10_000, 50 * 2**20
GRACE = 2.0  # seconds the parent waits beyond time_limit before killing a worker
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


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def load_submissions(submissions: str | Path) -> list[Answer]:
    """Parse a submissions folder or CSV file into answers sorted by student, then question."""
    path, found = Path(submissions), {}
    if path.is_dir():
        for file in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
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
    else:
        csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
        reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
        missing = {"student", "question", "answer"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: header lacks column(s) {', '.join(sorted(missing))}")
        try:
            for row in reader:
                student, question, answer = (row.get(k) for k in ("student", "question", "answer"))
                if not student or not student.strip() or not question or answer is None:
                    raise ValueError(f"{path}:{reader.line_num}: empty student, question or answer field")
                key = (student.strip(), question.strip())
                found[key] = Answer(*key, answer.strip(), (row.get("target") or "").strip() or None)
                if len(found) > MAX_ANSWERS:
                    raise ValueError(f"{path}: more than {MAX_ANSWERS} answers")
        except csv.Error as err:
            raise ValueError(f"{path}:{reader.line_num}: {err}") from None
    return sorted(found.values(), key=lambda a: (_natural(a.student), _natural(a.question)))


# ---------------------------------------------------------------- worker side


class _TimeLimit(BaseException):  # BaseException: a checker's `except Exception` must not swallow it
    pass


def _plain(obj):
    """JSON-safe copy: str keys, lists, finite floats (others as strings)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj if obj is None or isinstance(obj, (bool, int, float, str)) else str(obj)


def _invalid(message: str, seconds: float = 0.0) -> dict:
    return {"verdict": "invalid", "diagnosis": [], "message": message, "decided_by": "", "seconds": seconds}


def _address_space() -> int:
    """Bytes of address space this process maps now (Linux /proc; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _worker_main(conn, checker: str, time_limit: float, memory_mb: int) -> None:
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
        spec, answer, target = task
        start, restart = time.perf_counter(), False
        try:
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            try:
                result = check(spec, answer, target=target)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            row = _plain(result.to_json() if hasattr(result, "to_json") else dict(result))
            if row.get("verdict") not in ("correct", "incorrect", "invalid", "undecided"):
                row = _invalid(f"checker returned verdict {row.get('verdict')!r}")
            row["seconds"] = time.perf_counter() - start
        except _TimeLimit:  # interrupted mid-computation: caches may be inconsistent, so restart too
            row, restart = _invalid(f"timed out after {time_limit:g} s", time.perf_counter() - start), True
        except MemoryError:
            row, restart = _invalid("checker crashed: MemoryError", time.perf_counter() - start), True
        except Exception as err:  # noqa: BLE001 - any checker error is one answer's verdict
            row = _invalid(f"checker crashed: {type(err).__name__}: {err}"[:500], time.perf_counter() - start)
        conn.send(("result", row, restart))
        if restart:  # the parent starts a fresh process
            return


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
        if not kill:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(1.0)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(1.0)
        self.conn.close()


def _crash_message(proc) -> str:
    proc.join(1.0)
    code = proc.exitcode
    if code is not None and code < 0:
        return f"checker crashed: killed by signal {signal.Signals(-code).name}"
    return f"checker crashed: worker exited with status {code}"


def _run(spec: str, todo: list[Answer], checker: str, jobs: int, time_limit: float, memory_mb: int, record) -> None:
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
            r["question"], {"answers": 0, "correct": 0, "incorrect": 0, "invalid": 0, "codes": Counter()}
        )
        s["answers"] += 1
        s[r["verdict"]] += 1
        s["codes"].update(r["diagnosis"])
    stats = {q: stats[q] for q in sorted(stats, key=_natural)}
    for s in stats.values():
        s["percent_correct"] = round(100.0 * s["correct"] / s["answers"], 1)
        s["diagnoses"] = dict(sorted(s.pop("codes").items(), key=lambda kv: (-kv[1], kv[0])))
    return stats


def _html(spec: str, rows: list[dict], per_question: dict) -> str:
    e = html.escape
    questions = list(per_question)
    out = [
        (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Grading report</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.correct{background:#dfd}"
            ".incorrect{background:#fdd}.invalid{background:#eee;color:#666}</style></head><body>"
        ),
        (
            f"<h1>Grading report: {e(spec)}</h1><h2>Per question</h2><table><tr><th>question</th><th>answers</th>"
            "<th>correct</th><th>incorrect</th><th>invalid</th><th>common diagnoses</th></tr>"
        ),
    ]
    for q, s in per_question.items():
        codes = ", ".join(f"{e(c)} &times;{n}" for c, n in list(s["diagnoses"].items())[:5])
        out.append(
            f"<tr><td>{e(q)}</td><td>{s['answers']}</td><td>{s['percent_correct']:.1f}%</td>"
            f"<td>{s['incorrect']}</td><td>{s['invalid']}</td><td>{codes}</td></tr>"
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
            tip = e("; ".join(filter(None, [";".join(r["diagnosis"]), r["message"]])))
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
) -> dict:
    """Grade every answer in ``submissions`` against ``spec``; write reports to ``out_dir``; return a summary.

    ``time_limit`` is wall-clock seconds per answer; ``memory_mb`` the address-space limit of each
    worker process (0: none). Raises ValueError for malformed input, ImportError if the workers
    cannot import ``checker``. ``progress(done, total)`` is called once per answer, skipped ones too.
    """
    if jobs < 1 or time_limit <= 0 or memory_mb < 0:
        raise ValueError("jobs must be >= 1, time_limit > 0 and memory_mb >= 0")
    if not CHECKER_NAME.fullmatch(checker):
        raise ValueError(f"checker must look like 'package.module:function', not {checker!r}")
    start, answers = time.monotonic(), load_submissions(submissions)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path, done = out / ".progress.jsonl", {}
    if log_path.exists() and not force:
        for line in log_path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                if set(FIELDS) <= rec.keys():
                    done[rec["student"], rec["question"], rec["hash"]] = rec
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # e.g. a line cut short by a kill
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
            rec |= {"counterexample": row.get("counterexample"), "hash": a.digest(spec)}
            results[a.student, a.question] = rec
            log.write(json.dumps(rec, allow_nan=False) + "\n")
            log.flush()
            count += 1
            if progress:
                progress(count, total)

        checked = []
        for a in todo:
            if len(a.answer) > MAX_ANSWER_CHARS:
                record(a, _invalid(f"answer is {len(a.answer)} characters long; the limit is {MAX_ANSWER_CHARS}"))
            else:
                checked.append(a)
        _run(spec, checked, checker, jobs, time_limit, memory_mb, record)

    rows = [{k: results[a.student, a.question].get(k) for k in (*FIELDS, "counterexample")} for a in answers]
    per_question = _per_question(rows)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow([";".join(r[k]) if k == "diagnosis" else ("" if r[k] is None else r[k]) for k in FIELDS])
    _write_atomically(out / "results.csv", table.getvalue())
    _write_atomically(out / "results.json", json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    _write_atomically(out / "index.html", _html(spec, rows, per_question))
    verdicts = Counter(r["verdict"] for r in rows)
    return {
        "total": total,
        "graded": total - skipped,
        "skipped": skipped,
        **{v: verdicts[v] for v in ("correct", "incorrect", "invalid")},
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
