"""A chain of gates that computes an activation function, collapsed into one gate.

CS231n draws the sigmoid neuron gate by gate (*(-1), exp, +1, 1/x) and then replaces those gates
by a single sigma gate whose local gradient is sigma (1 - sigma), found by adding and subtracting
1 in the numerator. :func:`find_collapse` finds such a chain in a scalar graph by substitution
(nodes between a start node and an end node, used nowhere else, whose composition SymPy proves
equal to a registry activation of the start node), builds the collapsed graph, derives and
evaluates both at the example, and returns the two circuits' gradients side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy
from sympy import Symbol

from symbackprop.analysis.evaluate import evaluate_graph
from symbackprop.analysis.numeric import evaluate_numpy
from symbackprop.calculus.derive import GraphDerivation, derive_graph
from symbackprop.core.network import GraphNetwork
from symbackprop.registry import elementwise_activations

__all__ = ["Collapse", "find_collapse"]

MIN_GATES = 2  # a chain of one gate is already one gate


@dataclass(frozen=True)
class Collapse:
    """The gates ``gates`` (ending in ``end``) compute ``activation`` of ``start``."""

    start: Symbol
    end: Symbol
    gates: tuple[Symbol, ...]
    activation: str
    function: sympy.Expr  # activation(start), the one gate
    composed: sympy.Expr  # what the gates compute, in the start node
    chain: tuple[tuple[Symbol, Symbol, sympy.Expr, float], ...]  # (from, to, local gradient, value)
    local: sympy.Expr  # the one gate's local gradient, in its own value
    local_value: float
    rows: tuple[tuple[Symbol, float, float], ...]  # (leaf, gradient gate by gate, gradient with one gate)
    collapsed: GraphNetwork

    @property
    def chain_product(self) -> float:
        return math.prod(v for *_, v in self.chain)

    @property
    def agree(self) -> bool:
        return all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) for _, a, b in self.rows)


def _chain_into(net: GraphNetwork, unit: GraphDerivation, end: Symbol) -> list[Symbol]:
    """The longest linear chain ending at ``end``: [s0, g1, ..., end], each gate a function of the
    one before it alone (numbers aside), every gate between s0 and ``end`` used by the next only."""
    chain = [end]
    while True:
        inputs = net.nodes[chain[0]].free_symbols
        if len(inputs) != 1:
            return chain
        (before,) = inputs
        chain.insert(0, before)
        if before not in net.nodes or unit.consumers.get(before, []) != [chain[1]]:
            return chain  # a leaf, or a value used elsewhere too: the chain can start here, not pass


PROBES = (0.3, -0.7, 1.1)  # where a candidate is first compared in numbers, before SymPy proves it


def _same_function(composed: sympy.Expr, function, x: Symbol) -> bool:
    """composed(x) == function(x) for every x: equal at a few points, then proved by SymPy."""
    one_gate = function(x)
    try:
        for t in PROBES:
            a, b = complex(composed.subs(x, t).evalf()), complex(one_gate.subs(x, t).evalf())
            if not abs(a - b) <= 1e-9 * max(1.0, abs(b)):
                return False
    except (TypeError, ValueError, AttributeError):
        return False
    definition = getattr(function, "definition", None)
    explicit = definition(x) if definition is not None else None
    explicit = explicit if explicit is not None else one_gate.rewrite(sympy.exp)
    return sympy.simplify(composed - explicit) == 0


def _chain(net: GraphNetwork, unit: GraphDerivation) -> tuple[Symbol, Symbol, list[Symbol], str, sympy.Expr] | None:
    """The first chain (ends from the output back, longest first) that computes an activation."""
    classes = elementwise_activations()
    for end in reversed(list(net.nodes)):
        chain = _chain_into(net, unit, end)
        for i in range(len(chain) - MIN_GATES):
            start, gates = chain[i], chain[i + 1 :]
            composed = start
            for g in gates:
                composed = net.nodes[g].xreplace({next(iter(net.nodes[g].free_symbols)): composed})
            for act in classes.values():
                if _same_function(composed, act.function, start):
                    return start, end, gates, act.name, composed
    return None


def find_collapse(unit: GraphDerivation, point: Mapping[str, float]) -> Collapse | None:
    """The longest chain of gates ending nearest the output that is one activation, collapsed;
    None when the graph has none. ``point`` gives every leaf a value."""
    net = unit.network
    found = _chain(net, unit)
    if found is None:
        return None
    start, end, gates, name, composed = found
    act = next(a for a in elementwise_activations().values() if a.name == name)
    one_gate = act.function(start)
    nodes = {n: e for n, e in net.nodes.items() if n not in gates}
    nodes[end] = one_gate
    order = [n for n in net.nodes if n in nodes]
    collapsed = GraphNetwork(
        name=f"{net.name}-collapsed",
        inputs=net.inputs,
        targets=net.targets,
        parameters=dict(net.parameters),
        frozen=net.frozen,
        nodes={n: nodes[n] for n in order},
        objective=net.objective,
        learning_rate=net.learning_rate,
        example=dict(net.example),
        title=net.title,
        learning_rate_symbol=net.learning_rate_symbol,
        constants=dict(net.constants),
    )
    other = derive_graph(collapsed)
    values, _, grads = evaluate_graph(unit, point)
    _, _, grads_one = evaluate_graph(other, point)
    env = {k: np.float64(v) for k, v in values.items()}
    number = lambda e: float(np.asarray(evaluate_numpy(e, env), dtype=float))
    chain = []
    previous = start
    for gate in gates:
        d = unit.partials[gate][previous]
        chain.append((previous, gate, d, number(d)))
        previous = gate
    local = other.partials[end][start]
    rows = tuple((leaf, float(grads[leaf.name]), float(grads_one[leaf.name])) for leaf in net.leaves)
    return Collapse(
        start,
        end,
        tuple(gates),
        name,
        one_gate,
        composed,
        tuple(chain),
        local,
        number(local),
        rows,
        collapsed,
    )
