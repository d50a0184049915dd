"""The tensor form checked against the per-unit derivation, component by component.

Before a document prints a tensor equation, every one is compared with what the scalar engine
derived for the units of a small instance: the same layers, activations and loss, at most
``CHECK_WIDTH`` units a layer (the tensor equations do not depend on the widths, and the
per-unit graph of a narrow network is small), and a run of hidden layers with the same
activation cut to ``CHECK_RUN`` (the engine writes the equations of each kind of layer by one
rule, so a deep stack of tanh layers is checked by two of them; the cost stays flat in depth). Each component of each equation's right-hand
side, written out in per-unit symbols, must expand to the per-unit equation of the component of
its target: forward values, error terms, the loss and weight-decay terms, every gradient.
Updates restate the gradient and J = L + s is checked through L and s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import sympy

from symbackprop.calculus.derive import derive_graph
from symbackprop.calculus.expand import Units, unit_graph
from symbackprop.calculus.layered import tensor_equations
from symbackprop.core.network import LayeredNetwork

CHECK_WIDTH = 3
CHECK_RUN = 2


class ConsistencyError(AssertionError):
    """A tensor equation disagrees with the per-unit equations (a bug, never bad input)."""


@dataclass(frozen=True)
class Consistency:
    """How the tensor form was checked: comparisons made, on an instance of these sizes."""

    comparisons: int
    sizes: tuple[int, ...]
    shortened: bool = False  # runs of identical hidden layers were cut


def check_consistency(net: LayeredNetwork) -> Consistency:
    """Check every tensor equation of ``net`` against the per-unit engine on a narrow copy."""
    sizes, acts = _shortened(net)
    small = replace(net, sizes=tuple(min(n, CHECK_WIDTH) for n in sizes), activations=acts, example={})
    names = small.names()
    graph = small.graph(names)
    tensor = derive_graph(graph)
    unit = derive_graph(unit_graph(graph, names))
    units = Units(names)
    objective = unit.network.nodes[unit.network.objective]
    lam = names.weight_decay()
    decay = sympy.Add(*(t for t in sympy.Add.make_args(objective) if t.has(lam)))
    expected_scalars = {names.data_loss(): objective - decay, names.regularisation(): decay, graph.objective: objective}
    # targets that sum to one (one-hot): the last is one minus the others, in both forms alike
    assumed = {g[-1]: 1 - sympy.Add(*g[:-1]) for g in unit.network.target_groups}
    comparisons = 0
    for eq in tensor_equations(tensor, names):
        if eq.kind == "update" or (eq.kind == "loss" and eq.target == graph.objective and net.weight_decay):
            continue
        for k, j in _components(names, eq):
            got = units.component(eq.rhs, k, j)
            if eq.kind == "loss":
                want = expected_scalars[eq.target]
            else:
                unit_symbol = units.entry(eq.target, k, j)
                if eq.kind == "forward":
                    want = unit.network.nodes[unit_symbol]
                elif eq.kind == "delta":
                    want = unit.deltas[unit_symbol.name]
                else:
                    want = unit.gradients[unit_symbol.name]
            if sympy.expand((got - want).xreplace(assumed)) != 0:
                raise ConsistencyError(f"{net.name}: {eq.kind} of {eq.target} at ({k}, {j}): {got} != {want}")
            comparisons += 1
    return Consistency(comparisons, small.sizes, len(acts) < len(net.activations))


def _shortened(net: LayeredNetwork) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Sizes and activations with every run of hidden layers of one activation cut to CHECK_RUN
    (the input, the output layer and the last hidden layer before it are kept)."""
    sizes, acts = [net.sizes[0]], []
    run = 0
    for i, act in enumerate(net.activations):
        last = i >= len(net.activations) - 2
        run = run + 1 if acts and act == acts[-1] else 1
        if run <= CHECK_RUN or last:
            sizes.append(net.sizes[i + 1])
            acts.append(act)
    return tuple(sizes), tuple(acts)


def _components(names, eq) -> list[tuple[int, int | None]]:
    shape = names.shape(eq.target)
    if eq.kind == "loss" or not shape:
        return [(0, None)]
    if len(shape) == 2:
        return [(r, c) for r in range(shape[0]) for c in range(shape[1])]
    return [(k, None) for k in range(shape[0])]


SEQUENTIAL_POINTS = 2
# Relative to each equation's scale. The per-unit forms are the chain rule as written (log of a
# softmax, log(1 - sigmoid)), which lose digits where train.py's stable forms do not: a saturated
# loss differs by 1e-8 between them. A wrong equation differs by far more (a 0.1 % slip fails).
TOLERANCE = 1e-6


def check_sequential(derivation, module, points: int = SEQUENTIAL_POINTS, seed: int = 0) -> Consistency:
    """Check every tensor equation of a network of layers against its per-unit derivation.

    The per-unit graph (``derivation.unit``: every entry of every tensor of a batch of
    ``sequential_units.BATCH`` examples, derived by the scalar engine) and the tensor equations,
    as ``module`` (the generated train.py, whose lines compute exactly those equations) computes
    them, are evaluated at ``points`` random points; every entry of every forward value, loss,
    error term and gradient must agree to ``TOLERANCE`` relative to its scale. The tensor
    equations use kernels (im2col, the arg-max routing) that no symbolic comparison can expand,
    so the comparison is numerical, entry by entry; ties in a pooling window go to the first
    entry in both forms.
    """
    from symbackprop.analysis.evaluate import evaluate_graph
    from symbackprop.analysis.gradcheck import random_values
    from symbackprop.analysis.numeric import evaluate_numpy

    unit = derivation.unit
    m = unit.m
    rng = np.random.default_rng(seed)
    comparisons = 0
    net = derivation.network
    places = _places(unit)
    for _ in range(points):
        values = random_values(net, rng, batch=m)
        forward = {k: np.asarray(v, dtype=float) for k, v in module.forward(values).items()}
        backward = {k: np.asarray(v, dtype=float) for k, v in module.backward(values, inputs=True).items()}
        point = {}
        for s, (tensor, index, example) in unit.origin.items():
            if tensor.name in values:
                array = np.asarray(values[tensor.name], dtype=float)
                point[s.name] = float(array[(example, *index)] if example is not None else array[index])
        nodes, deltas, grads = evaluate_graph(unit.derivation, point)
        deltas = _adjoints(unit.derivation, nodes, deltas)
        for eq in derivation.tensor_equations:
            if eq.kind == "update":
                continue
            name = eq.target.name
            if eq.kind in ("forward", "loss"):
                if name not in forward:
                    continue  # a value train.py folds into another (log a of a softmax)
                if eq.target in unit.scalars:
                    want = np.asarray(evaluate_numpy(unit.scalars[eq.target], {**point, **nodes}), dtype=float)
                else:
                    want = _entries(places, eq.target, nodes, "")
                got = forward[name]
            elif eq.kind == "delta":
                got, want = backward[f"delta_{name}"], m * _entries(places, eq.target, deltas, "delta_")
            else:
                got, want = backward[name], _entries(places, eq.target, grads, "")
            scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
            error = float(np.max(np.abs(got - want))) / scale if want.size else 0.0
            if eq.kind == "loss":  # what rounding in the outputs can do to it: log(1 - a) near a = 1
                error -= ROUNDING * _sensitivity(derivation.graph, places, eq.target, deltas) / scale
            if not error <= TOLERANCE:
                raise ConsistencyError(
                    f"{net.name}: {eq.kind} of {name} differs from the per-unit derivation by {error:.3g}"
                )
            comparisons += want.size
    return Consistency(comparisons, tuple(net.input_shape))


def _adjoints(derivation, nodes: dict, deltas: dict) -> dict:
    """d(objective)/d(node) of every node by "delta_<node>": the engine's error terms, and for
    the nodes it inlines (an activation's output, a reshaped copy) their totals' values."""
    from symbackprop.analysis.numeric import evaluate_numpy

    env = {**nodes, **deltas}
    out = dict(deltas)
    for node in reversed(list(derivation.network.nodes)):
        symbol = derivation.delta_symbols.get(node)
        if symbol is not None:
            out[f"delta_{node.name}"] = deltas[symbol.name]
        elif node in derivation.totals:
            out[f"delta_{node.name}"] = np.asarray(evaluate_numpy(derivation.totals[node], env), dtype=float)
    return out


ROUNDING = 1e-13  # a float64 value's error in the per-unit forms, a hundred times eps and more


def _sensitivity(graph, places: dict, scalar, deltas: dict) -> float:
    """sum |dJ/dv| over the entries v of the tensors a loss term reads (through L and s to J): the
    first-order effect of rounding in those entries, which a saturated output makes large."""
    tensors, todo = set(), [scalar]
    while todo:
        for s in graph.nodes[todo.pop()].free_symbols:
            if s in places:
                tensors.add(s)
            elif s in graph.nodes and graph.shapes.get(s) == ():
                todo.append(s)
    return sum(abs(deltas.get(f"delta_{name}", 0.0)) for t in tensors for name, _ in places[t][1])


def _places(unit) -> dict:
    """Each tensor's shape, batched for data ((m, *shape)), and its scalars' names with their
    places in it: read once, for every equation at every point."""
    places: dict = {}
    for s, (tensor, index, example) in unit.origin.items():
        batched = example is not None
        _, names = places.setdefault(tensor, (((unit.m,) if batched else ()) + unit.shapes[tensor], []))
        names.append((s.name, (example, *index) if batched else index))
    return places


def _entries(places: dict, tensor, values: dict, prefix: str) -> np.ndarray:
    """The per-unit values of a tensor's entries as an array of the tensor's (batched) shape."""
    if tensor not in places:  # a scalar: the loss, the weight decay
        return np.asarray(float(values[prefix + tensor.name]))
    shape, names = places[tensor]
    out = np.zeros(shape)
    for name, place in names:
        out[place] = float(values[prefix + name])
    return out
