"""Networks as DAGs of ops on named tensors: plain data, no calculus.

* :class:`GraphNetwork` — the graph every derivation works on: nodes in topological order, each
  a SymPy expression of leaves (inputs, targets, parameters, constants) and earlier nodes; the
  objective is one node. In a scalar graph every symbol is a number (a 0-d tensor). In a tensor
  graph (``shapes`` given) a symbol is a whole tensor: a layer's vector of one example, a weight
  matrix; products of tensors are elementwise and the registry's tensor functions (W a, the
  loss averaged over a batch) do the rest.
* :class:`LayeredNetwork` — a fully connected network as a spec gives it (sizes, activation
  names, loss); :meth:`LayeredNetwork.graph` composes it from registry ops into a tensor
  :class:`GraphNetwork`: z = W a + b, a = f(z), L, s, J = L + s.

Every symbol is real (see :func:`symbackprop.registry.real`).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Literal, Mapping

import numpy as np
import sympy
from sympy import Symbol

from symbackprop.core.notation import Names
from symbackprop.registry import FrobSq, LossMean, MatVec, activation, kernels, loss, real

Notation = Literal["graph", "node", "layer", "d2l"]

# Names the generated train.py and the notation use for themselves: a network's own names may not
# be one of these (a parameter named eta would be the learning rate's symbol; one named lr, shape or
# dict a local variable or a builtin the generated step uses).
RESERVED_NAMES = frozenset(
    {"np", "xp", "jax", "math", "array_namespace", "broadcast_shape", "unbroadcast"}
    | {"values", "inputs", "lr", "grads", "new", "shape", "eta", "alpha", "E", "J"}
    | {"forward", "backward", "loss", "step", "train", "main", "initial_values"}
    | {"PARAMETERS", "TRAINABLE", "INPUTS", "TARGETS", "LEAVES", "LEARNING_RATE", "EPOCHS", "WEIGHT_DECAY"}
    | {"SEED", "INIT_SCALE"}
    | set(kernels())
    | set(dir(builtins))
)


D2L_SHAPE = "d2l notation is for one hidden layer without biases (x, z, h, o), as d2l's section 5.3 draws it"


class NetworkError(ValueError):
    """A network that cannot be derived (undefined symbol, cycle, missing objective...)."""


def _real_symbols(expr: sympy.Expr) -> dict[Symbol, Symbol]:
    return {s: real(s.name) for s in expr.free_symbols if isinstance(s, Symbol) and not s.is_real}


@dataclass
class GraphNetwork:
    """A computational graph of scalars or of tensors.

    ``latex_names`` overrides how a symbol prints in LaTeX (w_41 -> ``w_{41}``); ``delta_names``
    gives the error-term symbol of a node (net_4 -> delta_4) where the notation has one, else
    the engine names it d(objective)/d(node). ``target_groups`` lists targets known to sum to
    one (softmax + cross-entropy). ``shapes`` makes it a tensor graph: the shape of every tensor
    (one example's for data, which then comes in batches of m).
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
    title_zh: str = ""  # the title of the Chinese documents (built-in examples have one)
    latex_names: dict[Symbol, str] = field(default_factory=dict)
    delta_names: dict[Symbol, Symbol] = field(default_factory=dict)
    target_groups: tuple[tuple[Symbol, ...], ...] = ()
    learning_rate_symbol: Symbol = field(default_factory=lambda: real("eta"))
    epochs: int = 20  # of the generated script's training run
    constants: dict[Symbol, float] = field(default_factory=dict)  # e.g. lambda (weight decay)
    shapes: dict[Symbol, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._make_real()
        self.validate()

    def _make_real(self) -> None:
        """Networks built from plain sympy.symbols get real ones: |y - t| then prints as code."""
        swap: dict[Symbol, Symbol] = {}
        for s in (*self.inputs, *self.targets, *self.parameters, *self.constants, *self.nodes, self.objective):
            if not s.is_real:
                swap[s] = real(s.name)
        for expr in self.nodes.values():
            swap.update(_real_symbols(expr))
        if not swap:
            return
        r = lambda s: swap.get(s, s)  # noqa: E731
        self.inputs = tuple(map(r, self.inputs))
        self.targets = tuple(map(r, self.targets))
        self.parameters = {r(k): v for k, v in self.parameters.items()}
        self.constants = {r(k): v for k, v in self.constants.items()}
        self.frozen = frozenset(map(r, self.frozen))
        self.nodes = {r(k): v.xreplace(swap) for k, v in self.nodes.items()}
        self.objective = r(self.objective)
        self.example = {r(k): v for k, v in self.example.items()}
        self.latex_names = {r(k): v for k, v in self.latex_names.items()}
        self.delta_names = {r(k): r(v) for k, v in self.delta_names.items()}
        self.target_groups = tuple(tuple(map(r, g)) for g in self.target_groups)
        self.learning_rate_symbol = r(self.learning_rate_symbol)
        self.shapes = {r(k): v for k, v in self.shapes.items()}

    @property
    def leaves(self) -> tuple[Symbol, ...]:
        return (*self.inputs, *self.targets, *self.parameters)

    @property
    def trainable(self) -> tuple[Symbol, ...]:
        return tuple(p for p in self.parameters if p not in self.frozen)

    @property
    def tensor(self) -> bool:
        """A tensor graph: symbols stand for whole tensors, data comes in batches."""
        return bool(self.shapes)

    def validate(self) -> None:
        """Every node uses only leaves and earlier nodes; the objective is a node."""
        known = set(self.leaves) | set(self.constants)
        if len(known) != len(self.leaves) + len(self.constants):
            raise NetworkError(f"{self.name}: a leaf name is used twice")
        for s in (*self.leaves, *(n for n in self.nodes if n != self.objective)):
            if s.name in RESERVED_NAMES and not self.tensor:
                raise NetworkError(f"{self.name}: the name {s.name!r} is reserved (the derivation or train.py uses it)")
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
        missing = [s.name for s in (*self.inputs, *self.targets) if s not in self.example]
        if self.example and missing:
            raise NetworkError(f"{self.name}: the example gives no value to {', '.join(missing)}")


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
    notation: Literal["node", "layer", "d2l"] = "layer"
    learning_rate: float = 0.5
    epochs: int = 20
    seed: int = 0
    init_scale: float = 0.5
    example: dict[str, list] = field(default_factory=dict)
    title: str = ""
    title_zh: str = ""  # the title of the Chinese documents (built-in examples have one)

    def __post_init__(self) -> None:
        if len(self.activations) != len(self.sizes) - 1:
            raise NetworkError(f"{self.name}: {len(self.activations)} activations for {len(self.sizes) - 1} layers")
        if self.notation == "d2l" and (self.depth != 2 or self.bias):
            raise NetworkError(f"{self.name}: {D2L_SHAPE}")
        for key, width in (("x", self.sizes[0]), ("t", self.sizes[-1])):
            rows = self.example.get(key)
            if rows is not None and (np.ndim(rows) != 2 or np.shape(rows)[1] != width):
                raise NetworkError(f"{self.name}: example {key} must be rows of {width} numbers, one example a row")

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.sizes) - 1

    @property
    def unit_count(self) -> int:
        return sum(self.sizes)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.parameter_shapes())

    def parameter_shapes(self) -> Mapping[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(1, self.depth + 1):
            shapes[f"W{layer}"] = (self.sizes[layer], self.sizes[layer - 1])
            if self.bias:
                shapes[f"b{layer}"] = (self.sizes[layer],)
        return shapes

    def initial_parameters(self) -> dict[str, np.ndarray]:
        """Small random parameters from the spec's seed (the generated code draws the same ones)."""
        rng = np.random.default_rng(self.seed)
        return {name: rng.normal(0.0, self.init_scale, shape) for name, shape in self.parameter_shapes().items()}

    def names(self) -> Names:
        return Names(self.notation, self.sizes)

    def graph(self, names: Names | None = None) -> GraphNetwork:
        """The tensor graph: z^(l+1) = W^(l) a^(l) + b^(l), a^(l+1) = f(z^(l+1)), the objective."""
        names = names or self.names()
        nodes: dict[Symbol, sympy.Expr] = {}
        shapes: dict[Symbol, tuple[int, ...]] = {}
        a = names.out_vec(1)
        parameters: dict[Symbol, float] = {}
        for layer in range(1, self.depth + 1):
            W, b = names.matrix(layer), names.bias_vec(layer)
            z, y = names.net_vec(layer + 1), names.out_vec(layer + 1)
            parameters[W] = 0.0
            affine = MatVec(W, a)
            if self.bias:
                parameters[b] = 0.0
                affine = sympy.Add(affine, b, evaluate=False)  # printed in the textbook's order
            nodes[z] = affine
            nodes[y] = activation(self.activations[layer - 1]).apply(z)
            a = y
        t = names.target_vec()
        term = loss(self.loss).term(a, t)
        objective = names.objective()
        lam = names.weight_decay()
        if self.weight_decay:  # J = L + s, the regularisation term its own node
            data, reg = names.data_loss(), names.regularisation()
            nodes[data] = LossMean(term)
            nodes[reg] = lam / 2 * sympy.Add(*(FrobSq(names.matrix(layer)) for layer in range(1, self.depth + 1)))
            nodes[objective] = sympy.Add(data, reg, evaluate=False)
        else:
            nodes[objective] = LossMean(term)
        for s in (*nodes, *parameters, a, t, names.out_vec(1)):
            shapes[s] = names.shape(s)
        return GraphNetwork(
            name=self.name,
            title=self.title,
            title_zh=self.title_zh,
            inputs=(names.out_vec(1),),
            targets=(t,),
            parameters=parameters,
            nodes=nodes,
            objective=objective,
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            notation=self.notation,
            latex_names=names.latex,
            delta_names={names.net_vec(layer): names.delta_vec(layer) for layer in range(2, len(self.sizes) + 1)},
            target_groups=((t,),) if loss(self.loss).targets_sum_to_one else (),
            learning_rate_symbol=names.learning_rate(),
            constants={lam: self.weight_decay} if self.weight_decay else {},
            shapes=shapes,
        )
