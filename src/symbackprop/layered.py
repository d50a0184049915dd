"""Fully connected networks: equations per layer, and the per-unit graph on request.

The layer-level (matrix) equations are derived once per layer, whatever its width:

* forward  z^(l+1) = W^(l) a^(l) + b^(l),  a^(l+1) = f(z^(l+1));
* output   delta = dJ/dz of the output layer, derived by SymPy from the loss's per-unit term and
  the activation's rule (so sigmoid + binary cross-entropy and softmax + cross-entropy come out
  as a - y, not because a table says so);
* hidden   delta^(l) = ((W^(l))^T delta^(l+1)) . f'(z^(l)), f' in terms of the stored a^(l);
* gradients (1/m) sum_i delta^(l+1) (a^(l))^T + lambda W^(l), (1/m) sum_i delta^(l+1); updates.

Per-unit equations come from running the scalar engine (:mod:`symbackprop.derive`) on
:func:`unit_graph`, which builds one node per unit; that happens only when something asks for
them (a document of a small network, ``deltas``, ``expanded``, verification).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Mapping

import numpy as np
import sympy
from sympy import S, Symbol

from symbackprop.derive import GraphDerivation, derive_graph
from symbackprop.equations import Equation, document_order, graph_equations, number
from symbackprop.layerops import BatchMean, BatchOuter, FrobSq, LossMean, MatTVec, MatVec, UnitSum
from symbackprop.render.outputs import Outputs
from symbackprop.network import GraphNetwork, LayeredNetwork
from symbackprop.notation import Names
from symbackprop.rules.activations import Softmax, activation
from symbackprop.rules.losses import Loss, loss_rule
from symbackprop.simplify import CANCEL_QUOTIENTS, apply_rules

PER_UNIT_LIMIT = 30  # networks with more units get per-unit equations only on request


def unit_graph(net: LayeredNetwork, names: Names | None = None) -> GraphNetwork:
    """The scalar graph of ``net``: net and output nodes per unit, objective E (or J)."""
    names = names or Names(net.notation, net.sizes)
    loss = loss_rule(net.loss)
    inputs = tuple(names.input(i) for i in range(net.sizes[0]))
    params = initial_parameters(net)
    parameters: dict[Symbol, float] = {}
    nodes: dict[Symbol, sympy.Expr] = {}
    previous: list[Symbol] = list(inputs)
    weights: list[Symbol] = []
    for layer in range(1, net.depth + 1):
        act = activation(net.activations[layer - 1])
        nets = []
        for k in range(net.sizes[layer]):
            terms = []
            for j, y in enumerate(previous):
                w = names.weight(layer, k, j)
                parameters[w] = float(params[f"W{layer}"][k, j])
                weights.append(w)
                terms.append(w * y)
            if net.bias:
                b = names.bias(layer, k)
                parameters[b] = float(params[f"b{layer}"][k])
                terms.append(b)
            z = names.net(layer + 1, k)
            nodes[z] = sympy.Add(*terms)
            nets.append(z)
        outputs = []
        for k, z in enumerate(nets):
            y = names.out(layer + 1, k)
            nodes[y] = Softmax(k, *nets) if act.vector else act.apply(z)
            outputs.append(y)
        previous = outputs
    targets = tuple(names.target(k) for k in range(net.sizes[-1]))
    objective = names.objective()
    nodes[objective] = sympy.Add(*(loss.term(y, t) for y, t in zip(previous, targets))) + _decay(net, names, weights)
    deltas = {
        names.net(layer + 1, k): names.delta(layer + 1, k)
        for layer in range(1, net.depth + 1)
        for k in range(net.sizes[layer])
    }
    return GraphNetwork(
        name=net.name,
        title=net.title,
        inputs=inputs,
        targets=targets,
        parameters=parameters,
        nodes=nodes,
        objective=objective,
        learning_rate=net.learning_rate,
        epochs=net.epochs,
        notation=net.notation,
        latex_names=names.latex,
        delta_names=deltas,
        target_groups=(targets,) if loss.targets_sum_to_one else (),
        learning_rate_symbol=names.learning_rate(),
        constants={names.weight_decay(): net.weight_decay} if net.weight_decay else {},
    )


def _decay(net: LayeredNetwork, names: Names, weights) -> sympy.Expr:
    if not net.weight_decay:
        return S.Zero
    return names.weight_decay() / 2 * sympy.Add(*(w**2 for w in weights))


def initial_parameters(net: LayeredNetwork) -> dict[str, np.ndarray]:
    """Small random parameters from the spec's seed (the generated code draws the same ones)."""
    rng = np.random.default_rng(net.seed)
    return {name: rng.normal(0.0, net.init_scale, shape) for name, shape in net.parameter_shapes().items()}


def _derivative_in_output(name: str, a: Symbol, z: Symbol) -> sympy.Expr:
    """f'(z) written with the stored output a = f(z) where the rule allows."""
    fz = activation(name).apply(z)
    return sympy.diff(fz, z).xreplace({fz: a}) if fz != z else S.One


def _unit_sum(h: sympy.Expr, t: Symbol, loss: Loss) -> sympy.Expr:
    """Sum of h over the units; sum_k t_k = 1 where the loss assumes it."""
    expanded = sympy.expand(h)
    c = expanded.coeff(t)
    rest = expanded - c * t
    if loss.targets_sum_to_one and c.is_Number and not rest.has(t):
        return c + (UnitSum(rest) if rest != 0 else S.Zero)
    return UnitSum(h)


def output_delta(net: LayeredNetwork, a: Symbol, z: Symbol, t: Symbol) -> sympy.Expr:
    """delta of the output layer, elementwise in the layer vectors a, z and targets t."""
    loss, act = loss_rule(net.loss), activation(net.activations[-1])
    g = sympy.diff(loss.term(a, t), a)
    if act.vector:  # softmax: J^T g = a . g - a (1^T (a . g))
        h = apply_rules(a * g, [CANCEL_QUOTIENTS])
        return apply_rules(h - a * _unit_sum(h, t, loss), [CANCEL_QUOTIENTS])
    return apply_rules(g * _derivative_in_output(act.name, a, z), [CANCEL_QUOTIENTS])


def _in_order(*terms: sympy.Expr) -> sympy.Expr:
    """A sum kept in the textbook's order (W a + b, delta a^T + lambda W) for the printers."""
    return sympy.Add(*terms, evaluate=False)


def layer_equations(net: LayeredNetwork, names: Names) -> list[Equation]:
    """The matrix-form equations of ``net``, unnumbered, each marked ``layer=True``."""
    return [replace(eq, layer=True) for eq in _layer_equations(net, names)]


def _layer_equations(net: LayeredNetwork, names: Names) -> list[Equation]:
    L = net.depth + 1  # number of layers, input layer included (UFLDL's n_l)
    loss, out_act = loss_rule(net.loss), activation(net.activations[-1])
    lam, m, alpha, J, t = (
        names.weight_decay(),
        names.batch_size(),
        names.learning_rate(),
        names.objective(),
        names.target_vec(),
    )
    eqs: list[Equation] = []
    for layer in range(1, L):
        a_prev, z, a = names.out_vec(layer), names.net_vec(layer + 1), names.out_vec(layer + 1)
        W, b = names.matrix(layer), names.bias_vec(layer)
        affine = _in_order(MatVec(W, a_prev), b) if net.bias else MatVec(W, a_prev)
        eqs.append(Equation(f"forward-{z}", "forward", z, affine, z.name))
        act = activation(net.activations[layer - 1])
        eqs.append(Equation(f"forward-{a}", "forward", a, act.apply(z), a.name))

    aL, zL = names.out_vec(L), names.net_vec(L)
    term = loss.term(aL, t)
    stable = {}
    if out_act.log_output:
        stable[sympy.log(aL)] = out_act.log_output(zL)
    if out_act.log_one_minus_output:
        stable[sympy.log(1 - aL)] = out_act.log_one_minus_output(zL)
    data_term, stable_term = LossMean(term), LossMean(term.xreplace(stable))
    if net.weight_decay:  # J = L + s, the regularisation term on its own line
        data, reg = names.data_loss(), names.regularisation()
        decay = lam / 2 * sympy.Add(*(FrobSq(names.matrix(layer)) for layer in range(1, L)))
        eqs.append(Equation("loss-data", "loss", data, data_term, data.name, code_rhs=stable_term))
        eqs.append(Equation("loss-decay", "loss", reg, decay, reg.name))
        eqs.append(Equation("loss", "loss", J, data + reg, J.name))
    else:
        eqs.append(Equation("loss", "loss", J, data_term, J.name, code_rhs=stable_term))

    deltas = {L: output_delta(net, aL, zL, t)}
    for layer in range(L - 1, 1, -1):
        a, z = names.out_vec(layer), names.net_vec(layer)
        fprime = _derivative_in_output(net.activations[layer - 2], a, z)
        deltas[layer] = MatTVec(names.matrix(layer), names.delta_vec(layer + 1)) * fprime
    for layer, rhs in deltas.items():
        d = names.delta_vec(layer)
        section = "delta-output" if layer == L else "delta-hidden"
        eqs.append(Equation(f"delta-{layer}", section, d, rhs, d.name))

    grads: dict[Symbol, sympy.Expr] = {}
    for layer in range(1, L):
        W, d_next, a_prev = names.matrix(layer), names.delta_vec(layer + 1), names.out_vec(layer)
        grads[W] = _in_order(BatchOuter(d_next, a_prev), lam * W) if net.weight_decay else BatchOuter(d_next, a_prev)
        if net.bias:
            grads[names.bias_vec(layer)] = BatchMean(d_next)
    x = names.out_vec(1)
    grads[x] = MatTVec(names.matrix(1), names.delta_vec(2)) / m
    for leaf, rhs in grads.items():
        g = names.gradient(J, leaf, names.latex[leaf])
        eqs.append(Equation(f"gradient-{leaf}", "gradient", g, rhs, g.name))
    for leaf in grads:
        if leaf != x:
            g = names.gradient(J, leaf, names.latex[leaf])
            eqs.append(Equation(f"update-{leaf}", "update", leaf, leaf - alpha * g, leaf.name, update=True))
    return eqs


class LayeredDerivation(Outputs):
    """Derivation of a :class:`LayeredNetwork`.

    ``equations`` holds the layer equations (and, for networks of at most
    ``PER_UNIT_LIMIT`` units, the per-unit ones after them). ``deltas``, ``gradients``,
    ``updates`` and ``expanded`` are per unit and computed on first use.
    """

    def __init__(self, net: LayeredNetwork):
        self.network = net
        self.names = Names(net.notation, net.sizes)
        self.layer_equations = layer_equations(net, self.names)

    @cached_property
    def unit_derivation(self) -> GraphDerivation:
        return derive_graph(unit_graph(self.network, self.names))

    @cached_property
    def equations(self) -> list[Equation]:
        """Numbered in document order: per-unit equations (small networks) before the matrix form."""
        eqs = list(self.layer_equations)
        if self.network.unit_count <= PER_UNIT_LIMIT:
            unit = [self._unit_section(eq) for eq in graph_equations(self.unit_derivation, prefix="unit-")]
            eqs += sorted(unit, key=self._unit_rank)
        else:  # one representative unit per layer, sums in index form
            from symbackprop.instantiate import representative_equations

            eqs += representative_equations(self.layer_equations, self.names, self.network)
        return number(document_order(eqs))

    def _unit_rank(self, eq: Equation) -> tuple:
        """Error terms layer by layer from the output, units in increasing order; input
        gradients after the parameters'."""
        net = self.network
        if eq.section.startswith("delta"):
            where = {
                self.names.delta(l, k): (-l, k) for l in range(2, len(net.sizes) + 1) for k in range(net.sizes[l - 1])
            }
            return (1, *where[eq.lhs])
        if eq.section == "gradient" and eq.key.startswith("unit-gradient-x_"):
            return (2, 0, 0)
        return (0, 0, 0)

    def _unit_section(self, eq: Equation) -> Equation:
        """Per-unit error terms are output-layer or hidden-layer ones; the per-unit objective
        names the weight-decay term s (defined with the matrix form) instead of listing it."""
        if eq.section == "loss" and self.network.weight_decay:
            lam = self.names.weight_decay()
            data = sympy.Add(*(t for t in sympy.Add.make_args(eq.rhs) if not t.has(lam)))
            return replace(eq, rhs=sympy.Add(data, self.names.regularisation(), evaluate=False))
        if eq.section != "delta":
            return eq
        output_layer = len(self.network.sizes)
        outputs = {self.names.delta(output_layer, k) for k in range(self.network.sizes[-1])}
        return replace(eq, section="delta-output" if eq.lhs in outputs else "delta-hidden")

    @property
    def deltas(self) -> Mapping[str, sympy.Expr]:
        return self.unit_derivation.deltas

    @property
    def gradients(self) -> Mapping[str, sympy.Expr]:
        return self.unit_derivation.gradients

    @property
    def updates(self) -> Mapping[str, sympy.Expr]:
        return self.unit_derivation.updates

    def expanded(self, name: str) -> sympy.Expr:
        return self.unit_derivation.expanded(name)

    @property
    def latex_names(self) -> dict[Symbol, str]:
        """LaTeX of every symbol: the notation's, plus per-unit d(objective)/d(.) names once derived."""
        if "unit_derivation" in self.__dict__:
            return {**self.unit_derivation.latex_names, **self.names.latex}
        return self.names.latex
