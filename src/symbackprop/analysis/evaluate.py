"""Numbers for the equations of a scalar-graph derivation: forward values, error terms, gradients.

Every equation is evaluated on its own, in float64 NumPy (never on Python scalars, whose
``(-1.0) ** 1.5`` is a complex number and whose 1/0 raises): a value outside a function's domain
comes out as nan or inf, which the caller reports.
"""

from __future__ import annotations

import numpy as np
import sympy

from symbackprop.analysis.numeric import evaluate_numpy


def _value(expr: sympy.Expr, env: dict) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(evaluate_numpy(expr, env), dtype=float)


def evaluate_graph(derivation, point: dict) -> tuple[dict, dict, dict]:
    """Forward values (by node name), error terms (by delta symbol name) and gradients (by leaf
    name) of a scalar-graph derivation at ``point`` (leaf name -> number or array)."""
    net = derivation.network
    values = {k: np.asarray(v, dtype=float) for k, v in point.items()}
    values.update({c.name: np.float64(v) for c, v in net.constants.items()})
    for node, expr in net.nodes.items():
        values[node.name] = _value(expr, values)
    deltas: dict = {}
    for node in reversed(list(net.nodes)):
        if node.name in derivation.deltas:
            deltas[derivation.delta_symbols[node].name] = _value(derivation.deltas[node.name], {**values, **deltas})
    grads = {leaf: _value(expr, {**values, **deltas}) for leaf, expr in derivation.gradients.items()}
    return values, deltas, grads


def evaluate_edges(derivation, values: dict) -> dict[tuple[str, str], np.ndarray]:
    """The gradient flowing along each wire of a scalar graph: for a wire s -> n,
    d(objective)/dn * dn/ds at the forward ``values`` (by name), keyed (s, n).

    A node's d(objective)/dn is the sum of the wires out of it (the objective's is 1), so the
    values on the wires leaving a node add up to that node's gradient: the total derivative a
    circuit picture teaches. The local derivative dn/ds is the derivation's own (``partials``),
    so a wire carries exactly the term the error-term equations add.
    """
    net = derivation.network
    node_gradient: dict[str, np.ndarray] = {net.objective.name: np.float64(1.0)}
    edges: dict[tuple[str, str], np.ndarray] = {}
    for node in reversed(list(net.nodes)):
        if node.name not in node_gradient:
            consumers = derivation.consumers.get(node, [])
            node_gradient[node.name] = sum((edges[node.name, c.name] for c in consumers), np.float64(0.0))
        for s, local in derivation.partials.get(node, {}).items():
            edges[s.name, node.name] = node_gradient[node.name] * _value(local, values)
    return edges
