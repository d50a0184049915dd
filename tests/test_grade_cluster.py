"""``grade --scheduler``: the same answers on a Dask cluster give the same rows as the local pool.

A LocalCluster in this process (threads, at most 2) stands in for a cluster: its workers run the
same per-answer loop as the local pool, each thread in a worker process of its own, so a hang, a
crash or a memory bomb costs one answer there too. The parent writes .progress.jsonl as results
arrive, so resuming works the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from test_grade import CHECKER, calls, n_calls, reports, write_csv

from symbackprop.cli import main
from symbackprop.verify import grade as grade_module
from symbackprop.verify.grade import grade

__all__ = ["calls"]  # a fixture, used by name

TIMING = ("seconds",)


@pytest.fixture(scope="module")
def cluster():
    """One worker with two threads, on the loopback address, for the whole module."""
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local.scheduler_address


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_cluster_gives_the_same_rows_as_the_local_pool(tmp_path: Path, calls: Path, cluster: str) -> None:
    answers = ["ok 1", "neg", "what", "boom", "hang", "crash", "ok 2", "unsure", "infinite", "segv", "oom", "ok 3"]
    src = write_csv(
        tmp_path / "subs.csv",
        [(f"s{i:02d}", "q1", a, "delta_6" if i % 2 else "") for i, a in enumerate(answers)],
        header=("student", "question", "answer", "target"),
    )
    local = grade("fc-3-2-2", src, tmp_path / "local", checker=CHECKER, time_limit=1)
    remote = grade("fc-3-2-2", src, tmp_path / "remote", checker=CHECKER, time_limit=1, scheduler=cluster)
    assert n_calls(calls) == 2 * len(answers)
    for key in ("total", "graded", "correct", "incorrect", "invalid", "undecided", "per_question"):
        assert remote[key] == local[key], key
    local_table, local_rows, _ = reports(tmp_path / "local")
    remote_table, remote_rows, _ = reports(tmp_path / "remote")
    assert without_timing(remote_rows) == without_timing(local_rows)
    assert without_timing(remote_table) == without_timing(local_table)
    by_answer = {answers[int(r["student"][1:])]: r for r in remote_rows}
    assert by_answer["hang"]["message"] == "timed out after 1 s"  # the time limit holds on the cluster
    assert by_answer["crash"]["message"] == "checker crashed: worker exited with status 1"
    assert by_answer["ok 2"]["target"] is None and by_answer["ok 3"]["target"] == "delta_6"
    assert grade_module._SANDBOXES == {}  # the cluster's worker processes are stopped at the end


def test_cluster_run_resumes_from_the_progress_file(tmp_path: Path, calls: Path, cluster: str) -> None:
    rows = [(f"s{i}", q, f"ok {i} {q}") for i in range(4) for q in ("q1", "q2")]
    src = write_csv(tmp_path / "subs.csv", rows)
    out = tmp_path / "out"
    first = grade("fc-3-2-2", src, out, checker=CHECKER, scheduler=cluster)
    assert (first["graded"], first["skipped"], n_calls(calls)) == (8, 0, 8)
    assert len((out / ".progress.jsonl").read_text().splitlines()) == 8
    before = reports(out)

    progress = (out / ".progress.jsonl").read_text().splitlines(keepends=True)
    (out / ".progress.jsonl").write_text("".join(progress[:5]) + progress[5][:20])  # killed while writing
    second = grade("fc-3-2-2", src, out, checker=CHECKER, scheduler=cluster)
    assert (second["graded"], second["skipped"], n_calls(calls)) == (3, 5, 11)
    assert without_timing(reports(out)[1]) == without_timing(before[1])

    rows[2] = ("s1", "q1", "neg now")  # a changed answer is graded again, the rest skipped
    third = grade("fc-3-2-2", write_csv(src, rows), out, checker=CHECKER, scheduler=cluster)
    assert (third["graded"], third["skipped"], third["incorrect"], n_calls(calls)) == (1, 7, 1, 12)
    local = grade("fc-3-2-2", src, out, checker=CHECKER)  # and the local pool takes it up as well
    assert (local["graded"], local["skipped"]) == (0, 8)


def slow_task(*args):
    time.sleep(3)
    return {"verdict": "correct", "diagnosis": [], "message": "too late", "decided_by": "", "seconds": 3}


def test_an_answer_the_cluster_does_not_return_is_not_recorded(tmp_path: Path, calls: Path, cluster, monkeypatch):
    """The client's own bound: shown as not graded, kept out of .progress.jsonl, checked on the next run."""
    bounds = {"START_SECONDS": 0.0, "CLUSTER_GRACE": 0.0, "GRACE": 0.5, "_cluster_check": slow_task}
    saved = {name: getattr(grade_module, name) for name in bounds}
    for name, value in bounds.items():
        monkeypatch.setattr(grade_module, name, value)
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "ok a"), ("b", "q1", "ok b")])
    out = tmp_path / "out"
    start = time.monotonic()
    summary = grade("fc-3-2-2", src, out, checker=CHECKER, time_limit=0.5, scheduler=cluster)
    assert time.monotonic() - start < 2.9 and summary["invalid"] == 2
    messages = [r["message"] for r in reports(out)[1]]
    assert messages == ["not graded: the cluster did not return it within 1 s; run grade again to check it"] * 2
    assert (out / ".progress.jsonl").read_text() == ""

    for name, value in saved.items():
        monkeypatch.setattr(grade_module, name, value)
    again = grade("fc-3-2-2", src, out, checker=CHECKER, scheduler=cluster)
    assert (again["graded"], again["skipped"], again["correct"], n_calls(calls)) == (2, 0, 2, 2)


def test_checker_that_cannot_load_stops_the_batch(tmp_path: Path, cluster: str) -> None:
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "x")])
    with pytest.raises(ImportError, match="cannot load checker 'no_such_module_here:verify'"):
        grade("fc-3-2-2", src, tmp_path / "out", checker="no_such_module_here:verify", scheduler=cluster)


def test_cli_grades_on_the_cluster(tmp_path: Path, cluster: str) -> None:
    src = write_csv(
        tmp_path / "subs.csv",
        [
            ("ada", "q1", r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)"),
            ("bob", "q1", r"\delta_6 = (t_6 - y_6) y_6 (1 - y_6)"),
        ],
    )
    proc = subprocess.run(
        [sys.executable, "-m", "symbackprop", "grade", "fc-3-2-2", str(src), "-o", "report", "--scheduler", cluster],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 correct, 1 incorrect, 0 invalid, 0 undecided" in proc.stdout
    assert {r["student"]: r["verdict"] for r in reports(tmp_path / "report")[1]} == {
        "ada": "correct",
        "bob": "incorrect",
    }


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("tcp://127.0.0.1:1", "cannot connect"),
        ("127.0.0.1", "expected tcp://HOST:PORT"),
        ("tcp://127.0.0.1:99999", "expected tcp://HOST:PORT"),
        ("tcp://:8786", "expected tcp://HOST:PORT"),
        ("bogus://127.0.0.1:8786", "unknown address scheme"),
    ],
)
def test_bad_scheduler_address_is_one_line(address, problem, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(grade_module, "CONNECT_SECONDS", 1.0)
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "x")])
    out = tmp_path / "report"
    assert main(["grade", "fc-3-2-2", str(src), "-o", str(out), "--scheduler", address]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert lines[0].startswith("symbackprop: error: scheduler ") and address in lines[0] and problem in lines[0]
    assert not out.exists()


def test_bad_scheduler_through_a_process(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "x")])
    proc = subprocess.run(
        [sys.executable, "-m", "symbackprop", "grade", "fc-3-2-2", str(src), "--scheduler", "tcp://127.0.0.1:1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "cannot connect" in proc.stderr, proc.stderr
    assert not (tmp_path / "report").exists()
