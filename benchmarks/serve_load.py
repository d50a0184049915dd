"""Load on ``symbackprop serve``: simulated students checking answers, p50/p95 latency.

    python benchmarks/serve_load.py                       # 50 students x 10 answers, fc-3-2-2
    python benchmarks/serve_load.py --distinct --jobs 2   # every answer's text differs (no cache hit)

Starts ``symbackprop serve SPEC --port 0`` on 127.0.0.1 in its own process (so the load
generator does not share its interpreter), then runs one thread per student. A student sends
``--answers`` answers to ``POST /api/verify``, each after a pause drawn uniformly from
``--think`` seconds (the pause that makes the page send the text; a student thinks between two
equations, so 1-4 s by default), starting at a random moment of the first pause. The answers
are drawn from the fc-3-2-2 cases of tests/data/verify_corpus.toml (right, wrong and unreadable
ones alike), with their targets. ``--distinct`` appends a different number of spaces to each,
which changes the text, not the maths: every request is then checked by a worker instead of
coming from the server's cache of identical requests.

Prints the latency of every request (p50, p95, p99, max), the throughput and the verdicts. No
test asserts these numbers; the README quotes a run.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def corpus(spec: str) -> list[tuple[str, str | None]]:
    cases = tomllib.loads((ROOT / "tests" / "data" / "verify_corpus.toml").read_text(encoding="utf-8"))["case"]
    return [(c["answer"], c.get("target")) for c in cases if c["spec"] == spec]


def start_server(spec: str, jobs: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "symbackprop", "serve", spec, "--port", "0", "--jobs", str(jobs)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    url = f"http://127.0.0.1:{found.group(1)}"
    for _ in range(600):  # until the workers answer
        try:
            post(url, {"spec": spec, "answer": r"\delta_6 = 0"})
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server does not answer")


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + "/api/verify", json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def student(url, spec, answers, think, rng, distinct, latencies, verdicts, lock, number):
    time.sleep(rng.uniform(0, think[1]))
    for k, (answer, target) in enumerate(answers):
        text = answer + " " * (number * len(answers) + k + 1) if distinct else answer
        body = {"spec": spec, "answer": text, **({"target": target} if target else {})}
        start = time.perf_counter()
        try:
            verdict = post(url, body).get("verdict", "?")
        except OSError as err:
            verdict = f"error {type(err).__name__}"
        elapsed = time.perf_counter() - start
        with lock:
            latencies.append(elapsed)
            verdicts[verdict] += 1
        time.sleep(rng.uniform(*think))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", default="fc-3-2-2")
    p.add_argument("--students", type=int, default=50)
    p.add_argument("--answers", type=int, default=10)
    p.add_argument("--think", type=float, nargs=2, default=(1.0, 4.0), metavar=("MIN", "MAX"))
    p.add_argument("--jobs", type=int, default=2, help="the server's checker processes")
    p.add_argument("--distinct", action="store_true", help="every answer's text differs: no cache hits")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    pool = corpus(args.spec)
    rng = random.Random(args.seed)
    proc, url = start_server(args.spec, args.jobs)
    latencies: list[float] = []
    verdicts: Counter = Counter()
    lock = threading.Lock()
    try:
        threads = [
            threading.Thread(
                target=student,
                args=(url, args.spec, [rng.choice(pool) for _ in range(args.answers)], args.think),
                kwargs={
                    "rng": random.Random(rng.random()),
                    "distinct": args.distinct,
                    "latencies": latencies,
                    "verdicts": verdicts,
                    "lock": lock,
                    "number": n,
                },
            )
            for n in range(args.students)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(30)
    ms = [1000 * x for x in latencies]
    print(
        f"{args.students} students x {args.answers} answers on {args.spec} ({args.jobs} checker processes, "
        f"think {args.think[0]:g}-{args.think[1]:g} s{', every text distinct' if args.distinct else ''}): "
        f"{len(ms)} requests in {wall:.1f} s ({len(ms) / wall:.1f}/s)"
    )
    print(
        f"latency ms: p50 {percentile(ms, 50):.0f}, p95 {percentile(ms, 95):.0f}, p99 {percentile(ms, 99):.0f}, "
        f"max {max(ms):.0f}, mean {statistics.mean(ms):.0f}"
    )
    print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))


if __name__ == "__main__":
    main()
