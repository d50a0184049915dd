"""How derivation cost grows with the network: prints times and time per connection.

Usage: python benchmarks/derive_scaling.py

For each network it times (best of 3):
  layer   - derive(): the layer (matrix) equations, plus to_numpy() (what `derive` writes);
  unit    - the per-unit equations (every delta and gradient), built on request.
The per-connection columns should stay roughly flat if the cost is linear in connections.
Finally it times the command `symbackprop derive` on a 784-128-64-10 softmax network.
"""

from __future__ import annotations

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


def measure(sizes) -> tuple[float, float]:
    net = LayeredNetwork("bench", tuple(sizes), ("sigmoid",) * (len(sizes) - 1), "squared_error")
    layer = best_of(lambda: derive(net).to_numpy())

    def units():
        d = derive(net)
        d.deltas, d.gradients

    return layer, best_of(units)


def table(title: str, cases) -> None:
    print(f"\n{title}")
    print(f"{'sizes':<28} {'connections':>11} {'layer s':>9} {'unit s':>9} {'unit us/connection':>19}")
    for sizes in cases:
        layer, unit = measure(sizes)
        n = connections(sizes)
        print(f"{str(list(sizes)):<28} {n:>11} {layer:>9.4f} {unit:>9.4f} {1e6 * unit / n:>19.1f}")


def main() -> None:
    table("depth (weight layers) 2, 4, 8, 16 at width 8", [[8] * (d + 1) for d in (2, 4, 8, 16)])
    table("width 8, 16, 32 at depth 3", [[w] * 4 for w in (8, 16, 32)])
    spec = '[mlp]\nsizes = [784, 128, 64, 10]\nactivations = ["relu", "relu", "softmax"]\nloss = "cross_entropy"\n'
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/mnist.toml"
        with open(path, "w") as handle:
            handle.write(spec)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "symbackprop", "derive", path, "-o", f"{tmp}/out"], check=True, capture_output=True
        )
        print(
            f"\nsymbackprop derive 784-128-64-10 softmax + cross-entropy: {time.perf_counter() - start:.2f} s (whole command)"
        )


if __name__ == "__main__":
    main()
