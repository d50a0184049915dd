"""A network of layers one unit at a time: the scalar graph of a small batch, for the checks.

The tensor graph of a :class:`~symbackprop.core.sequential.SequentialNetwork` names whole
tensors (a feature map (C, H, W) is one symbol). :func:`sequential_unit_graph` writes it out
entry by entry for a batch of ``m`` examples: one scalar node per entry of every tensor of every
example (``z1__0_1_2_3`` is z^(1) of example 0 at channel 1, row 2, column 3), the parameters
entry by entry (``W1__0_0_1_2``), and the objective as the batch mean of the examples' losses
plus the weight decay. Each op's own ``units`` method (the registry block) says what one entry
is: a convolution's a sum over channels and kernel offsets, max pooling's the Max of a window,
batch norm's a quotient over the whole batch (which is why the batch is explicit here: with one
example batch norm would be a constant). The scalar engine derives that graph by reverse
accumulation, knowing nothing of tensors, and :mod:`symbackprop.analysis.consistency` compares
the tensor equations with it entry by entry; the checker of students' answers reads its
symbols.

:class:`Entries` is the context the ops' ``units`` methods receive, with the same protocol as
:class:`~symbackprop.calculus.expand.Units` (``entry``, ``component``, ``shape``, ``width``): an
index is an int for a vector and a tuple for a feature map or kernel.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import sympy
from sympy import Symbol

from symbackprop.calculus.derive import GraphDerivation, derive_graph
from symbackprop.core.network import GraphNetwork
from symbackprop.registry import TensorFunction, TimeStep, real

SEPARATOR = "__"  # between a tensor's name and an entry's indices (W1_1 is a residual body's W)


def entry_name(name: str, index: tuple[int, ...], example: int | None = None) -> str:
    """The scalar's name: tensor, then the example (for data), then the indices."""
    parts = ([str(example)] if example is not None else []) + [str(i) for i in index]
    return name + SEPARATOR + "_".join(parts) if parts else name


def vector_width(shapes: dict[Symbol, tuple[int, ...]], expr: sympy.Expr) -> int:
    """The units of the vectors in an elementwise expression (softmax's, a loss's sum)."""
    for s in sorted(expr.free_symbols, key=str):
        if s in shapes and len(shapes[s]) == 1:
            return shapes[s][0]
    raise ValueError(f"no vector in {expr}")


def indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every index of a tensor of this shape, in C order."""
    return list(itertools.product(*(range(n) for n in shape)))


class Entries:
    """Entries of tensor expressions of a tensor graph, for a batch of ``m`` examples."""

    def __init__(self, graph: GraphNetwork, m: int):
        self.graph = graph
        self.m = m
        self.example = 0  # the example whose entries ``component`` writes
        self.data = {*graph.inputs, *graph.targets, *(n for n in graph.nodes if graph.shapes[n] != ())}
        self.batch = real("m")
        self.scalars: dict[Symbol, sympy.Expr] = {}  # L, s, J once written out
        self.node: Symbol | None = None  # the tensor whose entries are being written
        self.shared_nodes: dict[Symbol, sympy.Expr] = {}  # batch statistics: a node each, written once

    def shared(self, label: str, make) -> Symbol:
        """A quantity several entries read (a batch mean or variance), as a node of its own, so
        that each entry refers to it by symbol and no entry's expression grows with the batch."""
        s = real(f"{self.node.name}{SEPARATOR}{label}")
        if s not in self.shared_nodes:
            self.shared_nodes[s] = make()
        return s

    # --- the protocol the registry's ops use -----------------------------------------------------
    def shape(self, s: Symbol) -> tuple[int, ...]:
        return self.graph.shapes[s]

    def _index(self, k, j=None) -> tuple[int, ...]:
        if isinstance(k, tuple):
            return k
        return (k,) if j is None else (k, j)

    def entry(self, s: Symbol, k, j=None) -> Symbol:
        index = self._index(k, j)
        if len(index) != len(self.shape(s)):
            raise IndexError(f"{s} has no entry {index}: its shape is {self.shape(s)}")
        example = self.example if s in self.data else None
        return real(entry_name(s.name, index, example))

    def entry_of(self, s: Symbol, index: tuple[int, ...], example: int) -> Symbol:
        """Entry ``index`` of example ``example`` (batch statistics read other examples)."""
        return real(entry_name(s.name, index, example))

    def component(self, expr: sympy.Expr, k=0, j=None) -> sympy.Expr:
        """Entry (k, j) (or the index tuple k) of a tensor expression of the current example."""
        if isinstance(k, tuple) and len(k) == 1:  # a vector's entry is its int index
            k = k[0]
        if expr.is_Number:
            return expr
        if expr.is_Symbol:
            if expr in self.scalars:
                return self.scalars[expr]
            if expr == self.batch:
                return sympy.Integer(self.m)
            if expr in self.graph.shapes and self.graph.shapes[expr] != ():
                return self.entry(expr, k, j)
            return expr  # a constant (lambda) or a scalar
        if isinstance(expr, TensorFunction):
            if expr.batch_reduces:
                return self.batch_mean(lambda: expr.units(self, k, j))
            return expr.units(self, k, j)
        return expr.func(*(self.component(a, k, j) for a in expr.args))

    def component_of(self, expr: sympy.Expr, index, example: int) -> sympy.Expr:
        """Entry ``index`` of example ``example`` of a tensor expression."""
        current, self.example = self.example, example
        try:
            return self.component(expr, index)
        finally:
            self.example = current

    def batch_mean(self, term) -> sympy.Expr:
        """(1/m) sum over the examples of what ``term()`` writes for the current one."""
        current = self.example
        try:
            parts = []
            for n in range(self.m):
                self.example = n
                parts.append(term())
        finally:
            self.example = current
        return sympy.Add(*parts) / self.m

    def width(self, expr: sympy.Expr) -> int:
        return vector_width(self.graph.shapes, expr)


def _target_of(target: sympy.Expr) -> Symbol:
    """The target tensor of a group's member (t itself, or t of a step's row y_t)."""
    return target.args[0] if isinstance(target, TimeStep) else target


def _group_indices(graph: GraphNetwork, target: sympy.Expr) -> list[tuple[int, ...]]:
    """The entries of a target whose units sum to one: all of a target vector's, or one step's
    row of a per-step loss's targets (the group is y_t = TimeStep(t, step, T))."""
    if isinstance(target, TimeStep):
        name, step = target.args[0], int(target.args[1])
        return [(step, *index) for index in indices(graph.shapes[name][1:])]
    return indices(graph.shapes[target])


BATCH = 2  # examples of the per-unit instance: batch norm's statistics need more than one


@dataclass(frozen=True)
class UnitGraph:
    """The scalar graph of a tensor graph for ``m`` examples, and where each entry came from."""

    network: GraphNetwork
    m: int
    # scalar symbol -> (tensor symbol, index, example or None)
    origin: dict[Symbol, tuple[Symbol, tuple[int, ...], int | None]]
    scalars: dict[Symbol, sympy.Expr]  # the loss L, the weight decay s, J, written out
    shapes: dict[Symbol, tuple[int, ...]]  # of the tensors, one example's

    @cached_property
    def derivation(self) -> GraphDerivation:
        """The scalar engine's derivation of the per-unit graph, as the chain rule writes it."""
        return derive_graph(self.network, simplify=False)


def sequential_unit_graph(graph: GraphNetwork, m: int = BATCH) -> UnitGraph:
    """The tensor graph ``graph`` written out entry by entry for ``m`` examples."""
    ctx = Entries(graph, m)
    origin: dict[Symbol, tuple] = {}
    nodes: dict[Symbol, sympy.Expr] = {}
    for node, expr in graph.nodes.items():
        shape = graph.shapes[node]
        if shape == ():  # the loss, the weight decay, the objective: written into J
            ctx.scalars[node] = ctx.component(expr)
            continue
        ctx.node = node
        for n in range(m):
            ctx.example = n
            for index in indices(shape):
                s = ctx.entry(node, index)
                value = ctx.component(expr, index)
                for shared in [k for k in ctx.shared_nodes if k not in nodes]:  # before the first reader
                    nodes[shared] = ctx.shared_nodes[shared]
                nodes[s] = value
                origin[s] = (node, index, n)
    ctx.example = 0
    objective = graph.objective
    nodes[objective] = ctx.scalars[objective]

    def data(tensors) -> tuple[Symbol, ...]:
        out = []
        for t in tensors:
            for n in range(m):
                for index in indices(graph.shapes[t]):
                    s = real(entry_name(t.name, index, n))
                    out.append(s)
                    origin[s] = (t, index, n)
        return tuple(out)

    inputs, targets = data(graph.inputs), data(graph.targets)
    parameters: dict[Symbol, float] = {}
    for p in graph.parameters:
        for index in indices(graph.shapes[p]):
            s = real(entry_name(p.name, index))
            parameters[s] = 0.0
            origin[s] = (p, index, None)
    groups = tuple(
        tuple(real(entry_name(_target_of(t).name, index, n)) for index in _group_indices(graph, t))
        for (t,) in graph.target_groups
        for n in range(m)
    )
    net = GraphNetwork(
        name=graph.name,
        title=graph.title,
        inputs=inputs,
        targets=targets,
        parameters=parameters,
        nodes=nodes,
        objective=objective,
        learning_rate=graph.learning_rate,
        target_groups=groups,
        learning_rate_symbol=graph.learning_rate_symbol,
        constants=dict(graph.constants),
    )
    return UnitGraph(net, m, origin, dict(ctx.scalars), dict(graph.shapes))
