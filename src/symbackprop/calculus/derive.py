"""Reverse accumulation on a graph of scalars or of tensors: error terms, gradients, updates.

How it works (one pass each way, so the cost grows with the number of edges):

1. *Local derivatives.* In a scalar graph, for every node c, d expr_c / d s for each symbol s it
   uses, computed term by term (a weighted sum net_k = sum_j w_kj y_j + b_k costs one small
   product per term) and rewritten so that forward values appear as their stored symbols
   (sigma(net_4) -> y_4). In a tensor graph the same role is played by the vector-Jacobian
   product :func:`tensor_vjp`: elementwise parts are differentiated by SymPy, the registry's
   tensor functions (W a, softmax, the batch-mean loss) apply their own ``vjp``.
2. *Activation units.* A node y = f(net) whose argument node feeds only activations is an
   activation output: its adjoint is inlined, so the error term is taken with respect to net, as
   in the textbooks (delta_4 = (delta_6 w_64 + delta_7 w_74) y_4 (1 - y_4)). Every other node is
   a plain graph node and gets its own term d(objective)/d(node) (CS231n style).
3. *Total derivative.* Visiting nodes in reverse order, adjoint(v) = sum over consumers c of the
   local product, with adjoint(c) the delta *symbol* of c — never its expression — so nothing
   swells. The result is simplified by the named rules of :mod:`symbackprop.calculus.simplify`.
4. *Leaves.* d(objective)/d(leaf) sums the same products over the leaf's consumers (weight decay
   arrives through the objective's own terms). In a tensor graph the objective averages over a
   batch: a parameter collects (1/m) sum_i of its per-example contributions, an input 1/m of its
   own. Updates are w - eta dE/dw.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import sympy
from sympy import S, Symbol

from symbackprop.calculus.equations import Equation, document_order, graph_equations, number
from symbackprop.calculus.simplify import (
    CANCEL_QUOTIENTS,
    Rule,
    apply_rules,
    stored_values,
    targets_sum_to_one,
    unit_sums_of_targets,
)
from symbackprop.core.latex_names import upright_base, with_upright_base
from symbackprop.core.network import GraphNetwork
from symbackprop.registry import BatchMean, TensorFunction, coupled_classes, elementwise_activations, real


def _simple_factor(a: sympy.Expr) -> bool:
    """A symbol, a number, or a power of a symbol with a numeric exponent (w**2)."""
    return a.is_Symbol or a.is_Number or (a.is_Pow and a.base.is_Symbol and a.exp.is_Number)


def _term_partials(term: sympy.Expr, wanted: set[Symbol]) -> dict[Symbol, sympy.Expr]:
    """Partials of one term. The common shapes need no call to diff: a product of distinct
    symbols and powers (w_kj y_j, lambda w^2 / 2), and a function of one symbol (sigma(net_4),
    whose derivative is its own rule)."""
    if term.is_Symbol:
        return {term: S.One} if term in wanted else {}
    if term.is_Mul and all(_simple_factor(a) for a in term.args):
        bases = [a.base if a.is_Pow else a for a in term.args if not a.is_Number]
        if len(set(bases)) == len(bases):
            out = {}
            for a in term.args:
                base = a.base if a.is_Pow else a
                if base in wanted:
                    rest = sympy.Mul(*(b for b in term.args if b is not a))
                    out[base] = rest * a.exp * base ** (a.exp - 1) if a.is_Pow else rest
            return out
    if isinstance(term, sympy.Function) and len(term.args) == 1 and term.args[0].is_Symbol:
        return {term.args[0]: term.fdiff(1)} if term.args[0] in wanted else {}
    return {s: sympy.diff(term, s) for s in term.free_symbols & wanted}


def _terms(expr: sympy.Expr):
    """The terms of a sum, with a constant factor of a sum distributed over it: the weight
    decay lambda/2 (w_1^2 + ... + w_n^2) is n terms, each differentiated on its own."""
    for term in sympy.Add.make_args(expr):
        sums = [a for a in term.args if a.is_Add] if term.is_Mul else []
        if len(sums) == 1 and all(a.is_Symbol or a.is_Number for a in term.args if a is not sums[0]):
            factor = sympy.Mul(*(a for a in term.args if a is not sums[0]))
            yield from (factor * a for a in sums[0].args)
        else:
            yield term


def local_partials(expr: sympy.Expr, rule: Rule, wanted: set[Symbol]) -> dict[Symbol, sympy.Expr]:
    """d expr / d s for every free symbol s of expr in ``wanted``, a sum differentiated term by term.

    Terms are collected in lists and summed once: adding them one at a time would make a
    weight-decay sum over n weights cost n^2."""
    parts: dict[Symbol, list[sympy.Expr]] = defaultdict(list)
    for term in _terms(expr):
        for s, d in _term_partials(term, wanted).items():
            parts[s].append(d)
    out = {}
    for s, terms in parts.items():
        d = sympy.Add(*terms)
        if d != 0:
            out[s] = rule.apply(d)
    return out


def _has_tensor_function(expr: sympy.Expr) -> bool:
    return any(isinstance(e, TensorFunction) for e in sympy.preorder_traversal(expr))


def tensor_vjp(expr: sympy.Expr, v: Symbol, ct: sympy.Expr) -> sympy.Expr:
    """d(objective)/dv through ``expr``, given ct = d(objective)/d(expr); tensors elementwise."""
    if expr == v:
        return ct
    if v not in expr.free_symbols:
        return S.Zero
    if isinstance(expr, TensorFunction):
        return sympy.Add(
            *(tensor_vjp(arg, v, expr.vjp(i, ct)) for i, arg in enumerate(expr.args) if v in arg.free_symbols)
        )
    if not _has_tensor_function(expr):
        return ct * sympy.diff(expr, v)  # elementwise: the scalar derivative, unit by unit
    terms = []
    for i, arg in enumerate(expr.args):
        if v not in arg.free_symbols:
            continue
        if expr.is_Add:
            local = S.One
        elif expr.is_Mul:
            local = sympy.Mul(*(a for j, a in enumerate(expr.args) if j != i))
        else:
            dummy = sympy.Dummy(real=True)
            args = list(expr.args)
            args[i] = dummy
            local = sympy.diff(expr.func(*args), dummy).xreplace({dummy: arg})
        terms.append(tensor_vjp(arg, v, ct * local))
    return sympy.Add(*terms)


def per_example(net: GraphNetwork) -> set[Symbol]:
    """Symbols of a tensor graph that differ from example to example (data and what uses it
    outside a batch reduction)."""
    found = set(net.inputs) | set(net.targets)

    def depends(expr) -> bool:
        if isinstance(expr, TensorFunction) and expr.batch_reduces:
            return False
        if expr.is_Symbol:
            return expr in found
        return any(depends(a) for a in expr.args)

    for node, expr in net.nodes.items():
        if depends(expr):
            found.add(node)
    return found


def _batch_level(expr: sympy.Expr, examples: set[Symbol]) -> bool:
    if isinstance(expr, TensorFunction) and expr.batch_reduces:
        return True
    if expr.is_Symbol:
        return expr not in examples
    return all(_batch_level(a, examples) for a in expr.args)


def activation_outputs(net: GraphNetwork, consumers: Mapping[Symbol, list[Symbol]]) -> dict[Symbol, Symbol]:
    """Map each activation-output node y = f(net) to the node net it is a function of.

    Only when net itself is a node consumed by activation outputs alone (an elementwise
    activation, the components of one softmax, or a softmax of a layer vector), so that
    d(objective)/d(net) says all.
    """
    vectors, units = coupled_classes()
    classes = (*elementwise_activations(), *vectors)
    candidates: dict[Symbol, tuple[Symbol, ...]] = {}
    for node, expr in net.nodes.items():
        if expr.is_Symbol and expr in net.nodes:  # identity activation: y = net
            candidates[node] = (expr,)
        elif isinstance(expr, classes) and expr.args[0] in net.nodes:
            candidates[node] = (expr.args[0],)
        elif isinstance(expr, units) and all(a in net.nodes for a in expr.inputs()):
            candidates[node] = tuple(expr.inputs())
    fused: dict[Symbol, Symbol] = {}
    for node, args in candidates.items():
        if node == net.objective:
            continue
        if all(all(c in candidates for c in consumers[a]) for a in args):
            fused[node] = args[0]
    return fused


@dataclass
class GraphDerivation:
    """Error terms, gradients and updates of a :class:`GraphNetwork`, all as SymPy objects.

    ``deltas`` maps a node name to d(objective)/d(node) written with the deltas of the nodes it
    feeds and stored forward values; ``delta_symbols`` gives the symbol each delta goes by.
    ``partials`` (scalar graphs) are the local derivatives; ``totals`` each node's sum before
    simplification (for an activation output, the inlined dE/dy_k the documents show as a step).
    """

    network: GraphNetwork
    deltas: dict[str, sympy.Expr]
    delta_symbols: dict[Symbol, Symbol]
    gradients: dict[str, sympy.Expr]
    updates: dict[str, sympy.Expr]
    partials: dict[Symbol, dict[Symbol, sympy.Expr]] = field(repr=False)
    fused: dict[Symbol, Symbol] = field(repr=False)
    consumers: dict[Symbol, list[Symbol]] = field(repr=False, default_factory=dict)
    totals: dict[Symbol, sympy.Expr] = field(repr=False, default_factory=dict)

    @cached_property
    def forward_expanded(self) -> dict[Symbol, sympy.Expr]:
        """Node -> its value in leaves only."""
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
                expr = self.deltas[node.name].xreplace(out).xreplace(self.forward_expanded)
                out[self.delta_symbols[node]] = expr
        return out

    def expanded(self, name: str) -> sympy.Expr:
        """A delta (by node name), gradient or update (by leaf name) in inputs and parameters only."""
        for table in (self.deltas, self.gradients, self.updates):
            if name in table:
                return table[name].xreplace(self._deltas_expanded).xreplace(self.forward_expanded)
        raise KeyError(f"no delta, gradient or update named {name!r}")

    def gradient_symbol(self, leaf: str) -> Symbol:
        """The symbol of d(objective)/d(leaf), named grad_<leaf> in code."""
        return real(f"grad_{leaf}")

    @cached_property
    def equations(self) -> list[Equation]:
        """Forward, error terms, gradients and updates, numbered in document order."""
        return number(document_order(graph_equations(self)))

    @cached_property
    def latex_names(self) -> dict[Symbol, str]:
        """LaTeX of every symbol the equations use: the notation's, then d(objective)/d(.) names."""
        from sympy.printing.latex import LatexPrinter

        net = self.network
        names = dict(net.latex_names)
        plain = LatexPrinter()
        for s in (*net.leaves, *net.nodes):  # words upright: \mathrm{dot}
            if s not in names and upright_base(s.name):
                names[s] = with_upright_base(s.name, plain.doprint(s))
        printer = LatexPrinter({"symbol_names": names})
        obj = printer.doprint(net.objective)
        for node, d in self.delta_symbols.items():
            names.setdefault(d, rf"\frac{{\partial {obj}}}{{\partial {printer.doprint(node)}}}")
        for leaf in self.gradients:
            leaf_symbol = next(s for s in net.leaves if s.name == leaf)
            names.setdefault(
                self.gradient_symbol(leaf), rf"\frac{{\partial {obj}}}{{\partial {printer.doprint(leaf_symbol)}}}"
            )
        return names


def delta_symbol(net: GraphNetwork, node: Symbol) -> Symbol:
    """The symbol of a node's error term: the notation's (delta_4) or d<objective>/d<node>."""
    return net.delta_names.get(node, real(f"delta_{node.name}"))


def derive_graph(net: GraphNetwork, simplify: bool = True) -> GraphDerivation:
    """Run reverse accumulation over ``net`` (see the module docstring). ``simplify=False``
    leaves the error terms as the chain rule writes them (no textbook rewrites: the per-unit
    graphs the checks compare against, where only the values count)."""
    stored = {expr: node for node, expr in reversed(net.nodes.items()) if not (expr.is_Symbol or expr.is_Number)}
    rule = stored_values(stored)
    variables = set(net.leaves) | set(net.nodes)
    consumers: dict[Symbol, list[Symbol]] = defaultdict(list)
    for node, expr in net.nodes.items():
        for s in sorted(expr.free_symbols & variables, key=lambda s: s.name):
            consumers[s].append(node)
    partials: dict[Symbol, dict[Symbol, sympy.Expr]] = {}
    if not net.tensor:
        partials = {node: local_partials(expr, rule, variables) for node, expr in net.nodes.items()}
        consumers = defaultdict(list)
        for node, parts in partials.items():
            for s in parts:
                consumers[s].append(node)
    examples = per_example(net) if net.tensor else set()
    fused = activation_outputs(net, consumers)
    groups = net.target_groups
    rules = [unit_sums_of_targets(groups), targets_sum_to_one(groups), CANCEL_QUOTIENTS] if simplify else []

    def contribution(consumer: Symbol, v: Symbol, adjoint: sympy.Expr) -> sympy.Expr:
        if not net.tensor:
            local = partials[consumer].get(v, S.Zero)
            return local if adjoint == 1 else adjoint * local
        value = rule.apply(tensor_vjp(net.nodes[consumer], v, adjoint))
        if v not in examples and consumer in examples and not _batch_level(value, examples):
            value = BatchMean(value)  # a parameter collects the mean over the batch
        return value

    adjoint: dict[Symbol, sympy.Expr] = {net.objective: S.One}
    totals: dict[Symbol, sympy.Expr] = {}
    deltas: dict[str, sympy.Expr] = {}
    delta_symbols: dict[Symbol, Symbol] = {}
    for node in reversed(list(net.nodes)):
        if node == net.objective:
            continue
        total = sympy.Add(*(contribution(c, node, adjoint[c]) for c in consumers[node]))
        totals[node] = total
        if node in fused or (net.tensor and net.shapes.get(node) == ()):
            adjoint[node] = total  # inlined: an activation output, or a scalar part of J
            continue
        deltas[node.name] = apply_rules(total, rules)
        delta_symbols[node] = delta_symbol(net, node)
        adjoint[node] = delta_symbols[node]
        if node in examples:
            examples.add(delta_symbols[node])  # an error term is per example like its node

    gradients: dict[str, sympy.Expr] = {}
    for leaf in (*net.inputs, *net.parameters):
        terms = [contribution(c, leaf, adjoint[c]) for c in consumers[leaf]]
        total = sympy.Add(*terms, evaluate=False) if len(terms) > 1 and net.tensor else sympy.Add(*terms)
        if net.tensor and leaf in examples:
            total = total / real("m")  # the objective averages over the batch
        gradients[leaf.name] = total
    eta = net.learning_rate_symbol
    updates = {p.name: p - eta * gradients[p.name] for p in net.trainable}
    return GraphDerivation(net, deltas, delta_symbols, gradients, updates, partials, fused, dict(consumers), totals)
