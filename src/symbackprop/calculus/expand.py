"""Tensor expressions one unit at a time: the bridge between the tensor and the per-unit forms.

:class:`Units` writes out component k (row k, column j of a matrix) of a tensor expression in
per-unit symbols: ``(W^(2))^T delta^(3)`` at unit j becomes ``sum_k W^(2)_kj delta^(3)_k``, term by
term. Each registry tensor function says how (its ``units`` method); elementwise operations
apply unit by unit; batch averages become one example (m = 1), which is what the per-unit graph
describes. :meth:`Units.representative` does the same with sums in sigma notation (``index_form``),
for documents that show one unit of a wide layer.

:func:`unit_graph` expands a whole tensor graph into the scalar graph with one node per unit;
the scalar engine derives it, and :mod:`symbackprop.analysis.consistency` compares the two.
"""

from __future__ import annotations

import numpy as np
import sympy
from sympy import S, Symbol

from symbackprop.core.network import GraphNetwork
from symbackprop.core.notation import Names
from symbackprop.registry import TensorFunction


class Units:
    """Per-unit and sigma-notation components of tensor expressions, in one notation."""

    def __init__(self, names: Names, keep_batch: bool = False):
        """``keep_batch``: the batch size m stays a symbol (the examples of a batch being alike,
        a batch mean is one example's value either way); by default m = 1, one example."""
        self.names = names
        self.keep_batch = keep_batch

    # --- the protocol registry tensor functions use -------------------------------------------
    def shape(self, s: Symbol) -> tuple[int, ...]:
        return self.names.shape(s)

    def entry(self, s: Symbol, k: int, j: int | None = None) -> Symbol:
        if k is None or (j is None and len(self.names.shape(s)) == 2):  # a matrix asked for one index
            raise IndexError(f"{s} has no component ({k}, {j}): the shapes do not fit")
        return self.names.entry(s, k, j)

    def width(self, expr: sympy.Expr) -> int:
        """Number of units of the layer vectors in an elementwise expression."""
        for s in sorted(expr.free_symbols, key=str):
            if s in self.names.roles and self.names.roles[s][0] not in ("matrix",):
                return self.names.shape(s)[0]
        raise ValueError(f"no layer vector in {expr}")

    def component(self, expr: sympy.Expr, k: int, j: int | None = None) -> sympy.Expr:
        """Component k (row k, column j for a matrix-valued expression) in per-unit symbols."""
        if expr.is_Number:
            return expr
        if expr.is_Symbol:
            if expr not in self.names.roles:
                if expr == self.names.batch_size() and not self.keep_batch:
                    return S.One  # m = 1: one example
                return expr
            return self.entry(expr, k, j)
        if isinstance(expr, TensorFunction):
            return expr.units(self, k, j)
        return expr.func(*(self.component(a, k, j) for a in expr.args))

    def running_index(self, name: str = "j") -> Symbol:
        return Symbol(name, integer=True)

    def indexed(self, expr: sympy.Expr, index: Symbol) -> sympy.Expr:
        """An elementwise expression at a running unit index (inside a sum)."""
        if expr.is_Symbol and expr in self.names.roles:
            return self.names.indexed_base(expr)[index]
        if expr.is_Atom:
            return expr
        return expr.func(*(self.indexed(a, index) for a in expr.args))

    def element(self, s: Symbol, *indices) -> sympy.Expr:
        return self.names.indexed_base(s)[indices]

    def bounds(self, s: sympy.Expr, axis: int = 0) -> tuple[int, int]:
        if not s.is_Symbol:
            s = next(x for x in sorted(s.free_symbols, key=str) if x in self.names.roles)
        return self.names.bounds(s, axis)

    def label(self, s: Symbol, axis: int, k: int) -> int:
        return self.names.label(s, axis, k)

    # --- sigma notation ------------------------------------------------------------------------
    def representative(self, expr: sympy.Expr, k: int = 0, j: int | None = None) -> sympy.Expr:
        """Component (k, j) of a tensor expression with every sum over a layer in sigma form."""
        if expr.is_Symbol or expr.is_Number:
            return self.component(expr, k, j)
        if isinstance(expr, TensorFunction):
            return expr.index_form(self, k, j)
        return expr.func(*(self.representative(a, k, j) for a in expr.args))


def _scalar(expr: sympy.Expr, units: Units, inlined: dict) -> sympy.Expr:
    return units.component(expr, 0).xreplace(inlined)


def unit_graph(tensor: GraphNetwork, names: Names, values: dict[str, np.ndarray] | None = None) -> GraphNetwork:
    """The scalar graph of a tensor graph: one node per unit, scalar parts of the objective
    (L, s) inlined into it. ``values`` gives the parameters' numbers (by tensor name)."""
    units = Units(names)
    values = values or {}
    nodes: dict[Symbol, sympy.Expr] = {}
    inlined: dict[Symbol, sympy.Expr] = {}
    for node, expr in tensor.nodes.items():
        shape = tensor.shapes[node]
        if shape == ():
            inlined[node] = _scalar(expr, units, inlined)
            continue
        for k in range(shape[0]):
            nodes[units.entry(node, k)] = units.component(expr, k)
    objective = tensor.objective
    nodes[objective] = inlined[objective]
    inputs = tuple(units.entry(x, i) for x in tensor.inputs for i in range(tensor.shapes[x][0]))
    targets = tuple(units.entry(t, k) for t in tensor.targets for k in range(tensor.shapes[t][0]))
    parameters: dict[Symbol, float] = {}
    by_layer: dict[int, list[Symbol]] = {}
    for p in tensor.parameters:
        by_layer.setdefault(names.roles[p][1], []).append(p)
    for layer, params in by_layer.items():
        rows = names.shape(params[0])[0]
        for k in range(rows):  # row k of W, then b_k: the order the textbooks list them
            for p in params:
                shape = names.shape(p)
                array = values.get(p.name)
                for j in range(shape[1]) if len(shape) == 2 else [None]:
                    index = (k, j) if j is not None else (k,)
                    value = float(array[index]) if array is not None else 0.0
                    parameters[units.entry(p, k, j)] = value
    delta_names = {
        units.entry(z, k): units.entry(d, k) for z, d in tensor.delta_names.items() for k in range(tensor.shapes[z][0])
    }
    groups = tuple(tuple(units.entry(t, k) for k in range(tensor.shapes[t][0])) for (t,) in tensor.target_groups)
    return GraphNetwork(
        name=tensor.name,
        title=tensor.title,
        inputs=inputs,
        targets=targets,
        parameters=parameters,
        nodes=nodes,
        objective=objective,
        learning_rate=tensor.learning_rate,
        epochs=tensor.epochs,
        notation=tensor.notation,
        latex_names=names.latex,
        delta_names=delta_names,
        target_groups=groups,
        learning_rate_symbol=tensor.learning_rate_symbol,
        constants=dict(tensor.constants),
    )
