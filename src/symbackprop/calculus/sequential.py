"""Derivation of a network given as a list of layers, in tensor form.

:meth:`SequentialNetwork.graph` composes the tensor graph from registry ops (convolution,
pooling, flatten, normalisation, the dense layer's W a); the engine of
:mod:`symbackprop.calculus.derive` derives it as it derives a fully connected network, each op
applying its own vector-Jacobian product:

* output     delta^(L) = dJ/dz^(L), from the loss term and the output activation (a - y for
  softmax + cross-entropy, by the same rules);
* a conv layer's input   conv_full(delta, rot180(W)), then f'(z) of the layer below;
* max pooling routes delta to each window's arg-max, average pooling spreads it, flatten
  reshapes it, batch norm subtracts its batch means, dropout multiplies by the mask;
* gradients  (1/m) sum_i of each example's: conv(a, delta) for a kernel, delta summed over the
  positions for a conv bias, delta xhat for gamma; lambda W for weight decay; updates.

The equations are at the tensor level only: the per-unit expansion (one node per entry of every
feature map) is not built for these networks yet, so ``deltas``, ``gradients`` and ``updates``
are the tensor forms, by node and leaf name.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

import sympy
from sympy import Symbol

from symbackprop.calculus.derive import GraphDerivation, derive_graph
from symbackprop.calculus.equations import Equation, document_order, number, updated
from symbackprop.calculus.sequential_units import UnitGraph, sequential_unit_graph
from symbackprop.core.sequential import SequentialNetwork, graph_and_names
from symbackprop.registry import real


class SequentialDerivation:
    """Derivation of a :class:`SequentialNetwork`: the tensor graph, its derivation, its equations.

    ``latex_names`` gives every symbol's LaTeX (the layer notation's, then d(J)/d(node) names for
    the nodes the notation has no error term for); ``vectors`` are the tensors (their products
    print with odot); ``layer_of`` each symbol's layer number (0 for the input)."""

    brief = False
    small = False  # no per-unit equations

    def __init__(self, net: SequentialNetwork):
        self.network = net
        self.graph, self._latex, self.vectors, self.layer_of = graph_and_names(net)
        self.tensor = derive_graph(self.graph)

    def gradient_symbol(self, leaf: Symbol) -> Symbol:
        """d(J)/d(leaf), named grad_<leaf> in code."""
        return real(f"grad_{leaf.name}")

    @cached_property
    def tensor_equations(self) -> list[Equation]:
        """Forward, objective, error terms, gradients and updates, in derivation order."""
        graph, d = self.graph, self.tensor
        layer = self.layer_of.get
        eqs = [
            Equation("loss" if graph.shapes[n] == () else "forward", "tensor", n, n, e, layer(n))
            for n, e in graph.nodes.items()
        ]
        output = max((layer(z) or 0) for z in d.delta_symbols)
        last = [z for z in d.delta_symbols if layer(z) == output][0]
        for node, delta in d.delta_symbols.items():
            position = "output" if node == last else "hidden"
            eqs.append(Equation("delta", "tensor", node, delta, d.deltas[node.name], layer(node), position))
        for leaf in (*graph.parameters, *graph.inputs):
            rhs = d.gradients[leaf.name]
            eqs.append(Equation("gradient", "tensor", leaf, self.gradient_symbol(leaf), rhs, layer(leaf)))
        rate = graph.learning_rate_symbol
        for p in graph.trainable:
            eqs.append(Equation("update", "tensor", p, p, updated(p, rate, self.gradient_symbol(p)), layer(p)))
        return eqs

    @cached_property
    def equations(self) -> list[Equation]:
        """The tensor equations, numbered in document order."""
        return number(document_order(self.tensor_equations))

    @cached_property
    def unit(self) -> UnitGraph:
        """The per-unit graph of a batch of two examples and its scalar derivation (the checks')."""
        return sequential_unit_graph(self.graph)

    @property
    def unit_derivation(self) -> GraphDerivation:
        """The derivation of the tensor graph (the documents print tensor equations only)."""
        return self.tensor

    @property
    def deltas(self) -> Mapping[str, sympy.Expr]:
        return self.tensor.deltas

    @property
    def gradients(self) -> Mapping[str, sympy.Expr]:
        return self.tensor.gradients

    @property
    def updates(self) -> Mapping[str, sympy.Expr]:
        return self.tensor.updates

    def expanded(self, name: str) -> sympy.Expr:
        return self.tensor.expanded(name)

    @cached_property
    def latex_names(self) -> dict[Symbol, str]:
        """LaTeX of every symbol the equations use."""
        names = {**self.tensor.latex_names, **self._latex}
        for leaf in (*self.graph.parameters, *self.graph.inputs):
            names[self.gradient_symbol(leaf)] = rf"\frac{{\partial J}}{{\partial {self._latex[leaf]}}}"
        return names
