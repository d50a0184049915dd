"""Everything a document shows that has to be computed, computed once: :func:`analyse`.

An :class:`Analysis` holds a finished derivation with what the renderers need beside it: the
numbered equations, the teaching steps before each (:mod:`symbackprop.calculus.teaching`), the
result of the tensor-vs-unit consistency check, and the worked example's numbers. Documents
receive one and compute nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sympy import Symbol

from symbackprop.analysis.evaluate import evaluate_edges, evaluate_graph
from symbackprop.calculus.derive import GraphDerivation
from symbackprop.calculus.equations import Equation
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.calculus.sequential import SequentialDerivation

if TYPE_CHECKING:  # imported where used: the verify path imports analysis.evaluate, not these
    from symbackprop.analysis.collapse import Collapse
    from symbackprop.analysis.consistency import Consistency
    from symbackprop.analysis.matrix_rule import MatrixRule
    from symbackprop.analysis.memory import MemoryUse
    from symbackprop.analysis.paths import PathsAndModes
    from symbackprop.analysis.sequential_example import SequentialExample
    from symbackprop.calculus.d2l import D2lBackward
    from symbackprop.calculus.teaching import Line

__all__ = ["Analysis", "WorkedExample", "analyse"]


@dataclass(frozen=True)
class WorkedExample:
    """The spec's example through the per-unit equations, in float64.

    ``forward`` and ``deltas`` are (symbol, value) rows, ``gradients`` (leaf, gradient symbol,
    value, value after one update or None for inputs and frozen parameters). ``values`` and
    ``gradient_of`` (by name) feed the circuit picture of a graph, and ``edge_gradients`` the
    gradient flowing along each of its wires, keyed (source name, node name): those leaving a
    node add up to its ``gradient_of``. Non-finite numbers stay as
    they came out of NumPy (nan, inf) and ``finite`` says whether there are any.
    """

    forward: list[tuple[Symbol, float]]
    deltas: list[tuple[Symbol, float]]
    gradients: list[tuple[Symbol, Symbol, float, float | None]]
    values: dict[str, float] = field(default_factory=dict)
    gradient_of: dict[str, float] = field(default_factory=dict)
    edge_gradients: dict[tuple[str, str], float] = field(default_factory=dict)
    layers: list[LayerRows] = field(default_factory=list)  # layered networks: each unit's z, a, delta
    # a graph's table, a row per leaf and node: (symbol, value, its gradient's symbol and value or
    # None, the value after one update or None); the output's own gradient is 1 and has no row
    node_rows: list[tuple[Symbol, float, Symbol | None, float | None, float | None]] = field(default_factory=list)
    rows_in_data: int = 1  # examples in the spec's data; the tables follow the first

    @property
    def finite(self) -> bool:
        numbers = [v for _, v in self.forward] + [v for _, v in self.deltas] + [g[2] for g in self.gradients]
        return bool(np.all(np.isfinite(numbers)))


@dataclass(frozen=True)
class LayerRows:
    """One layer of the worked example, a row per unit: its weighted input, its output and its
    error term side by side (the input layer has outputs only), and the targets beside the
    output layer."""

    layer: int
    units: list[tuple[tuple[Symbol, float] | None, tuple[Symbol, float], tuple[Symbol, float] | None]]
    targets: list[tuple[Symbol, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Analysis:
    """A derivation and what its documents need, all computed."""

    derivation: GraphDerivation | LayeredDerivation | SequentialDerivation
    equations: list[Equation]
    unit: GraphDerivation | None  # the per-unit derivation the document writes out, if any
    steps: dict[str, list[Line]]  # equation label -> the steps that lead to it
    reasons: dict[str, str]  # equation label -> the reason printed beside the result
    consistency: Consistency | None
    example: WorkedExample | None
    example_too_large: bool = False
    paths: PathsAndModes | None = None  # a scalar graph's paths, shared sub-paths and both modes
    collapse: Collapse | None = None  # a chain of gates that is one activation, collapsed
    matrix_rule: MatrixRule | None = None  # the multiply gate for matrices, where a graph has one
    d2l: D2lBackward | None = None  # d2l notation: its backward pass in its order, with prod
    memory: MemoryUse | None = None  # d2l notation: what training keeps in memory that prediction does not
    layers_example: SequentialExample | None = None  # a network of layers: its worked example
    index_forms: tuple = ()  # a network of layers: its equations entry by entry (IndexEquation)


def analyse(
    derivation: GraphDerivation | LayeredDerivation | SequentialDerivation, layers_check: Consistency | None = None
) -> Analysis:
    """Number, explain, check and evaluate a derivation for its documents. A network of layers
    has its tensor equations, the result of their check against the per-unit derivation
    (``layers_check``: the caller runs it on the generated code, see ``check_sequential``) and
    its worked example (:mod:`~symbackprop.analysis.sequential_example`)."""
    from symbackprop.analysis.consistency import check_consistency

    if isinstance(derivation, SequentialDerivation):
        from symbackprop.analysis.sequential_example import sequential_example
        from symbackprop.calculus.sequential_index import index_equations

        example = sequential_example(derivation)
        forms = tuple(index_equations(derivation))
        return Analysis(
            derivation,
            derivation.equations,
            None,
            {},
            {},
            layers_check,
            None,
            layers_example=example,
            index_forms=forms,
        )

    layered = isinstance(derivation, LayeredDerivation)
    unit = (derivation.unit_derivation if derivation.small else None) if layered else derivation
    equations = derivation.equations
    steps, reasons = {}, {}
    if unit is not None:
        for eq in equations:
            if eq.level != "unit":
                continue
            lines = _steps(unit, eq, layered and derivation.names.d2l)
            if lines:
                steps[eq.label] = lines
            if eq.kind == "delta" and unit.deltas[eq.target.name] != unit.totals[eq.target]:
                reasons[eq.label] = "targets-sum-to-one" if unit.network.target_groups else "simplify"
    consistency = check_consistency(derivation.network) if layered else None
    example = _example(derivation, unit) if unit is not None else None
    paths = collapse = None
    if not layered and example is not None:
        from symbackprop.analysis.collapse import find_collapse
        from symbackprop.analysis.paths import paths_and_modes

        paths = paths_and_modes(unit, example.values)
        collapse = find_collapse(unit, _example_point(derivation, unit))
    rule = None
    if paths is not None and any(g.pattern == "mul" for g in paths.gates):
        from symbackprop.analysis.matrix_rule import matrix_product_rule

        rule = matrix_product_rule()
    d2l = memory = None
    if layered and derivation.names.d2l:
        from symbackprop.analysis.memory import memory_use
        from symbackprop.calculus.d2l import d2l_backward

        d2l, memory = d2l_backward(derivation), memory_use(derivation)
    return Analysis(
        derivation,
        equations,
        unit,
        steps,
        reasons,
        consistency,
        example,
        unit is None,
        paths,
        collapse,
        rule,
        d2l,
        memory,
    )


def _steps(unit: GraphDerivation, eq: Equation, d2l: bool = False) -> list[Line]:
    from dataclasses import replace

    from symbackprop.calculus.teaching import delta_lines, gradient_lines

    if eq.kind == "delta":
        lines = delta_lines(unit, eq.target)
        if d2l and len(lines) > 1 and lines[0].reason == "definition" and lines[1].lhs is None:
            # d2l's error term is named dJ/dz itself: "dJ/dz_1 = dJ/dz_1" would define nothing
            lines = [replace(lines[1], lhs=lines[0].lhs), *lines[2:]]
        return lines
    if eq.kind == "gradient":
        return gradient_lines(unit, eq.target)
    return []


def _example_point(derivation, unit: GraphDerivation) -> dict | None:
    """Leaf name -> value: the first example and the initial parameters, or the spec's values."""
    net = derivation.network
    if isinstance(derivation, LayeredDerivation):
        if not net.example:
            return None
        point = {s.name: v for s, v in unit.network.parameters.items()}
        names = derivation.names
        point.update({names.input(i).name: v for i, v in enumerate(net.example["x"][0])})
        point.update({names.target(k).name: v for k, v in enumerate(net.example["t"][0])})
        return point
    values = {**net.parameters, **net.example}
    if set(values) != set(net.leaves):
        return None
    return {s.name: float(v) for s, v in values.items()}


def _number(value) -> float:
    """A value of the example as a Python float (NumPy scalars and 0-d arrays included)."""
    return float(np.asarray(value))


def _example(derivation, unit: GraphDerivation) -> WorkedExample | None:
    point = _example_point(derivation, unit)
    if point is None:
        return None
    values, deltas, grads = evaluate_graph(unit, point)
    net = unit.network
    forward = [(s, _number(values[s.name])) for s in (*net.leaves, *net.nodes)]
    delta_rows = [
        (unit.delta_symbols[n], _number(deltas[unit.delta_symbols[n].name]))
        for n in reversed(list(net.nodes))
        if n in unit.delta_symbols
    ]
    rate = net.learning_rate
    leaves = {s.name: s for s in net.leaves}
    gradient_rows = []
    for leaf, g in grads.items():
        s = leaves[leaf]
        with np.errstate(all="ignore"):
            updated = _number(values[leaf] - rate * g) if s in net.trainable else None
        gradient_rows.append((s, unit.gradient_symbol(leaf), _number(g), updated))
    gradient_of = {n.name: _number(deltas[unit.delta_symbols[n].name]) for n in net.nodes if n in unit.delta_symbols}
    gradient_of[net.objective.name] = 1.0
    gradient_of.update({k: _number(v) for k, v in grads.items()})
    layers, rows = [], 1
    if isinstance(derivation, LayeredDerivation):
        layers = _layer_rows(derivation, values, deltas)
        rows = len(derivation.network.example["x"])
    flat = {k: _number(v) for k, v in values.items()}
    graph = not isinstance(derivation, LayeredDerivation)  # only a graph's document draws its wires
    edges = {k: _number(v) for k, v in evaluate_edges(unit, values).items()} if graph else {}
    node_rows = _node_rows(unit, forward, dict(delta_rows), gradient_rows) if graph else []
    return WorkedExample(
        forward,
        delta_rows,
        gradient_rows,
        flat,
        gradient_of,
        edges,
        layers=layers,
        rows_in_data=rows,
        node_rows=node_rows,
    )


def _node_rows(unit: GraphDerivation, forward, delta_values, gradient_rows) -> list[tuple]:
    """Each leaf and node of a graph with its value beside its own gradient (CS231n's pairs)."""
    of_leaf = {leaf: (g, v, updated) for leaf, g, v, updated in gradient_rows}
    rows = []
    for s, value in forward:
        if s in of_leaf:
            g, v, updated = of_leaf[s]
        elif s in unit.delta_symbols:
            g, updated = unit.delta_symbols[s], None
            v = delta_values[g]
        else:  # the output, or an activation output whose gradient is inlined into its argument's
            g = v = updated = None
        rows.append((s, value, g, v, updated))
    return rows


def _layer_rows(derivation: LayeredDerivation, values: dict, deltas: dict) -> list[LayerRows]:
    names, sizes = derivation.names, derivation.network.sizes
    out = [LayerRows(1, [(None, (x, _number(values[x.name])), None) for x in map(names.input, range(sizes[0]))])]
    for layer in range(2, len(sizes) + 1):
        units = []
        for k in range(sizes[layer - 1]):
            z, a, d = names.net(layer, k), names.out(layer, k), names.delta(layer, k)
            units.append(((z, _number(values[z.name])), (a, _number(values[a.name])), (d, _number(deltas[d.name]))))
        targets = []
        if layer == len(sizes):
            targets = [(t, _number(values[t.name])) for t in map(names.target, range(sizes[-1]))]
        out.append(LayerRows(layer, units, targets))
    return out
