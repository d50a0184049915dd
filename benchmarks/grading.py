"""How fast a class is graded with the real checker: prints seconds, answers per second, verdicts.

Usage: python benchmarks/grading.py [N] [--jobs J]      (defaults: N=1000, J=2)

Writes N answers (about N/10 students, ten questions on the built-in spec "fc-3-2-2", a mix of
right answers and typical mistakes: wrong sign, missing activation derivative, missing term,
transposed index, constant factor, unparsable text) as a CSV into a temporary folder, then runs
symbackprop.verify.grade.grade(..., jobs=J) with symbackprop.verify.check:verify_answer.
Exits with status 2 if that checker cannot be imported yet.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import random
import sys
import tempfile
import time
from pathlib import Path

from symbackprop.verify.grade import grade, print_progress

CHECKER = "symbackprop.verify.check:verify_answer"
SPEC = "fc-3-2-2"

# question -> (right answer, wrong variants); node notation: inputs x_1..x_3, hidden 4-5, outputs 6-7.
QUESTIONS: dict[str, tuple[str, list[str]]] = {
    "q1": (
        r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)",
        [r"\delta_6 = (t_6 - y_6) y_6 (1 - y_6)", r"\delta_6 = y_6 - t_6", r"\delta_6 = 2 (y_6 - t_6) y_6 (1 - y_6)"],
    ),
    "q2": (
        r"\delta_7 = (y_7 - t_7) y_7 (1 - y_7)",
        [r"\delta_7 = (t_7 - y_7) y_7 (1 - y_7)", r"\delta_7 = (y_7 - t_7) y_7"],
    ),
    "q3": (
        r"\frac{\partial E}{\partial w_{64}} = \delta_6 y_4",
        [r"\frac{\partial E}{\partial w_{64}} = -\delta_6 y_4", r"\frac{\partial E}{\partial w_{64}} = \delta_4 y_6"],
    ),
    "q4": (
        r"\delta_4 = (\delta_6 w_{64} + \delta_7 w_{74}) y_4 (1 - y_4)",
        [
            r"\delta_4 = \delta_6 w_{64} y_4 (1 - y_4)",
            r"\delta_4 = (\delta_6 w_{46} + \delta_7 w_{47}) y_4 (1 - y_4)",
            r"\delta_4 = \delta_6 w_{64} + \delta_7 w_{74}",
        ],
    ),
    "q5": (
        r"\delta_5 = (\delta_6 w_{65} + \delta_7 w_{75}) y_5 (1 - y_5)",
        [r"\delta_5 = (\delta_6 w_{65} + \delta_7 w_{75}) y_5", r"\delta_5 = \delta_7 w_{75} y_5 (1 - y_5)"],
    ),
    "q6": (
        r"\frac{\partial E}{\partial w_{74}} = \delta_7 y_4",
        [r"\frac{\partial E}{\partial w_{74}} = \delta_7 y_7"],
    ),
    "q7": (
        r"\frac{\partial E}{\partial w_{41}} = \delta_4 x_1",
        [r"\frac{\partial E}{\partial w_{41}} = \delta_1 x_4"],
    ),
    "q8": (
        r"\frac{\partial E}{\partial w_{65}} = \delta_6 y_5",
        [r"\frac{\partial E}{\partial w_{65}} = \delta_6 y_6"],
    ),
    "q9": (r"\frac{\partial E}{\partial b_6} = \delta_6", [r"\frac{\partial E}{\partial b_6} = -\delta_6"]),
    "q10": (
        r"\frac{\partial E}{\partial w_{52}} = \delta_5 x_2",
        [r"\frac{\partial E}{\partial w_{52}} = \delta_5 (x_2"],
    ),
}


def write_submissions(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    questions = list(QUESTIONS)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "question", "answer"])
        for i in range(n):
            question = questions[i % len(questions)]
            right, wrong = QUESTIONS[question]
            writer.writerow(
                [f"student{i // len(questions):03d}", question, right if rng.random() < 0.6 else rng.choice(wrong)]
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    try:
        module, _, name = CHECKER.partition(":")
        getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        print(f"grading benchmark: the real checker {CHECKER} is not importable yet ({err})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "submissions.csv"
        write_submissions(src, args.n)
        start = time.perf_counter()
        summary = grade(SPEC, src, Path(tmp) / "report", jobs=args.jobs, checker=CHECKER, progress=print_progress)
        seconds = time.perf_counter() - start
    print(f"{summary['total']} answers, jobs={args.jobs}: {seconds:.2f} s, {summary['total'] / seconds:.1f} answers/s")
    print(f"correct {summary['correct']}, incorrect {summary['incorrect']}, invalid {summary['invalid']}")
    for q, stats in summary["per_question"].items():
        codes = ", ".join(f"{c} x{n}" for c, n in stats["diagnoses"].items()) or "-"
        print(f"  {q:4} {stats['answers']:5} answers  {stats['percent_correct']:5.1f}% correct  {codes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
