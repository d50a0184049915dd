"""Paths and modes of a scalar computational graph, evaluated at the spec's example.

What the documents of a graph teach beside the equations (colah's "Calculus on Computational
Graphs", CS231n's "Backpropagation"), all computed from the derivation's local gradients
(``GraphDerivation.partials``, SymPy expressions of stored values) at the example:

* *Paths.* d(output)/d(leaf) is the sum, over every path from the leaf to the output, of the
  product of the local gradients on the path's edges (colah: de/db = 1*2 + 1*3 = 5).
* *Shared sub-paths.* Reverse accumulation computes d(output)/d(node) once for each node and
  every path through the node reuses it: the same sum, factored.
* *Branches.* A variable that feeds several nodes collects one contribution from each (the
  ``+=`` of CS231n's staged code).
* *Modes.* Forward mode carries d(node)/d(leaf) for one leaf through the whole graph (one pass
  per input); reverse mode carries d(output)/d(node) for one output (one pass per output).
* *Gate patterns.* Add gates distribute the gradient, multiply gates swap their inputs' values,
  max gates route the gradient to the larger input.

Nothing here is symbolic beyond the local gradients: the tables are numbers, in float64.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import sympy
from sympy import Symbol

from symbackprop.analysis.numeric import evaluate_numpy
from symbackprop.calculus.derive import GraphDerivation

__all__ = [
    "MAX_PATHS",
    "MILLION",
    "Branch",
    "GateUse",
    "Modes",
    "Passes",
    "Path",
    "PathSum",
    "PathsAndModes",
    "Shared",
    "gate_pattern",
    "passes",
    "paths_and_modes",
]

MAX_PATHS = 40  # leaf-to-output paths listed at most; a larger graph shows the factored form only
MILLION = 1_000_000  # parameters of the network the pass counts are compared on

Pattern = Literal["add", "mul", "max"]


@dataclass(frozen=True)
class Path:
    """A path leaf -> ... -> output: its nodes and the local gradient of each edge on it."""

    nodes: tuple[Symbol, ...]
    factors: tuple[sympy.Expr, ...]  # d nodes[i+1] / d nodes[i], as derived
    values: tuple[float, ...]

    @property
    def product(self) -> float:
        return math.prod(self.values)


@dataclass(frozen=True)
class PathSum:
    """d(output)/d(leaf) as the sum of its paths' products."""

    leaf: Symbol
    paths: tuple[Path, ...]

    @property
    def total(self) -> float:
        return math.fsum(p.product for p in self.paths)


@dataclass(frozen=True)
class Shared:
    """A node that several leaf-to-output paths pass through: reverse accumulation computes
    d(output)/d(node) once and every one of those paths reuses it."""

    node: Symbol
    paths: int
    gradient: float


@dataclass(frozen=True)
class Branch:
    """A variable feeding several nodes: its gradient adds one contribution per consumer."""

    variable: Symbol
    parts: tuple[tuple[Symbol, float, float], ...]  # (consumer, d(output)/d(consumer), local gradient)

    @property
    def total(self) -> float:
        return math.fsum(g * local for _, g, local in self.parts)


@dataclass(frozen=True)
class GateUse:
    """One add, multiply or max gate of the graph and what it passes back to each input."""

    node: Symbol
    pattern: Pattern
    gradient: float  # d(output)/d(node)
    inputs: tuple[tuple[Symbol, float, float], ...]  # (input, its forward value, gradient it receives)


@dataclass(frozen=True)
class Passes:
    """Passes through the graph each mode needs to give every d(output)/d(leaf)."""

    forward: int  # one per input
    reverse: int  # one per output


def passes(inputs: int, outputs: int) -> Passes:
    """Forward mode pushes one input's tangent per pass, reverse mode one output's adjoint."""
    return Passes(forward=inputs, reverse=outputs)


@dataclass(frozen=True)
class Modes:
    """Both modes at the example: every variable's d(variable)/d(leaf) for each leaf (forward
    mode, one column a pass) and d(output)/d(variable) (reverse mode, one pass)."""

    leaves: tuple[Symbol, ...]
    rows: tuple[tuple[Symbol, tuple[float, ...], float], ...]


@dataclass(frozen=True)
class PathsAndModes:
    objective: Symbol
    sums: tuple[PathSum, ...]  # empty when the graph has more than MAX_PATHS paths
    path_count: int
    shared: tuple[Shared, ...]
    branches: tuple[Branch, ...]
    modes: Modes
    here: Passes
    million: Passes
    gates: tuple[GateUse, ...]


def gate_pattern(expr: sympy.Expr) -> Pattern | None:
    """add (a + b, a + 1), mul (a b) or max (max(a, b)) when the gate's inputs are named values."""
    named = [a for a in expr.args if a.is_Symbol]
    if isinstance(expr, sympy.Max) and len(named) == len(expr.args) == 2:
        return "max"
    if expr.is_Add and named and all(a.is_Symbol or a.is_Number for a in expr.args):
        return "add"
    if expr.is_Mul and len(named) == len(expr.args) == 2 and named[0] != named[1]:
        return "mul"
    return None


def _count_paths(consumers: Mapping[Symbol, list[Symbol]], start: Symbol, end: Symbol, memo: dict) -> int:
    if start == end:
        return 1
    if start not in memo:
        memo[start] = sum(_count_paths(consumers, c, end, memo) for c in consumers.get(start, ()))
    return memo[start]


def _paths(consumers: Mapping[Symbol, list[Symbol]], start: Symbol, end: Symbol) -> list[tuple[Symbol, ...]]:
    if start == end:
        return [(end,)]
    return [(start, *rest) for c in consumers.get(start, ()) for rest in _paths(consumers, c, end)]


def paths_and_modes(unit: GraphDerivation, values: Mapping[str, float]) -> PathsAndModes:
    """Paths, shared sub-paths, branches, both modes and gate patterns of a scalar graph at the
    forward ``values`` (by name, every leaf and node)."""
    net = unit.network
    out = net.objective
    env = {k: np.float64(v) for k, v in values.items()}
    env.update({c.name: np.float64(v) for c, v in net.constants.items()})
    local: dict[tuple[Symbol, Symbol], float] = {}
    consumers: dict[Symbol, list[Symbol]] = defaultdict(list)
    for node, parts in unit.partials.items():
        for s, d in sorted(parts.items(), key=lambda item: item[0].name):
            with np.errstate(all="ignore"):
                local[(s, node)] = float(np.asarray(evaluate_numpy(d, env), dtype=float))
            consumers[s].append(node)
    variables = (*net.leaves, *net.nodes)

    # reverse mode: one pass from the output
    adjoint: dict[Symbol, float] = {out: 1.0}
    for v in reversed(variables):
        if v != out:
            adjoint[v] = math.fsum(adjoint[c] * local[(v, c)] for c in consumers.get(v, ()))
    # forward mode: one pass per leaf
    tangents: dict[Symbol, list[float]] = {}
    leaves = net.leaves
    for i, leaf in enumerate(leaves):
        tangent = {s: float(s == leaf) for s in leaves}
        for node in net.nodes:
            tangent[node] = math.fsum(local[(s, node)] * tangent[s] for s in unit.partials[node])
        for v in variables:
            tangents.setdefault(v, []).append(tangent[v])
    modes = Modes(tuple(leaves), tuple((v, tuple(tangents[v]), adjoint[v]) for v in variables))

    memo: dict = {}
    path_count = sum(_count_paths(consumers, leaf, out, memo) for leaf in leaves)
    sums: list[PathSum] = []
    if path_count <= MAX_PATHS:
        for leaf in leaves:
            found = []
            for nodes in _paths(consumers, leaf, out):
                edges = list(itertools.pairwise(nodes))
                factors = tuple(unit.partials[b][a] for a, b in edges)
                found.append(Path(nodes, factors, tuple(local[e] for e in edges)))
            if found:
                sums.append(PathSum(leaf, tuple(found)))

    into: dict[Symbol, int] = {}  # paths from any leaf to each variable
    for v in variables:
        into[v] = 1 if v in leaves else sum(into[s] for s in unit.partials[v])
    shared = tuple(
        Shared(v, into[v] * _count_paths(consumers, v, out, memo), adjoint[v])
        for v in net.nodes
        if v != out and into[v] * _count_paths(consumers, v, out, memo) > 1
    )
    branches = tuple(
        Branch(v, tuple((c, adjoint[c], local[(v, c)]) for c in consumers[v]))
        for v in variables
        if len(consumers.get(v, ())) > 1
    )
    gates = []
    for node, expr in net.nodes.items():
        pattern = gate_pattern(expr)
        if pattern is None:
            continue
        inputs = tuple(
            (s, float(env[s.name]), adjoint[node] * local.get((s, node), 0.0)) for s in expr.args if s.is_Symbol
        )
        gates.append(GateUse(node, pattern, adjoint[node], inputs))
    outputs = 1
    return PathsAndModes(
        out,
        tuple(sums),
        path_count,
        shared,
        branches,
        modes,
        passes(len(leaves), outputs),
        passes(MILLION, outputs),
        tuple(gates),
    )
