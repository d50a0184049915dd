"""Reverse accumulation on a scalar graph: per-node error terms, gradients, updates.

How it works (one pass each way, so the cost grows with the number of edges):

1. *Local partials.* For every node c, d expr_c / d s for each symbol s it uses, computed
   term by term (a weighted sum net_k = sum_j w_kj y_j + b_k costs one small diff per term),
   then rewritten so that forward values appear as their stored symbols (sigma(net_4) -> y_4).
2. *Activation units.* A node y = f(net) whose argument node feeds only activations is an
   activation output: its adjoint is inlined, so the error term is taken with respect to net,
   as in the textbooks (delta_4 = (delta_6 w_64 + delta_7 w_74) y_4 (1 - y_4)). Every other
   node is a plain graph node and gets its own term d(objective)/d(node) (CS231n style).
3. *Total derivative.* Visiting nodes in reverse order, adjoint(v) = sum over consumers c of
   adjoint(c) * d expr_c / d v, where adjoint(c) is c's delta *symbol* — never its expression —
   so nothing swells. The result is simplified by the named rules of :mod:`symbackprop.simplify`.
4. *Leaves.* d(objective)/d(leaf) sums the same products over the leaf's consumers
   (weight decay arrives through the objective's own partials); updates are w - eta dE/dw.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import sympy
from sympy import S, Symbol

from symbackprop.equations import Equation, document_order, graph_equations, number
from symbackprop.render.outputs import Outputs
from symbackprop.network import GraphNetwork
from sympy.printing.latex import LatexPrinter
from symbackprop.rules.activations import ACTIVATIONS, Softmax
from symbackprop.simplify import CANCEL_QUOTIENTS, Rule, apply_rules, stored_values, targets_sum_to_one

# Classes of the registered elementwise activations (identity has none: it is no node).
_ELEMENTWISE = tuple(a.apply for a in ACTIVATIONS.values() if isinstance(a.apply, type) and not a.vector)


def _term_partials(term: sympy.Expr) -> dict[Symbol, sympy.Expr]:
    """Partials of one term; a product of distinct symbols (w_kj y_j) needs no call to diff."""
    if term.is_Symbol:
        return {term: S.One}
    if term.is_Mul and all(a.is_Symbol or a.is_Number for a in term.args):
        return {a: sympy.Mul(*(b for b in term.args if b is not a)) for a in term.args if a.is_Symbol}
    return {s: sympy.diff(term, s) for s in term.free_symbols}


def local_partials(expr: sympy.Expr, rule: Rule) -> dict[Symbol, sympy.Expr]:
    """d expr / d s for every free symbol s of expr, differentiating a sum term by term."""
    parts: dict[Symbol, sympy.Expr] = defaultdict(lambda: S.Zero)
    for term in sympy.Add.make_args(expr):
        for s, d in _term_partials(term).items():
            parts[s] += d
    return {s: rule.apply(d) for s, d in parts.items() if d != 0}


def activation_outputs(net: GraphNetwork, consumers: Mapping[Symbol, list[Symbol]]) -> dict[Symbol, Symbol]:
    """Map each activation-output node y = f(net) to the node net it is a function of.

    Only when net itself is a node consumed by activation outputs alone (an elementwise
    activation, or the components of one softmax), so that d(objective)/d(net) says all.
    """
    candidates: dict[Symbol, tuple[Symbol, ...]] = {}
    for node, expr in net.nodes.items():
        if expr.is_Symbol and expr in net.nodes:  # identity activation: y = net
            candidates[node] = (expr,)
        elif isinstance(expr, _ELEMENTWISE) and expr.args[0] in net.nodes:
            candidates[node] = (expr.args[0],)
        elif isinstance(expr, Softmax) and all(a in net.nodes for a in expr.args[1:]):
            candidates[node] = tuple(expr.args[1:])
    fused: dict[Symbol, Symbol] = {}
    for node, args in candidates.items():
        if node == net.objective:
            continue
        if all(all(c in candidates for c in consumers[a]) for a in args):
            fused[node] = args[0]
    return fused


@dataclass
class GraphDerivation(Outputs):
    """Error terms, gradients and updates of a :class:`GraphNetwork`, all as SymPy objects.

    ``deltas`` maps a node name to d(objective)/d(node) written with the deltas of the nodes it
    feeds and stored forward values; ``delta_symbols`` gives the symbol each delta goes by.
    """

    network: GraphNetwork
    deltas: dict[str, sympy.Expr]
    delta_symbols: dict[Symbol, Symbol]
    gradients: dict[str, sympy.Expr]
    updates: dict[str, sympy.Expr]
    partials: dict[Symbol, dict[Symbol, sympy.Expr]] = field(repr=False)
    fused: dict[Symbol, Symbol] = field(repr=False)
    consumers: dict[Symbol, list[Symbol]] = field(repr=False, default_factory=dict)
    # Per node, d(objective)/d(node) as first summed, before simplification; for an activation
    # output (fused) node this is the inlined dE/dy_k the documents show as a step.
    totals: dict[Symbol, sympy.Expr] = field(repr=False, default_factory=dict)

    @cached_property
    def _forward_expanded(self) -> dict[Symbol, sympy.Expr]:
        forward: dict[Symbol, sympy.Expr] = {}
        for node, expr in self.network.nodes.items():
            forward[node] = expr.xreplace(forward)
        return forward

    @cached_property
    def _deltas_expanded(self) -> dict[Symbol, sympy.Expr]:
        """Delta symbol -> delta in terms of leaves only (built in reverse node order)."""
        out: dict[Symbol, sympy.Expr] = {}
        for node in reversed(list(self.network.nodes)):
            if node in self.delta_symbols:
                expr = self.deltas[node.name].xreplace(out).xreplace(self._forward_expanded)
                out[self.delta_symbols[node]] = expr
        return out

    def expanded(self, name: str) -> sympy.Expr:
        """A delta (by node name), gradient or update (by leaf name) in inputs and parameters only."""
        for table in (self.deltas, self.gradients, self.updates):
            if name in table:
                return table[name].xreplace(self._deltas_expanded).xreplace(self._forward_expanded)
        raise KeyError(f"no delta, gradient or update named {name!r}")

    def gradient_symbol(self, leaf: str) -> Symbol:
        """The symbol of d(objective)/d(leaf), named grad_<leaf> in code."""
        return Symbol(f"grad_{leaf}")

    @cached_property
    def latex_names(self) -> dict[Symbol, str]:
        """LaTeX of every symbol the equations use: the notation's, then d(objective)/d(.) names."""
        net = self.network
        names = dict(net.latex_names)
        printer = LatexPrinter({"symbol_names": names})
        obj = printer.doprint(net.objective)
        for node, d in self.delta_symbols.items():
            names.setdefault(d, rf"\frac{{\partial {obj}}}{{\partial {printer.doprint(node)}}}")
        for leaf in self.gradients:
            names.setdefault(
                self.gradient_symbol(leaf), rf"\frac{{\partial {obj}}}{{\partial {printer.doprint(Symbol(leaf))}}}"
            )
        return names

    @cached_property
    def equations(self) -> list[Equation]:
        return number(document_order(graph_equations(self)))


def delta_symbol(net: GraphNetwork, node: Symbol) -> Symbol:
    """The symbol of a node's error term: the notation's (delta_4) or d<objective>/d<node>."""
    return net.delta_names.get(node, Symbol(f"delta_{node.name}"))


def derive_graph(net: GraphNetwork) -> GraphDerivation:
    """Run reverse accumulation over ``net`` (see the module docstring)."""
    stored = {expr: node for node, expr in reversed(net.nodes.items()) if not (expr.is_Symbol or expr.is_Number)}
    rule = stored_values(stored)
    partials = {node: local_partials(expr, rule) for node, expr in net.nodes.items()}
    consumers: dict[Symbol, list[Symbol]] = defaultdict(list)
    for node, parts in partials.items():
        for s in parts:
            consumers[s].append(node)
    fused = activation_outputs(net, consumers)
    rules = [targets_sum_to_one(net.target_groups), CANCEL_QUOTIENTS]

    adjoint: dict[Symbol, sympy.Expr] = {net.objective: S.One}
    totals: dict[Symbol, sympy.Expr] = {}
    deltas: dict[str, sympy.Expr] = {}
    delta_symbols: dict[Symbol, Symbol] = {}
    for node in reversed(list(net.nodes)):
        if node == net.objective:
            continue
        total = sympy.Add(*(adjoint[c] * partials[c][node] for c in consumers[node]))
        totals[node] = total
        if node in fused:
            adjoint[node] = total  # inlined: the delta is taken with respect to its net
            continue
        deltas[node.name] = apply_rules(total, rules)
        delta_symbols[node] = delta_symbol(net, node)
        adjoint[node] = delta_symbols[node]

    gradients: dict[str, sympy.Expr] = {}
    for leaf in (*net.inputs, *net.parameters):
        gradients[leaf.name] = sympy.Add(*(adjoint[c] * partials[c][leaf] for c in consumers[leaf]))
    eta = net.learning_rate_symbol
    updates = {p.name: p - eta * gradients[p.name] for p in net.trainable}
    return GraphDerivation(net, deltas, delta_symbols, gradients, updates, partials, fused, dict(consumers), totals)
