"""Layer equations, one unit at a time: the bridge between matrix and per-unit forms.

:func:`component` takes a layer-level expression (symbols standing for layer vectors, the
operations of :mod:`symbackprop.layerops`) and writes out one component in per-unit symbols:
``(W^(2))^T delta^(3)`` at unit j becomes ``sum_k W^(2)_kj delta^(3)_k``, written out term by
term. Batch averages become a single example (m = 1), which is what the per-unit graph describes.

:func:`verify_layer_equations` uses it before a document is printed: every component of every
matrix equation must equal what the scalar engine derived for that unit, or the document is
not written. Wide networks are checked on a narrow copy (the same layers, activations and loss,
at most 3 units a layer), since the layer equations do not depend on the widths.
"""

from __future__ import annotations

from dataclasses import replace

import sympy
from sympy import S, Symbol

from symbackprop.derive import derive_graph
from symbackprop.layerops import BatchMean, BatchOuter, FrobSq, LossMean, MatTVec, MatVec, UnitSum
from symbackprop.network import LayeredNetwork
from symbackprop.notation import Names
from symbackprop.rules.activations import Softmax, SoftmaxVector

CHECK_WIDTH = 3


class LayerCheckError(AssertionError):
    """A matrix equation disagrees with the per-unit equations (a bug, never bad input)."""


def _width(expr: sympy.Expr, names: Names) -> int:
    for s in expr.free_symbols:
        if s in names.roles:
            return names.sizes[names.roles[s][1] - 1]
    raise ValueError(f"no layer vector in {expr}")


def component(expr: sympy.Expr, names: Names, k: int, j: int | None = None) -> sympy.Expr:
    """Component k (row k, column j for a matrix-valued expression) in per-unit symbols."""
    if expr.is_Number:
        return expr
    if expr.is_Symbol:
        return _symbol(expr, names, k, j)
    if isinstance(expr, MatVec):
        W, a = expr.args
        layer = names.roles[W][1]
        return sympy.Add(*(names.weight(layer, k, i) * component(a, names, i) for i in range(names.sizes[layer - 1])))
    if isinstance(expr, MatTVec):
        W, d = expr.args
        layer = names.roles[W][1]
        return sympy.Add(*(names.weight(layer, i, k) * component(d, names, i) for i in range(names.sizes[layer])))
    if isinstance(expr, BatchOuter):
        d, a = expr.args
        return component(d, names, k) * component(a, names, j)
    if isinstance(expr, BatchMean):
        return component(expr.args[0], names, k)
    if isinstance(expr, (UnitSum, LossMean)):
        h = expr.args[0]
        return sympy.Add(*(component(h, names, i) for i in range(_width(h, names))))
    if isinstance(expr, FrobSq):
        layer = names.roles[expr.args[0]][1]
        return sympy.Add(*(names.weight(layer, r, c) ** 2 for r in range(names.sizes[layer]) for c in range(names.sizes[layer - 1])))
    if isinstance(expr, SoftmaxVector):
        z = expr.args[0]
        return Softmax(k, *(component(z, names, i) for i in range(_width(z, names))))
    return expr.func(*(component(a, names, k, j) for a in expr.args))


def _symbol(s: Symbol, names: Names, k: int, j: int | None) -> sympy.Expr:
    if s not in names.roles:
        return S.One if s == names.batch_size() else s  # scalars: lambda, eta; m = 1 per example
    kind, layer = names.roles[s]
    if kind == "net":
        return names.net(layer, k)
    if kind == "out":
        return names.out(layer, k)
    if kind == "delta":
        return names.delta(layer, k)
    if kind == "target":
        return names.target(k)
    if kind == "bias":
        return names.bias(layer, k)
    return names.weight(layer, k, j)  # matrix


def verify_layer_equations(net: LayeredNetwork) -> int:
    """Check every matrix equation of ``net`` against the per-unit engine; return checks made."""
    from symbackprop.layered import layer_equations, unit_graph

    small = replace(net, sizes=tuple(min(n, CHECK_WIDTH) for n in net.sizes), example={})
    names = Names(small.notation, small.sizes)
    equations = layer_equations(small, names)
    unit = derive_graph(unit_graph(small, names))
    expected = _expected(unit, names, small)
    checks = 0
    for eq in equations:
        if eq.update or eq.key == "loss" and net.weight_decay:
            continue  # updates restate the gradient; J = L + s is checked through L and s
        for k, j in _expected_keys(eq, names, small):
            got = component(eq.rhs, names, k, j)
            want = expected(eq, k, j)
            if sympy.expand(got - want) != 0:
                raise LayerCheckError(f"{net.name}: equation {eq.key} at unit {k}, {j}: {got} != {want}")
            checks += 1
    return checks


def _expected_keys(eq, names: Names, net: LayeredNetwork):
    if eq.section in ("forward", "delta-output", "delta-hidden"):
        layer = names.roles[eq.lhs][1]
        return [(k, None) for k in range(net.sizes[layer - 1])]
    if eq.section == "gradient":
        leaf = eq.key.split("-", 1)[1]
        kind, layer = names.roles[Symbol(leaf)]
        if kind == "matrix":
            return [(r, c) for r in range(net.sizes[layer]) for c in range(net.sizes[layer - 1])]
        if kind == "bias":
            return [(k, None) for k in range(net.sizes[layer])]
        return [(k, None) for k in range(net.sizes[0])]  # the input x
    return [(0, None)]  # loss terms


def _expected(unit, names: Names, net: LayeredNetwork):
    """What the per-unit engine says each component of a layer equation must be."""
    nodes = unit.network.nodes
    objective = unit.network.objective
    terms = sympy.Add.make_args(nodes[objective])
    data_term = sympy.Add(*(t for t in terms if not t.has(names.weight_decay())))

    def expected(eq, k, j):
        if eq.section == "forward":
            kind, layer = names.roles[eq.lhs]
            return nodes[names.net(layer, k) if kind == "net" else names.out(layer, k)]
        if eq.section in ("delta-output", "delta-hidden"):
            layer = names.roles[eq.lhs][1]
            return unit.deltas[names.net(layer, k).name]
        if eq.section == "gradient":
            kind, layer = names.roles[Symbol(eq.key.split("-", 1)[1])]
            if kind == "matrix":
                return unit.gradients[names.weight(layer, k, j).name]
            if kind == "bias":
                return unit.gradients[names.bias(layer, k).name]
            return unit.gradients[names.input(k).name]
        if eq.key == "loss-decay":
            return nodes[objective] - data_term
        return data_term  # "loss" (no decay) or "loss-data"

    return expected
