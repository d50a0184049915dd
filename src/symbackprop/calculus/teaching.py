"""Step-by-step derivations of error terms and gradients, as the textbooks write them.

For each error term the scalar engine already knows the pieces: which nodes a node feeds
(``consumers``), the local derivatives (``partials``), the sum before simplification
(``totals``) and the simplified result (``deltas``). This module lays them out as lines:

    delta_4 = dE/dnet_4 = dE/dy_4 . dy_4/dnet_4                  (chain rule)
    dE/dy_4 = dE/dnet_6 dnet_6/dy_4 + dE/dnet_7 dnet_7/dy_4      (total derivative)
            = delta_6 w_64 + delta_7 w_74
    dy_4/dnet_4 = y_4 (1 - y_4)                                  (lemma)
    delta_4 = (delta_6 w_64 + delta_7 w_74) y_4 (1 - y_4)        (the numbered result)

Every line is a pair of SymPy expressions plus a reason (a message-catalogue key); the
document prints them. Partial derivatives are :class:`Partial` objects that print as fractions.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy import Function, S, Symbol

from symbackprop.calculus.derive import GraphDerivation


class Partial(Function):
    """d(numerator)/d(denominator) of two named quantities, for display only."""

    nargs = 2

    def _latex(self, printer, exp=None):
        num, den = (printer._print(a) for a in self.args)
        return r"\frac{\partial %s}{\partial %s}" % (num, den)


@dataclass(frozen=True)
class Line:
    """``lhs = rhs`` (lhs None: a continuation ``= rhs``), with the reason for the step."""

    lhs: sympy.Expr | None
    rhs: sympy.Expr
    reason: str = ""


def _chain(objective: Symbol, via: list[Symbol], wrt: Symbol, direct: sympy.Expr | None = None) -> sympy.Expr:
    """sum over c of dO/dc dc/dwrt as unevaluated partials; ``direct`` is the objective's own
    explicit dependence on wrt (the weight-decay term), written out."""
    terms = [
        Partial(c, wrt) if c == objective else sympy.Mul(Partial(objective, c), Partial(c, wrt), evaluate=False)
        for c in via
    ]
    if direct is not None:
        terms.append(direct)
    return terms[0] if len(terms) == 1 else sympy.Add(*terms, evaluate=False)


def _distinct(lines: list[Line]) -> list[Line]:
    """Drop steps that say nothing new (a right-hand side equal to its left or to the last one)."""
    out: list[Line] = []
    for line in lines:
        previous = out[-1].rhs if out else None
        if line.rhs == line.lhs or (line.lhs is None and line.rhs == previous):
            continue
        out.append(line)
    return out


def _adjoint(d: GraphDerivation, node: Symbol) -> sympy.Expr:
    """What stands for d(objective)/d(node) inside other expressions: 1, a delta symbol."""
    if node == d.network.objective:
        return S.One
    return d.delta_symbols.get(node, Partial(d.network.objective, node))


def _sum_of_products(d: GraphDerivation, node: Symbol) -> sympy.Expr:
    """sum over consumers c of adjoint(c) * dc/dnode, each product kept as written."""
    terms = []
    for c in d.consumers.get(node, []):
        local = d.partials[c][node]
        adj = _adjoint(d, c)
        terms.append(local if adj == 1 else sympy.Mul(adj, local, evaluate=False))
    return terms[0] if len(terms) == 1 else sympy.Add(*terms, evaluate=False)


def delta_lines(d: GraphDerivation, node: Symbol) -> list[Line]:
    """The unnumbered steps that lead to the error term of ``node``."""
    net, obj = d.network, d.network.objective
    delta = d.delta_symbols[node]
    outputs = [y for y in d.consumers.get(node, []) if y in d.fused]
    if len(outputs) == 1:  # an activation unit y = f(net): chain rule, then its two factors
        y = outputs[0]
        direct = obj in d.consumers.get(y, []) and len(d.consumers[y]) == 1
        lines = [Line(delta, Partial(obj, node), "definition"), Line(None, _chain(obj, [y], node), "chain-rule")]
        if direct:
            lines.append(Line(Partial(obj, y), d.totals[y], "loss-derivative"))
        else:
            consumers = d.consumers[y]
            lines.append(Line(Partial(obj, y), _chain(obj, consumers, y), "total-derivative"))
            lines.append(Line(None, d.totals[y], "deltas-by-symbol"))
        lines.append(Line(Partial(y, node), d.partials[y][node], "activation-derivative"))
        return _distinct(lines)
    if outputs:  # softmax: every output of the layer depends on this net
        lines = [
            Line(delta, Partial(obj, node), "definition"),
            Line(None, _chain(obj, outputs, node), "total-derivative"),
        ]
        for y in outputs:
            lines.append(Line(Partial(obj, y), d.totals[y], "loss-derivative"))
            lines.append(Line(Partial(y, node), d.partials[y][node], "activation-derivative"))
        expanded = sympy.expand(d.totals[node])
        lines.append(Line(delta, expanded, "expand"))
        lines.append(Line(None, sympy.collect(expanded, outputs), "collect"))
        return _distinct(lines)
    consumers = d.consumers.get(node, [])
    reason = "total-derivative" if len(consumers) > 1 else "chain-rule"
    first = Partial(obj, node)
    lines = [Line(delta, first, "definition")] if node in net.delta_names else []
    if consumers != [obj]:  # fed straight into the objective, the chain rule has one factor
        lines.append(Line(None if lines else delta, _chain(obj, consumers, node), reason))
    lines.append(Line(None if lines else delta, _sum_of_products(d, node), "local-gradients"))
    return _distinct(lines)


def gradient_lines(d: GraphDerivation, leaf: Symbol) -> list[Line]:
    """The unnumbered steps of d(objective)/d(leaf): chain rule over what the leaf feeds."""
    obj = d.network.objective
    consumers = [c for c in d.consumers.get(leaf, []) if c != obj]
    direct = d.partials[obj].get(leaf) if obj in d.consumers.get(leaf, []) else None
    if not consumers:
        return []
    reason = "total-derivative" if len(consumers) + (direct is not None) > 1 else "chain-rule"
    return _distinct([Line(Partial(obj, leaf), _chain(obj, consumers, leaf, direct), reason)])
