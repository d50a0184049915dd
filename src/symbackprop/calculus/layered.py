"""Fully connected networks: the tensor derivation once per layer, the per-unit one on request.

:meth:`LayeredNetwork.graph` composes the network from registry ops; the engine of
:mod:`symbackprop.calculus.derive` derives that tensor graph, whatever the layers' widths:

* forward  z^(l+1) = W^(l) a^(l) + b^(l),  a^(l+1) = f(z^(l+1));
* output   delta = dJ/dz of the output layer, from the loss term and the activation's rule (so
  sigmoid + binary cross-entropy and softmax + cross-entropy come out as a - y by simplification,
  not because a table says so);
* hidden   delta^(l) = ((W^(l))^T delta^(l+1)) . f'(z^(l)), f' in terms of the stored a^(l);
* gradients (1/m) sum_i delta^(l+1) (a^(l))^T + lambda W^(l), (1/m) sum_i delta^(l+1); updates.

Per-unit equations come from the same engine on :func:`~symbackprop.calculus.expand.unit_graph`,
one node per unit, built only when something asks for them (a document of a small network,
``deltas``, ``expanded``, verification). Wide networks get one representative unit per layer in
sigma notation instead.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Mapping

import sympy
from sympy import Symbol

from symbackprop.calculus.derive import GraphDerivation, derive_graph
from symbackprop.calculus.equations import Equation, document_order, graph_equations, number, updated
from symbackprop.calculus.expand import Units, unit_graph
from symbackprop.core.network import LayeredNetwork

PER_UNIT_LIMIT = 30  # networks with more units get per-unit equations only on request


def tensor_equations(derivation: GraphDerivation, names) -> list[Equation]:
    """The tensor-form equations of a layered network's derivation, in derivation order."""
    graph = derivation.network
    roles = names.roles
    layer = lambda s: roles[s][1] if s in roles else None  # noqa: E731
    eqs = [
        Equation("loss" if graph.shapes[n] == () else "forward", "tensor", n, n, e, layer(n))
        for n, e in graph.nodes.items()
    ]
    output = max(roles[z][1] for z in derivation.delta_symbols)
    for node, d in derivation.delta_symbols.items():
        position = "output" if roles[node][1] == output else "hidden"
        eqs.append(Equation("delta", "tensor", node, d, derivation.deltas[node.name], layer(node), position))
    objective = graph.objective
    leaves = [*graph.parameters, *graph.inputs]
    for leaf in leaves:  # an input's gradient is one example's: d(batch mean)/dx^{(i)} carries the 1/m
        rhs = derivation.gradients[leaf.name]
        lhs = names.gradient(objective, leaf)
        eqs.append(Equation("gradient", "tensor", leaf, lhs, rhs, layer(leaf), example=leaf in graph.inputs))
    rate = graph.learning_rate_symbol
    for p in graph.trainable:
        eqs.append(Equation("update", "tensor", p, p, updated(p, rate, names.gradient(objective, p)), layer(p)))
    return eqs


def representative_equations(equations: list[Equation], names) -> list[Equation]:
    """Per-unit equations of a wide network for the first unit of each layer (first weight of
    each matrix), in sigma notation."""
    units = Units(names)
    objective = names.objective()
    out = []
    for eq in equations:
        if eq.kind in ("forward", "delta"):
            lhs = units.component(eq.lhs, 0)
            target = units.component(eq.target, 0)
        elif eq.kind == "loss":
            lhs, target = eq.lhs, eq.target
        else:
            target = units.entry(eq.target, 0, 0 if len(names.shape(eq.target)) == 2 else None)
            if eq.kind == "update":
                grad = names.gradient(objective, target)
                rhs = updated(target, names.learning_rate(), grad)
                out.append(replace(eq, level="representative", target=target, lhs=target, rhs=rhs))
                continue
            lhs = names.gradient(objective, target)
        rhs = units.representative(eq.rhs, 0, 0)  # one example (m = 1), as every per-unit equation
        out.append(replace(eq, level="representative", target=target, lhs=lhs, rhs=rhs, example=False))
    return out


class LayeredDerivation:
    """Derivation of a :class:`LayeredNetwork`.

    ``tensor`` is the derivation of the tensor graph and ``tensor_equations`` its equations;
    ``equations`` adds, for networks of at most ``PER_UNIT_LIMIT`` units, the per-unit ones (else
    one representative unit per layer), all numbered in document order. ``deltas``,
    ``gradients``, ``updates`` and ``expanded`` are per unit and computed on first use.
    """

    def __init__(self, net: LayeredNetwork, brief: bool = False):
        self.network = net
        self.brief = brief  # one representative unit per layer even where every unit would fit
        self.names = net.names()
        self.graph = net.graph(self.names)
        self.tensor = derive_graph(self.graph)
        self.tensor_equations = tensor_equations(self.tensor, self.names)

    @property
    def small(self) -> bool:
        return self.network.unit_count <= PER_UNIT_LIMIT

    @cached_property
    def unit_derivation(self) -> GraphDerivation:
        return derive_graph(unit_graph(self.graph, self.names, self.network.initial_parameters()))

    @cached_property
    def equations(self) -> list[Equation]:
        """Numbered in document order: per-unit equations (small networks) before the tensor form."""
        eqs = list(self.tensor_equations)
        if self.small and not self.brief:
            eqs += sorted(
                (self._unit_equation(eq) for eq in graph_equations(self.unit_derivation)), key=self._unit_rank
            )
        else:
            representative = representative_equations(self.tensor_equations, self.names)
            eqs += [eq for eq in representative if not (self.brief and eq.kind == "update")]  # the matrix form has them
        return number(document_order(eqs))

    @cached_property
    def _unit_layers(self) -> dict[Symbol, tuple[int, int]]:
        """Per-unit node symbol -> (layer, unit index)."""
        sizes = self.network.sizes
        return {
            self.names.net(layer, k): (layer, k) for layer in range(2, len(sizes) + 1) for k in range(sizes[layer - 1])
        }

    def _unit_rank(self, eq: Equation) -> tuple:
        """Error terms layer by layer from the output, units in increasing order; input gradients
        after the parameters'."""
        if eq.kind == "delta":
            layer, k = self._unit_layers[eq.target]
            return (1, -layer, k)
        if eq.kind == "gradient" and eq.target in self.unit_derivation.network.inputs:
            return (2, 0, 0)
        return (0, 0, 0)

    def _unit_equation(self, eq: Equation) -> Equation:
        """Per-unit error terms belong to the output or a hidden layer; the per-unit objective
        names the weight-decay term s (defined with the tensor form) instead of listing it."""
        if eq.kind == "loss" and self.network.weight_decay:
            lam = self.names.weight_decay()
            data = sympy.Add(*(t for t in sympy.Add.make_args(eq.rhs) if not t.has(lam)))
            return replace(eq, rhs=sympy.Add(data, self.names.regularisation(), evaluate=False))
        if eq.kind != "delta":
            return eq
        layer, _ = self._unit_layers[eq.target]
        position = "output" if layer == len(self.network.sizes) else "hidden"
        return replace(eq, position=position, layer=layer)

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
