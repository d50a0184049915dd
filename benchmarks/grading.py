"""How fast a class is graded with the real checker, and how much memory grading takes.

Usage: python benchmarks/grading.py [--answers N] [--jobs J] [--seed S] [--distinct]
                                     (defaults: 1000 answers, 2 jobs, seed 0)

Builds a class of N answers, half on "fc-3-2-2" and half on "ufldl-3-3-1", from the students'
answers of tests/data/verify_corpus.toml: right ones, wrong ones (each one typical mistake) and
unreadable ones (a corpus answer with a dangling operator or an unknown node), drawn at random,
with the corpus's target where it gives one. Identical answers are checked once (grade.py), and
a class drawn from the corpus has about 110 different answers per spec; --distinct makes every
answer's text different (LaTeX spacing commands appended, which the checker ignores), so that
every answer is checked, as in a class where no two students write alike. Each half is a CSV graded by
symbackprop.verify.grade.grade(..., jobs=J) as ``symbackprop grade`` runs it (the parent has
imported the spec loader, not the checker, when the workers start). It prints

* answers per second and total seconds, per spec and together;
* the checker's own time per answer in the workers (median), and the wall time per answer per
  worker, whose difference is the grader's overhead (worker start-up, pipes, reports);
* the resident memory (RSS) of the parent and of each worker at 10%, 50% and 100% of each class,
  and the peak RSS (the kernel's high-water mark) of both: flat over --answers 10000 means no
  per-answer growth;
* the median in-process latency of verify_answer, called directly after a warm-up pass.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from symbackprop.core.spec import load_spec
from symbackprop.verify.grade import grade

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "verify_corpus.toml"
SPECS = ("fc-3-2-2", "ufldl-3-3-1")
SHARES = {"correct": 0.55, "incorrect": 0.35, "invalid": 0.10}
QUESTIONS = 10


def pools(spec: str) -> dict[str, list[tuple[str, str]]]:
    """verdict -> [(answer, target)] from the corpus, unreadable variants of right answers added."""
    cases = [c for c in tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"] if c["spec"] == spec]
    found: dict[str, list[tuple[str, str]]] = {v: [] for v in SHARES}
    for c in cases:
        found[c["verdict"]].append((c["answer"], c.get("target", "")))
    for answer, target in found["correct"][::3]:  # a dangling operator: the parser must refuse it
        found["invalid"].append((answer + " +", target))
    return found


SPACES = (r"\,", r"\;", r"\!", r"\quad")


def spacing(i: int) -> str:
    """Different spacing commands for every i (a base-4 numeral of them), read by the checker as nothing."""
    digits = []
    while True:
        i, d = divmod(i, len(SPACES))
        digits.append(SPACES[d])
        if not i:
            return " " + " ".join(digits)


def write_class(path: Path, spec: str, n: int, rng: random.Random, distinct: bool = False) -> None:
    found = pools(spec)
    verdicts, weights = list(SHARES), list(SHARES.values())
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "question", "answer", "target"])
        for i in range(n):
            answer, target = rng.choice(found[rng.choices(verdicts, weights)[0]])
            if distinct:
                answer += spacing(i)
            writer.writerow([f"s{i // QUESTIONS:05d}", f"q{i % QUESTIONS + 1}", answer, target])


# ---------------------------------------------------------------- memory (Linux /proc)


def _status(pid: int | str, field: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM); 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children() -> list[int]:
    """Pids of this process's children (the grading workers)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.append(int(entry))
    return found


class Memory:
    """RSS samples at 10%, 50% and 100% of a class, and the workers' highest peak seen."""

    def __init__(self) -> None:
        self.samples: list[str] = []
        self.worker_peak_kb = 0

    def progress(self, done: int, total: int) -> None:
        marks = {max(1, total // 10): "10%", max(1, total // 2): "50%", total: "100%"}
        if done not in marks:
            return
        workers = {pid: _status(pid, "VmRSS") for pid in children()}
        self.worker_peak_kb = max([self.worker_peak_kb, *(_status(pid, "VmHWM") for pid in workers)])
        rss = ", ".join(f"{kb / 1024:.0f}" for kb in workers.values()) or "-"
        self.samples.append(
            f"  {marks[done]:>4} ({done:>6}/{total}): parent {_status('self', 'VmRSS') / 1024:6.1f} MB RSS, "
            f"workers {rss} MB RSS"
        )


# ---------------------------------------------------------------- timing


def grade_class(spec: str, n: int, jobs: int, rng: random.Random, tmp: Path, distinct: bool) -> dict:
    src = tmp / f"{spec}.csv"
    write_class(src, spec, n, rng, distinct)
    memory = Memory()
    start = time.perf_counter()
    summary = grade(spec, src, tmp / f"report-{spec}", jobs=jobs, progress=memory.progress)
    seconds = time.perf_counter() - start
    log = (tmp / f"report-{spec}" / ".progress.jsonl").read_text(encoding="utf-8").splitlines()
    checked = {rec["hash"]: rec["seconds"] for rec in map(json.loads, log)}  # one check per different answer
    return {"summary": summary, "seconds": seconds, "memory": memory, "checker": list(checked.values())}


def latency(spec: str, rounds: int = 3) -> list[float]:
    """verify_answer's own time, in this process, for each corpus answer after a warm-up pass."""
    from symbackprop.verify.check import verify_answer

    answers = [a for pool in pools(spec).values() for a in pool]
    for answer, target in answers:
        verify_answer(spec, answer, target or None)
    times = []
    for _ in range(rounds):
        for answer, target in answers:
            start = time.perf_counter()
            verify_answer(spec, answer, target or None)
            times.append(time.perf_counter() - start)
    return times


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1000, help="answers in all, half per spec (default 1000)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distinct", action="store_true", help="make every answer's text different")
    args = parser.parse_args()
    for spec in SPECS:
        load_spec(spec)  # what `symbackprop grade` does before it starts the workers
    rng = random.Random(args.seed)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, spec in enumerate(SPECS):
            n = args.answers // len(SPECS) + (k < args.answers % len(SPECS))
            results[spec] = grade_class(spec, n, args.jobs, rng, Path(tmp), args.distinct)
    total = sum(r["summary"]["total"] for r in results.values())
    seconds = sum(r["seconds"] for r in results.values())
    print(f"{total} answers, jobs={args.jobs}: {seconds:.2f} s, {total / seconds:.1f} answers/s")
    for spec, r in results.items():
        s = r["summary"]
        counts = ", ".join(f"{s[v]} {v}" for v in ("correct", "incorrect", "invalid", "undecided"))
        different = len(r["checker"])
        print(
            f"{spec}: {s['total']} answers ({different} different) in {r['seconds']:.2f} s"
            f" ({s['total'] / r['seconds']:.1f}/s; {counts})"
        )
        print(
            f"  each different answer checked once: checker median {ms(statistics.median(r['checker']))},"
            f" mean {ms(statistics.fmean(r['checker']))} in the workers;"
            f" wall {ms(r['seconds'] * args.jobs / different)} per answer per worker"
        )
        print("\n".join(r["memory"].samples))
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    worker_peak = max(children_peak, max(r["memory"].worker_peak_kb for r in results.values()) / 1024)
    print(f"peak RSS: parent {parent_peak:.1f} MB, largest worker {worker_peak:.1f} MB")
    for spec in SPECS:
        times = latency(spec)
        print(
            f"in-process verify_answer on {spec} after warm-up: median {ms(statistics.median(times))},"
            f" 90th percentile {ms(statistics.quantiles(times, n=10)[-1])} ({len(times)} calls)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
