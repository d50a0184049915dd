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
        return sympy.Add(
            *(names.weight(layer, r, c) ** 2 for r in range(names.sizes[layer]) for c in range(names.sizes[layer - 1]))
        )
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


# --- index form: one representative unit of a wide layer, sums written with sigma ----------


def _base(names: Names, kind: str, layer: int) -> sympy.IndexedBase:
    """The indexed name of a family of per-unit symbols (w_{k,j}, a^{(2)}_{j}, ...)."""
    node = names.node
    table = {
        "matrix": "w" if node else f"W^{{({layer})}}",
        "bias": "b" if node else f"b^{{({layer})}}",
        "net": r"\mathrm{net}" if node else f"z^{{({layer})}}",
        "out": "x" if layer == 1 else ("y" if node else f"a^{{({layer})}}"),
        "delta": r"\delta" if node else f"\\delta^{{({layer})}}",
        "target": "t" if node else "y",
    }
    return sympy.IndexedBase(Symbol(table[kind]))


def _range(names: Names, layer: int) -> tuple[int, int]:
    """First and last index of the units of a layer (node numbers, or 1..n)."""
    if names.node:
        return names.unit_number(layer, 0), names.unit_number(layer, names.sizes[layer - 1] - 1)
    return 1, names.sizes[layer - 1]


def _label(names: Names, layer: int, k: int) -> int:
    return names.unit_number(layer, k) if names.node else k + 1


def indexed(expr: sympy.Expr, names: Names, index: Symbol) -> sympy.Expr:
    """An elementwise layer expression at a running unit index (inside a sum)."""

    def visit(e):
        if e.is_Symbol and e in names.roles:
            kind, layer = names.roles[e]
            return _base(names, kind, layer)[index]
        if e.is_Atom:
            return e
        return e.func(*(visit(a) for a in e.args))

    return visit(expr)


def representative(expr: sympy.Expr, names: Names, k: int = 0, j: int | None = None) -> sympy.Expr:
    """Component k (k, j) of a layer expression with every sum over a layer in sigma form."""
    i = Symbol("i")
    if isinstance(expr, MatVec):
        W, a = expr.args
        layer = names.roles[W][1]
        lo, hi = _range(names, layer)
        return sympy.Sum(
            _base(names, "matrix", layer)[_label(names, layer + 1, k), i] * indexed(a, names, i), (i, lo, hi)
        )
    if isinstance(expr, MatTVec):
        W, d = expr.args
        layer = names.roles[W][1]
        lo, hi = _range(names, layer + 1)
        return sympy.Sum(_base(names, "matrix", layer)[i, _label(names, layer, k)] * indexed(d, names, i), (i, lo, hi))
    if isinstance(expr, (UnitSum, LossMean)):
        h = expr.args[0]
        layer = next(names.roles[s][1] for s in h.free_symbols if s in names.roles)
        return sympy.Sum(indexed(h, names, i), (i, *_range(names, layer)))
    if isinstance(expr, FrobSq):
        layer = names.roles[expr.args[0]][1]
        r, c = Symbol("r"), Symbol("c")
        return sympy.Sum(
            _base(names, "matrix", layer)[r, c] ** 2, (r, *_range(names, layer + 1)), (c, *_range(names, layer))
        )
    if isinstance(expr, SoftmaxVector):
        z = expr.args[0]
        layer = names.roles[z][1]
        return sympy.exp(component(z, names, k)) / sympy.Sum(
            sympy.exp(indexed(z, names, i)), (i, *_range(names, layer))
        )
    if isinstance(expr, (BatchOuter, BatchMean)) or expr.is_Symbol or expr.is_Number:
        return component(expr, names, k, j)
    return expr.func(*(representative(a, names, k, j) for a in expr.args))


def _first_unit(names: Names, kind: str, layer: int) -> Symbol:
    """The representative parameter or input: the first weight, bias or input of a layer."""
    if kind == "matrix":
        return names.weight(layer, 0, 0)
    if kind == "bias":
        return names.bias(layer, 0)
    return names.input(0)


def representative_equations(equations, names: Names, net: LayeredNetwork) -> list:
    """Per-unit equations of a wide network, for the first unit of each layer (first weight
    of each matrix), in index form; keys start with ``unit-`` like the full per-unit ones."""
    objective, alpha = names.objective(), names.learning_rate()
    out = []
    for eq in equations:
        if eq.section in ("forward", "delta-output", "delta-hidden"):
            lhs = component(eq.lhs, names, 0)
        elif eq.section == "loss":
            lhs = eq.lhs
        else:
            leaf = Symbol(eq.key.split("-", 1)[1])
            kind, layer = names.roles.get(leaf, ("input", 1))
            unit = _first_unit(names, kind, layer)
            grad = names.gradient(objective, unit, names.latex[unit])
            if eq.update:
                out.append(
                    replace(eq, key="unit-" + eq.key, lhs=unit, rhs=unit - alpha * grad, code_rhs=None, layer=False)
                )
                continue
            lhs = grad
        rhs = representative(eq.rhs, names, 0, 0)
        out.append(replace(eq, key="unit-" + eq.key, lhs=lhs, rhs=rhs, code_rhs=None, layer=False))
    return out
