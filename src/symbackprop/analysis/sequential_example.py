"""The worked example of a network of layers: its tensor graph evaluated at the spec's example.

:func:`sequential_example` takes a :class:`~symbackprop.calculus.sequential.SequentialDerivation`
and evaluates its tensor equations (forward values, error terms, gradients) in float64 with the
registry ops' own array code (each op's ``_arraycode`` and kernels, bound to NumPy), on the
whole batch of the spec's ``[example]``: batch norm couples the examples, and a parameter's
gradient is the batch mean, exactly as one call of the generated ``step`` computes it. The
parameters and the dropout masks are the ones train.py's ``initial_values`` draws from the
spec's seed (the same generator, the same order: the weights, then the masks).

The document shows the first example of the batch: each layer's values beside their own error
terms (per example: m times d(objective)/d(node), as train.py's ``backward`` returns them), each
parameter with its gradient and its value after one update (weight decay included), the
objective, and for the first convolution the input, kernel and output grids of its first
channel and filter with the window that gives output entry (0, 0); for a sequence model, the
paths of its gradient through time (:mod:`~symbackprop.analysis.sequence_paths`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy
from sympy import Symbol

from symbackprop.analysis.sequence_paths import sequence_paths
from symbackprop.analysis.tensor_values import evaluate_tensor as _evaluate
from symbackprop.calculus.sequential import SequentialDerivation
from symbackprop.registry import Conv2d, LossMean

MAX_EXAMPLE_ENTRIES = 400  # entries of one example's tensors (all layers) the tables show at most


@dataclass(frozen=True)
class TensorRow:
    """One value of a layer (z, a, x-hat...) of the first example, beside its own error term
    where the derivation names one (None where it is inlined into the pre-activation's)."""

    symbol: Symbol
    value: np.ndarray
    delta: Symbol | None = None
    delta_value: np.ndarray | None = None


@dataclass(frozen=True)
class LayerValues:
    """A layer's rows: ``number`` its place in [[layers]] (from 1), ``kind`` its type."""

    number: int
    kind: str
    rows: list[TensorRow]


@dataclass(frozen=True)
class ParameterValues:
    symbol: Symbol
    gradient_symbol: Symbol
    value: np.ndarray
    gradient: np.ndarray
    updated: np.ndarray


@dataclass(frozen=True)
class ConvWindow:
    """The grids of a convolution for its first input channel and first filter: the input map
    (padded), the kernel, the output z (its first channel, all input channels summed, bias
    added), the window of the input that output entry (0, 0) reads (rows, columns of the padded
    input), the stride and padding; ``layer`` its number, ``symbols`` (input, kernel, output)."""

    layer: int
    symbols: tuple[Symbol, Symbol, Symbol]
    input: np.ndarray
    kernel: np.ndarray
    output: np.ndarray
    window: tuple[int, int]  # kernel size k: rows and columns 0..k-1 of the padded input
    stride: int
    padding: int
    channels: int  # input channels summed into one output entry
    bias: float | None


@dataclass(frozen=True)
class SequentialExample:
    """The worked example of a network of layers (see the module docstring)."""

    rows_in_data: int
    inputs: list[tuple[Symbol, np.ndarray]]  # x, and the dropout masks, of the first example
    targets: tuple[Symbol, np.ndarray]
    layers: list[LayerValues]
    parameters: list[ParameterValues]
    objective: tuple[Symbol, float]
    example_loss: float  # the first example's own loss (without weight decay)
    conv: ConvWindow | None = None
    paths: list = field(default_factory=list)  # the sequence layers' paths (analysis.sequence_paths)
    values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # every value, whole batch
    deltas: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # by node name, whole batch
    gradients: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # by leaf name

    @property
    def finite(self) -> bool:
        arrays = [*self.values.values(), *self.deltas.values(), *self.gradients.values()]
        return all(bool(np.all(np.isfinite(a))) for a in arrays)


def initial_point(net) -> dict[str, np.ndarray] | None:
    """The values train.py's ``initial_values`` starts from: the parameters drawn from the seed
    (normal(0, init_scale / sqrt(fan_in)) for the weights; biases and beta 0, gamma 1), the
    spec's example, then a dropout mask per dropout layer from the same generator. None without
    an example."""
    if not net.example:
        return None
    rng = np.random.default_rng(net.seed)
    point: dict[str, np.ndarray] = net.initial_parameters(rng)
    point["x"] = np.asarray(net.example["x"], dtype=float)
    point["t"] = np.asarray(net.example["t"], dtype=float)
    m = point["x"].shape[0]
    for name, (shape, rate) in net.masks().items():
        point[name] = np.asarray(rng.random((m, *shape)) >= rate, dtype=float)
    return point


def _batch_values(d: SequentialDerivation, point: dict[str, np.ndarray]):
    """Forward values (by node name), error terms (by node name) and gradients (by leaf name)."""
    graph, tensor = d.graph, d.tensor
    env: dict[str, np.ndarray] = dict(point)
    env["m"] = np.float64(point["x"].shape[0])
    env.update({c.name: np.float64(v) for c, v in graph.constants.items()})
    values: dict[str, np.ndarray] = {}
    for node, expr in graph.nodes.items():
        values[node.name] = env[node.name] = _evaluate(expr, env)
    deltas: dict[str, np.ndarray] = {}
    for node in reversed(list(graph.nodes)):
        if node.name in tensor.deltas:
            deltas[node.name] = _evaluate(tensor.deltas[node.name], env)
            env[tensor.delta_symbols[node].name] = deltas[node.name]
    gradients = {leaf: _evaluate(expr, env) for leaf, expr in tensor.gradients.items()}
    return values, deltas, gradients


def _loss_of_first(d: SequentialDerivation, env: dict[str, np.ndarray]) -> float:
    """The first example's loss: the objective's loss term summed over the units, example 0."""
    graph = d.graph
    data = next(e for e in graph.nodes.values() if isinstance(e, LossMean))
    term = data.args[0]
    one = {k: (v[:1] if isinstance(v, np.ndarray) and v.ndim and k in _per_example(d) else v) for k, v in env.items()}
    one["m"] = np.float64(1.0)
    return float(np.sum(_evaluate(term, one)))


def _per_example(d: SequentialDerivation) -> set[str]:
    g = d.graph
    return {s.name for s in (*g.inputs, *g.targets, *g.nodes)}


def _conv_window(d: SequentialDerivation, point, values) -> ConvWindow | None:
    """The first convolution's grids, first channel and filter (see :class:`ConvWindow`)."""
    net = d.network
    for tag, layer, before, _ in net._walk():
        if layer.type != "conv2d":
            continue
        names = {s.name: s for s in (*d.graph.nodes, *d.graph.inputs, *d.graph.parameters)}
        z = names[f"z{tag}"]
        conv = d.graph.nodes[z]
        source = next(a for a in sympy.preorder_traversal(conv) if isinstance(a, Conv2d)).args[1]
        field_ = values if source.name in values else point
        first = np.asarray(field_[source.name][0, 0], dtype=float)
        p, s, k = layer.padding, layer.step, layer.kernel
        padded = np.pad(first, p) if p else first
        bias = float(point[f"b{tag}"][0]) if layer.bias else None
        return ConvWindow(
            int(tag.split("_")[0]),
            (source, names[f"W{tag}"], z),
            padded,
            np.asarray(point[f"W{tag}"][0, 0], dtype=float),
            np.asarray(values[z.name][0, 0], dtype=float),
            (k, k),
            s,
            p,
            before[0],
            bias,
        )
    return None


def _by_node(graph, deltas: dict[str, np.ndarray]):
    """(node, error term) for every node that has one, from the error terms by node name."""
    return [(node, deltas[node.name]) for node in graph.nodes if node.name in deltas]


def sequential_example(d: SequentialDerivation) -> SequentialExample | None:
    """The worked example (module docstring), or None when the spec has no example or one
    example's tensors have more than MAX_EXAMPLE_ENTRIES entries."""
    net = d.network
    point = initial_point(net)
    if point is None or net.unit_count > MAX_EXAMPLE_ENTRIES:
        return None
    values, deltas, gradients = _batch_values(d, point)
    graph, tensor = d.graph, d.tensor
    env = {**point, **values, "m": np.float64(point["x"].shape[0])}
    env.update({c.name: np.float64(v) for c, v in graph.constants.items()})
    layers: dict[int, LayerValues] = {}
    for node in graph.nodes:
        if graph.shapes.get(node, ()) == ():
            continue  # the objective and its parts: scalars of the batch
        number = d.layer_of[node]
        delta = tensor.delta_symbols.get(node)
        row = TensorRow(
            node,
            values[node.name][0],
            delta,
            deltas[node.name][0] if delta is not None else None,
        )
        if number not in layers:
            layers[number] = LayerValues(number, net.layers[number - 1].type, [])
        layers[number].rows.append(row)
    rate = net.learning_rate
    params = [
        ParameterValues(
            p,
            d.gradient_symbol(p),
            point[p.name],
            gradients[p.name],
            point[p.name] - rate * gradients[p.name],
        )
        for p in graph.parameters
    ]
    inputs = [(s, point[s.name][0]) for s in graph.inputs]
    (t,) = graph.targets
    objective = graph.objective
    env.update({tensor.delta_symbols[node].name: value for node, value in _by_node(graph, deltas)})
    return SequentialExample(
        rows_in_data=int(point["x"].shape[0]),
        inputs=inputs,
        targets=(t, point[t.name][0]),
        layers=[layers[k] for k in sorted(layers)],
        parameters=params,
        objective=(objective, float(values[objective.name])),
        example_loss=_loss_of_first(d, env),
        conv=_conv_window(d, point, values),
        paths=sequence_paths(d, env),
        values=values,
        deltas=deltas,
        gradients=gradients,
    )
