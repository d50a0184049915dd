"""Class grading (symbackprop.verify.grade) against a fake checker with misbehaving answers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from symbackprop.verify.grade import FIELDS, MAX_ANSWER_CHARS, grade, load_submissions, print_progress

FAKE_CHECKER = """
import os, signal, time
from symbackprop.verify.verdict import Verdict

def verify(spec, answer, target=None):
    log = os.environ.get("FAKE_CHECKER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(repr(answer[:40]) + "\\n")
    if "stubborn" in answer:  # ignores the worker's own alarm: only the parent can stop it
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(60)
    if "hang" in answer:
        time.sleep(60)
    if "crash" in answer:
        os._exit(1)
    if "segv" in answer:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "boom" in answer:  # before "oom", which it contains
        raise ValueError("boom went the checker")
    if "oom" in answer:
        block = bytearray(2 * 1024**3)
        return Verdict("correct", message=str(len(block)))
    if "ok" in answer:
        return Verdict("correct", target, [], "judged " + answer, decided_by="symbolic")
    if "neg" in answer:
        return Verdict("incorrect", target, ["sign"], "judged " + answer, {"y_6": 0.5, "nan": float("nan")}, "numeric")
    return Verdict("invalid", target, [], "cannot read " + answer)
"""
CHECKER = "fake_checker:verify"


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the fake checker; the returned file gets one line per checker call."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "fake_checker.py").write_text(FAKE_CHECKER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(lib))
    log = tmp_path / "calls.log"
    log.touch()
    monkeypatch.setenv("FAKE_CHECKER_LOG", str(log))
    return log


def n_calls(log: Path) -> int:
    return len(log.read_text(encoding="utf-8").splitlines())


def write_csv(path: Path, rows: list[tuple], header=("student", "question", "answer")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(spec_input: Path, out: Path, **kw) -> dict:
    kw.setdefault("checker", CHECKER)
    return grade("fc-3-2-2", spec_input, out, **kw)


def reports(out: Path) -> tuple[list[dict], list[dict], str]:
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    return table, json.loads((out / "results.json").read_text(encoding="utf-8")), (out / "index.html").read_text()


def assert_agree(table: list[dict], rows: list[dict]) -> None:
    assert [list(r) for r in table] == [list(FIELDS)] * len(table)
    assert len(table) == len(rows)
    for t, j in zip(table, rows):
        assert set(j) == set(FIELDS) | {"counterexample"}
        assert t["diagnosis"] == ";".join(j["diagnosis"])
        assert float(t["seconds"]) == pytest.approx(j["seconds"])
        for k in ("student", "question", "verdict", "message", "decided_by"):
            assert t[k] == j[k]
        assert t["target"] == (j["target"] or "")


def test_folder_input(tmp_path: Path, calls: Path) -> None:
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "bob.txt").write_text("# Bob's answers\n\nq10: ok later\nq2: \\delta_6 = neg (y_6 - t_6)\n")
    (folder / "alice.txt").write_text("q1: ok \\delta_6 = (y_6 - t_6) y_6 (1 - y_6)\nq2: what: is this\n")
    (folder / ".hidden").write_text("not a student")
    out = tmp_path / "out"
    summary = run(folder, out)
    assert (summary["total"], summary["graded"], summary["skipped"]) == (4, 4, 0)
    assert (summary["correct"], summary["incorrect"], summary["invalid"]) == (2, 1, 1)
    assert summary["per_question"]["q2"]["diagnoses"] == {"sign": 1}
    assert summary["per_question"]["q2"]["percent_correct"] == 0.0
    table, rows, page = reports(out)
    assert_agree(table, rows)
    assert [(r["student"], r["question"]) for r in rows] == [
        ("alice", "q1"),
        ("alice", "q2"),
        ("bob", "q2"),
        ("bob", "q10"),
    ]
    assert rows[1]["message"] == "cannot read what: is this"  # split at the first colon only
    assert rows[2]["counterexample"] == {"y_6": 0.5, "nan": "nan"}
    assert "<td>q2</td><td>2</td><td>0.0%</td><td>1</td><td>1</td><td>sign &times;1</td>" in page
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_csv_input_with_commas_quotes_target_and_html_escaping(tmp_path: Path, calls: Path) -> None:
    tricky = 'ok \\frac{a, b}{"c"}, d'
    src = write_csv(
        tmp_path / "subs.csv",
        [
            ("carol", "q1", tricky, "delta_6"),
            ("<script>alert(1)</script>", "q1", "<script>ok</script>", ""),
            ("dave", "q1", 'neg "quoted", with comma', "w_64"),
        ],
        header=("student", "question", "answer", "target"),
    )
    out = tmp_path / "out"
    summary = run(src, out)
    assert (summary["correct"], summary["incorrect"]) == (2, 1)
    table, rows, page = reports(out)
    assert_agree(table, rows)
    by_student = {r["student"]: r for r in rows}
    assert by_student["carol"]["message"] == "judged " + tricky
    assert by_student["carol"]["target"] == "delta_6"
    assert by_student["dave"]["target"] == "w_64" and by_student["dave"]["diagnosis"] == ["sign"]
    assert by_student["<script>alert(1)</script>"]["target"] is None
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_timeout_crash_oom_and_errors_never_stop_the_batch(tmp_path: Path, calls: Path) -> None:
    answers = ["hang", "ok 1", "crash", "ok 2", "oom", "boom", "stubborn", "segv", "ok 3", "ok 4", "neg"]
    src = write_csv(tmp_path / "subs.csv", [(f"s{i:02d}", "q1", a) for i, a in enumerate(answers)])
    summary = run(src, tmp_path / "out", time_limit=1, jobs=2, memory_mb=512)
    rows = {r["student"]: r for r in reports(tmp_path / "out")[1]}
    message = {answers[int(s[1:])]: r["message"] for s, r in rows.items()}
    assert message["hang"] == "timed out after 1 s"
    assert message["stubborn"] == "timed out after 1 s"  # killed by the parent
    assert message["crash"] == "checker crashed: worker exited with status 1"
    assert message["segv"] == "checker crashed: killed by signal SIGSEGV"
    assert message["oom"] == "checker crashed: MemoryError"
    assert message["boom"] == "checker crashed: ValueError: boom went the checker"
    assert (summary["correct"], summary["incorrect"], summary["invalid"]) == (4, 1, 6)
    assert all(r["verdict"] == "correct" for a, r in zip(answers, rows.values()) if a.startswith("ok"))


def test_resume_skips_recorded_answers_and_force_regrades(tmp_path: Path, calls: Path) -> None:
    rows = [(f"s{i}", q, f"ok {i} {q}") for i in range(5) for q in ("q1", "q2")]
    src = write_csv(tmp_path / "subs.csv", rows)
    out = tmp_path / "out"
    first = run(src, out)
    assert (first["graded"], first["skipped"], n_calls(calls)) == (10, 0, 10)
    before = reports(out)

    with open(out / ".progress.jsonl", "a", encoding="utf-8") as f:
        f.write('{"student": "s0", "quest')  # a line cut short by a kill
    second = run(src, out)
    assert (second["total"], second["graded"], second["skipped"], second["correct"]) == (10, 0, 10, 10)
    assert n_calls(calls) == 10
    assert reports(out) == before

    rows[3] = ("s1", "q2", "neg now")  # a changed answer is graded again
    third = run(write_csv(src, rows), out)
    assert (third["graded"], third["skipped"], third["incorrect"], n_calls(calls)) == (1, 9, 1, 11)

    forced = run(src, out, force=True)
    assert (forced["graded"], forced["skipped"], n_calls(calls)) == (10, 0, 21)
    assert len((out / ".progress.jsonl").read_text().splitlines()) == 10


def test_overlong_answer_is_invalid_without_calling_the_checker(tmp_path: Path, calls: Path) -> None:
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "ok " + "x" * MAX_ANSWER_CHARS), ("b", "q1", "ok")])
    summary = run(src, tmp_path / "out")
    rows = reports(tmp_path / "out")[1]
    assert rows[0]["verdict"] == "invalid" and f"the limit is {MAX_ANSWER_CHARS}" in rows[0]["message"]
    assert rows[1]["verdict"] == "correct"
    assert n_calls(calls) == 1 and summary["invalid"] == 1


def test_progress_called_once_per_answer(tmp_path: Path, calls: Path) -> None:
    src = write_csv(tmp_path / "subs.csv", [(f"s{i}", "q1", "ok") for i in range(7)])
    seen: list[tuple[int, int]] = []
    run(src, tmp_path / "out", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 7) for i in range(1, 8)]
    seen.clear()
    run(src, tmp_path / "out", progress=lambda d, t: seen.append((d, t)))  # all skipped: still reported
    assert seen == [(i, 7) for i in range(1, 8)]


def test_print_progress_without_a_terminal() -> None:
    stream = io.StringIO()
    for done in range(1, 101):
        print_progress(done, 100, stream)
    assert stream.getvalue().splitlines() == [f"graded {n}/100" for n in range(10, 101, 10)]


def test_bad_input_is_reported_before_grading(tmp_path: Path, calls: Path) -> None:
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "erin.txt").write_text("q1: ok\nthis line has no question\n")
    with pytest.raises(ValueError, match=r"erin\.txt:2: expected 'question: answer'"):
        load_submissions(folder)
    with pytest.raises(ValueError, match="lacks column"):
        load_submissions(write_csv(tmp_path / "a.csv", [("x", "y")], header=("student", "question")))
    (tmp_path / "latin1.csv").write_bytes("student,question,answer\nj\xf6rg,q1,ok\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_submissions(tmp_path / "latin1.csv")
    src = write_csv(tmp_path / "ok.csv", [("x", "q1", "ok")])
    with pytest.raises(ValueError, match="checker must look like"):
        grade("fc-3-2-2", src, tmp_path / "out", checker="not a checker")
    with pytest.raises(ImportError, match="cannot load checker"):
        grade("fc-3-2-2", src, tmp_path / "out", checker="no_such_module_here:verify")


def test_csv_answers_may_span_lines(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "subs.csv", [("x", "q1", 'line one,\nline "two"')])
    assert [a.answer for a in load_submissions(src)] == ['line one,\nline "two"']


def test_questions_in_natural_order(tmp_path: Path, calls: Path) -> None:
    src = write_csv(tmp_path / "subs.csv", [("a", "q10", "ok"), ("a", "q2", "neg"), ("b", "q1", "ok")])
    summary = run(src, tmp_path / "out")
    assert list(summary["per_question"]) == ["q1", "q2", "q10"]
    page = reports(tmp_path / "out")[2]
    assert page.index("<th>q1</th>") < page.index("<th>q2</th>") < page.index("<th>q10</th>")
