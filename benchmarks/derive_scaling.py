"""How derivation cost grows with the network: times, and the exponent of the growth.

Usage: python benchmarks/derive_scaling.py

For networks of growing width and growing depth (sigmoid units, squared error, weight decay) it
times, best of 3:

  tensor   derive(): the tensor (matrix) equations, plus to_numpy() (what `derive` writes);
  unit     the per-unit equations, every delta and gradient, built on request;
  latex    to_latex(): the document, with the tensor-vs-unit consistency check.

and fits time ~ connections^k over each series: k near 1 is linear in connections. Finally it
times to_latex of a depth-64 width-8 network and the command `symbackprop derive` on a
784-128-64-10 softmax network.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time

from symbackprop import LayeredNetwork, derive


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def connections(sizes) -> int:
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


def network(sizes) -> LayeredNetwork:
    return LayeredNetwork("bench", tuple(sizes), ("sigmoid",) * (len(sizes) - 1), "squared_error", weight_decay=0.01)


def measure(sizes) -> dict[str, float]:
    net = network(sizes)

    def units():
        d = derive(net)
        d.deltas, d.gradients

    return {
        "tensor": best_of(lambda: derive(net).to_numpy()),
        "unit": best_of(units),
        "latex": best_of(lambda: derive(net).to_latex(), repeat=1),
    }


def exponent(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def series(title: str, cases) -> None:
    print(f"\n{title}")
    print(f"{'sizes':<34} {'connections':>11} {'tensor s':>9} {'unit s':>9} {'latex s':>9}")
    rows = []
    for sizes in cases:
        t = measure(sizes)
        n = connections(sizes)
        rows.append((n, t))
        label = str(list(sizes)) if len(sizes) <= 6 else f"[{sizes[0]}] * {len(sizes)}"
        print(f"{label:<34} {n:>11} {t['tensor']:>9.3f} {t['unit']:>9.3f} {t['latex']:>9.3f}", flush=True)
    ns = [n for n, _ in rows]
    fits = {k: exponent(ns, [t[k] for _, t in rows]) for k in ("tensor", "unit", "latex")}
    print("exponent of time in connections: " + ", ".join(f"{k} {v:.2f}" for k, v in fits.items()))


def main() -> None:
    series("width 8, 16, 32, 64 at depth 3 (per-unit derivation with weight decay)", [[w] * 4 for w in (8, 16, 32, 64)])
    series("depth 4, 8, 16, 32, 64 at width 8", [[8] * (d + 1) for d in (4, 8, 16, 32, 64)])
    deep = network([8] * 65)
    print(f"\nto_latex of a depth-64 width-8 network: {best_of(lambda: derive(deep).to_latex()):.2f} s (best of 3)")
    spec = '[mlp]\nsizes = [784, 128, 64, 10]\nactivations = ["relu", "relu", "softmax"]\nloss = "cross_entropy"\n'
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/mnist.toml"
        with open(path, "w") as handle:
            handle.write(spec)
        start = time.perf_counter()
        command = [sys.executable, "-m", "symbackprop", "derive", path, "-o", f"{tmp}/out"]
        subprocess.run(command, check=True, capture_output=True)
        print(f"symbackprop derive 784-128-64-10 softmax + cross-entropy: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
