"""Networks as SymPy expressions: ordered named nodes over leaves, and an objective.

Two models, both plain data with no calculus in them:

* :class:`GraphNetwork` — the scalar computational graph every derivation works on: nodes in
  topological order, each a SymPy expression of leaves (inputs, targets, parameters) and
  earlier nodes; the objective is one node (the loss E/J or the graph's output f).
* :class:`LayeredNetwork` — a fully connected network given by sizes and activation names,
  vectorised per layer; :mod:`symbackprop.layered` turns it into equations per layer and,
  on request, into a :class:`GraphNetwork` with one node per unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

import sympy
from sympy import Symbol

Notation = Literal["graph", "node", "layer"]


class NetworkError(ValueError):
    """A network that cannot be derived (undefined symbol, cycle, missing objective...)."""


@dataclass
class GraphNetwork:
    """A scalar computational graph.

    ``latex_names`` overrides how a symbol prints in LaTeX (w_41 -> ``w_{41}``);
    ``delta_names`` gives the error-term symbol of a node (net_4 -> delta_4) where the
    notation has one, else the engine names it d(objective)/d(node).
    ``target_groups`` lists targets known to sum to one (softmax + cross-entropy).
    """

    name: str
    inputs: tuple[Symbol, ...]
    nodes: dict[Symbol, sympy.Expr]
    objective: Symbol
    targets: tuple[Symbol, ...] = ()
    parameters: dict[Symbol, float] = field(default_factory=dict)
    frozen: frozenset[Symbol] = frozenset()
    learning_rate: float = 0.1
    example: dict[Symbol, float] = field(default_factory=dict)
    notation: Notation = "graph"
    title: str = ""
    latex_names: dict[Symbol, str] = field(default_factory=dict)
    delta_names: dict[Symbol, Symbol] = field(default_factory=dict)
    target_groups: tuple[tuple[Symbol, ...], ...] = ()
    learning_rate_symbol: Symbol = Symbol("eta")
    epochs: int = 20  # of the generated script's training run
    constants: dict[Symbol, float] = field(default_factory=dict)  # e.g. lambda (weight decay)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def leaves(self) -> tuple[Symbol, ...]:
        return (*self.inputs, *self.targets, *self.parameters)

    @property
    def trainable(self) -> tuple[Symbol, ...]:
        return tuple(p for p in self.parameters if p not in self.frozen)

    def validate(self) -> None:
        """Every node uses only leaves and earlier nodes; the objective is a node."""
        known = set(self.leaves) | set(self.constants)
        if len(known) != len(self.leaves) + len(self.constants):
            raise NetworkError(f"{self.name}: a leaf name is used twice")
        for node, expr in self.nodes.items():
            if node in known:
                raise NetworkError(f"{self.name}: node {node} is defined twice or shadows a leaf")
            unknown = sorted(str(s) for s in expr.free_symbols - known)
            if unknown:
                raise NetworkError(f"{self.name}: node {node} uses {', '.join(unknown)} before it is defined")
            known.add(node)
        if self.objective not in self.nodes:
            raise NetworkError(f"{self.name}: objective {self.objective} is not a node")
        if not set(self.frozen) <= set(self.parameters):
            raise NetworkError(f"{self.name}: frozen names must be parameters")


@dataclass
class LayeredNetwork:
    """A fully connected network: sizes, one activation per weight layer, a loss.

    Objective J = (1/m) sum_i loss(y_i, t_i) + (lambda/2) sum_l ||W^(l)||_F^2 (no bias decay).
    """

    name: str
    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    bias: bool = True
    weight_decay: float = 0.0
    notation: Literal["node", "layer"] = "layer"
    learning_rate: float = 0.5
    epochs: int = 20
    seed: int = 0
    init_scale: float = 0.5
    example: dict[str, list] = field(default_factory=dict)
    title: str = ""

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.sizes) - 1

    @property
    def unit_count(self) -> int:
        return sum(self.sizes)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for layer in range(1, self.depth + 1):
            names.append(f"W{layer}")
            if self.bias:
                names.append(f"b{layer}")
        return tuple(names)

    def parameter_shapes(self) -> Mapping[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(1, self.depth + 1):
            shapes[f"W{layer}"] = (self.sizes[layer], self.sizes[layer - 1])
            if self.bias:
                shapes[f"b{layer}"] = (self.sizes[layer],)
        return shapes
