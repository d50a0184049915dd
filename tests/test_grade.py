"""Class grading (symbackprop.verify.grade) against a fake checker with misbehaving answers.

The fake checker decides by keywords in the answer; on a Dask cluster the same classes are graded
in tests/test_grade_cluster.py, and unreadable input in tests/test_bad_input.py."""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from pathlib import Path

import pytest

from symbackprop.cli import main
from symbackprop.verify import grade as grade_module
from symbackprop.verify.grade import FIELDS, MAX_ANSWER_CHARS, grade, json_safe, load_submissions, print_progress

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
    if "unsure" in answer:
        return Verdict("undecided", target, [], "cannot decide " + answer)
    if "infinite" in answer:
        values = {"y_6": float("inf"), "t_6": [1.0, float("-inf"), float("nan")], "deep": {"x": float("nan")}}
        return Verdict("incorrect", target, ["other"], "judged", {"values": values, "answer": float("inf")}, "numeric")
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
    assert rows[2]["counterexample"] == {"y_6": 0.5, "nan": None, "nan_text": "nan"}
    assert (
        "<td>q2</td><td>&mdash;</td><td>2</td><td>0.0%</td><td>1</td><td>1</td><td>0</td><td>sign &times;1</td>" in page
    )
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


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which are not JSON."""

    def refuse(constant: str):
        raise AssertionError(f"{constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


def student_folder(tmp_path: Path, files: dict[str, str], questions: str | None = None) -> Path:
    folder = tmp_path / "subs"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    if questions is not None:
        (folder / "questions.toml").write_text(questions, encoding="utf-8")
    return folder


def test_questions_toml_binds_questions_to_targets(tmp_path: Path, calls: Path) -> None:
    folder = student_folder(
        tmp_path,
        {"ann.txt": "q1: ok \\delta_6 = y_6\nq2: neg\nq3: ok no target\n", "ben.txt": "q1: neg\n"},
        'q1 = "delta_6"\nq2 = "dE/dw_64"  # the gradient\n',
    )
    answers = load_submissions(folder)
    assert [(a.student, a.question, a.target) for a in answers] == [
        ("ann", "q1", "delta_6"),
        ("ann", "q2", "dE/dw_64"),
        ("ann", "q3", None),
        ("ben", "q1", "delta_6"),
    ]  # questions.toml is no student's file
    out = tmp_path / "out"
    summary = run(folder, out)
    assert summary["total"] == 4 and n_calls(calls) == 4
    assert summary["per_question"]["q1"]["targets"] == ["delta_6"]
    table, rows, page = reports(out)
    assert_agree(table, rows)
    assert [r["target"] for r in rows] == ["delta_6", "dE/dw_64", None, "delta_6"]
    assert [t["target"] for t in table] == ["delta_6", "dE/dw_64", "", "delta_6"]
    assert "<td>q2</td><td>dE/dw_64</td>" in page and "title='target delta_6" in page

    # the target is part of what was graded: a new target grades those answers again
    (folder / "questions.toml").write_text('q1 = "delta_7"\nq2 = "dE/dw_64"\n', encoding="utf-8")
    again = run(folder, out)
    assert (again["graded"], again["skipped"], n_calls(calls)) == (2, 2, 6)
    assert [r["target"] for r in reports(out)[1]][::3] == ["delta_7", "delta_7"]


@pytest.mark.parametrize(
    ("questions", "match"),
    [
        ('q9 = "delta_6"\n', r"questions\.toml: q9: not a question any student answers \(questions: q1, q2\)"),
        ('Q1 = "delta_6"\n', r"questions\.toml: Q1: not a question"),
        ("q1 = 6\n", r"questions\.toml: q1: the target must be a non-empty string"),
        ('q1 = ["delta_6"]\n', r"questions\.toml: q1: the target must be"),
        ("[q1]\ntarget = 'delta_6'\n", r"questions\.toml: q1: the target must be"),
        ('q1 = "  "\n', r"questions\.toml: q1: the target must be a non-empty string"),
        (f'q1 = "{"x" * 201}"\n', r"questions\.toml: q1: the target is longer than 200"),
        ('q1 = "delta_6\n', r"questions\.toml: .*line 1"),
    ],
)
def test_questions_toml_errors_name_the_file_and_key(tmp_path: Path, questions: str, match: str) -> None:
    folder = student_folder(tmp_path, {"ann.txt": "q1: ok\nq2: ok\n"}, questions)
    with pytest.raises(ValueError, match=match):
        load_submissions(folder)


def test_undecided_is_counted_everywhere(tmp_path: Path, calls: Path) -> None:
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "ok"), ("b", "q1", "unsure"), ("c", "q1", "unsure too")])
    out = tmp_path / "out"
    summary = run(src, out)
    assert {v: summary[v] for v in ("correct", "incorrect", "invalid", "undecided")} == {
        "correct": 1,
        "incorrect": 0,
        "invalid": 0,
        "undecided": 2,
    }
    stats = summary["per_question"]["q1"]
    assert (stats["answers"], stats["correct"], stats["undecided"]) == (3, 1, 2)
    _, rows, page = reports(out)
    assert [r["verdict"] for r in rows] == ["correct", "undecided", "undecided"]
    assert "<th>undecided</th>" in page and "<td class='undecided'" in page and ".undecided{" in page
    assert "<td>3</td><td>33.3%</td><td>0</td><td>0</td><td>2</td>" in page


def test_cli_summary_line_counts_undecided(tmp_path: Path, calls: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(grade_module, "grade", functools.partial(grade_module.grade, checker=CHECKER))
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "ok"), ("b", "q1", "unsure"), ("c", "q1", "neg")])
    assert main(["grade", "fc-3-2-2", str(src), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "3 answers (3 graded now, 0 already graded): 1 correct, 1 incorrect, 0 invalid, 1 undecided" in out


def test_results_json_is_strict_json(tmp_path: Path, calls: Path) -> None:
    src = write_csv(tmp_path / "subs.csv", [("a", "q1", "infinite"), ("b", "q1", "ok")])
    out = tmp_path / "out"
    run(src, out)
    rows = strict_json((out / "results.json").read_text(encoding="utf-8"))
    example = rows[0]["counterexample"]
    assert example["answer"] is None and example["answer_text"] == "inf"
    assert example["values"]["y_6"] is None and example["values"]["y_6_text"] == "inf"
    assert example["values"]["t_6"] == [1.0, None, None]
    assert example["values"]["t_6_text"] == [None, "-inf", "nan"]
    assert example["values"]["deep"] == {"x": None, "x_text": "nan"}
    for line in (out / ".progress.jsonl").read_text(encoding="utf-8").splitlines():
        strict_json(line)
    again = run(src, out)  # the recorded rows are read back as they are
    assert again["skipped"] == 2 and strict_json((out / "results.json").read_text(encoding="utf-8")) == rows


class _Number:
    def __init__(self, value: float) -> None:
        self.value = value

    def __float__(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1.5, "b": math.inf}, {"a": 1.5, "b": None, "b_text": "inf"}),
        ({"a": -math.inf}, {"a": None, "a_text": "-inf"}),
        ({"a": math.nan, "a_text": "kept"}, {"a": None, "a_text": "kept"}),
        ({"a": [1, math.nan]}, {"a": [1, None], "a_text": [None, "nan"]}),
        ({"a": [[math.inf], 2.0]}, {"a": [[None], 2.0], "a_text": [["inf"], None]}),
        ({"a": {"b": math.inf}}, {"a": {"b": None, "b_text": "inf"}}),
        ({"a": (1, 2)}, {"a": [1, 2]}),
        ({3: True, "n": None, "s": "nan"}, {"3": True, "n": None, "s": "nan"}),
        ({"np": _Number(math.inf), "f": _Number(0.25)}, {"np": None, "np_text": "inf", "f": 0.25}),
        ({"o": object}, {"o": str(object)}),
        ([math.nan], [None]),
    ],
)
def test_json_safe(value, expected) -> None:
    safe = json_safe(value)
    assert safe == expected
    json.dumps(safe, allow_nan=False)


def test_grade_help_documents_both_formats(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    text = capsys.readouterr().out
    for needle in ("questions.toml", 'q1 = "delta_6"', "q2: \\frac{\\partial E}", "student,question,answer", "target"):
        assert needle in text, needle
    assert "--scheduler tcp://HOST:PORT" in text and "undecided" not in text.split("submissions:")[0]


def test_identical_answers_are_checked_once_and_share_the_verdict(tmp_path: Path, calls: Path) -> None:
    rows = [(f"s{i}", "q1", "ok same") for i in range(5)] + [(f"s{i}", "q2", "neg same") for i in range(5)]
    rows += [("s0", "q3", "ok same", "delta_6"), ("s1", "q3", "ok  same")]  # another target, other text
    src = write_csv(
        tmp_path / "subs.csv", [(*r, "")[:4] for r in rows], header=("student", "question", "answer", "target")
    )
    seen: list[int] = []
    summary = run(src, tmp_path / "out", progress=lambda done, total: seen.append(done))
    assert n_calls(calls) == 4 and seen == list(range(1, 13))
    assert (summary["total"], summary["graded"], summary["correct"], summary["incorrect"]) == (12, 12, 7, 5)
    table, results, _ = reports(tmp_path / "out")
    assert_agree(table, results)
    q2 = [r for r in results if r["question"] == "q2"]
    assert len(q2) == 5 and all(r == {**q2[0], "student": r["student"]} for r in q2)
    assert len((tmp_path / "out" / ".progress.jsonl").read_text().splitlines()) == 12


def test_questions_toml_with_the_real_checker(tmp_path: Path) -> None:
    folder = student_folder(
        tmp_path,
        {
            "ada.txt": "q1: \\delta_6 = (y_6 - t_6) y_6 (1 - y_6)\nq2: \\delta_6 y_4\n",
            "bob.txt": "q1: \\delta_7 = (y_7 - t_7) y_7 (1 - y_7)\nq2: \\delta_4 y_6\n",
        },
        'q1 = "delta_6"\nq2 = "dE/dw_64"\n',
    )
    out = tmp_path / "out"
    summary = grade("fc-3-2-2", folder, out, jobs=1)
    assert (summary["correct"], summary["incorrect"]) == (2, 2)
    rows = {(r["student"], r["question"]): r for r in reports(out)[1]}
    assert rows["ada", "q2"]["verdict"] == "correct" and rows["ada", "q2"]["target"] == "dE/dw_64"
    assert rows["bob", "q1"]["diagnosis"] == ["wrong_target"] and rows["bob", "q1"]["target"] == "delta_6"
