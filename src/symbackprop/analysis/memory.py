"""What training keeps in memory that prediction does not (d2l, section 5.3.4), counted.

The backward pass reads values the forward pass computed: :func:`memory_use` finds them in the
engine's own matrix-form equations (every symbol the error terms and the parameters' gradients
read), sizes each from the network's shapes (floats per example for data, floats once for a
parameter) and prices them in bytes for a batch (the example's rows) in float32 and float64.

Prediction keeps nothing for later: each forward value can be dropped once the last step that
reads it is done, so the most it ever holds is the largest set of values alive at one step
(:func:`prediction_peak`). Training has to keep every value the backward pass reads until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from sympy import Symbol

from symbackprop.calculus.layered import LayeredDerivation

FLOAT_BYTES = {"float32": 4, "float64": 8}


@dataclass(frozen=True)
class Stored:
    """One value the backward pass reads: per example (data) or once (a parameter)."""

    symbol: Symbol
    role: str  # "input", "label", "intermediate" or "parameter"
    shape: tuple[int, ...]
    read_by: tuple[Symbol, ...]  # the error terms and gradients whose equations read it

    @property
    def floats(self) -> int:
        return prod(self.shape)

    @property
    def per_example(self) -> bool:
        return self.role != "parameter"


@dataclass(frozen=True)
class MemoryUse:
    stored: list[Stored]
    batch: int  # examples in a batch: the rows of the spec's example
    prediction_peak: int  # floats per example a forward pass without backward holds at once
    peak_values: tuple[Symbol, ...]  # which values those are

    @property
    def per_example(self) -> int:
        """Floats per example the backward pass needs kept (inputs, labels, intermediates)."""
        return sum(s.floats for s in self.stored if s.per_example)

    @property
    def intermediates(self) -> int:
        """Floats per example of the forward pass's own values among them."""
        return sum(s.floats for s in self.stored if s.role == "intermediate")

    @property
    def parameters(self) -> int:
        return sum(s.floats for s in self.stored if not s.per_example)

    def batch_bytes(self, dtype: str) -> int:
        """Bytes of the kept data for one batch, parameters not counted."""
        return self.per_example * self.batch * FLOAT_BYTES[dtype]

    def parameter_bytes(self, dtype: str) -> int:
        return self.parameters * FLOAT_BYTES[dtype]

    def prediction_bytes(self, dtype: str) -> int:
        return self.prediction_peak * self.batch * FLOAT_BYTES[dtype]


def prediction_peak(derivation: LayeredDerivation) -> tuple[int, tuple[Symbol, ...]]:
    """The most floats per example a forward pass holds at once when every value is dropped
    after the last step that reads it (the parameters and the loss, which needs labels, aside)."""
    graph = derivation.graph
    data = {s for s, shape in graph.shapes.items() if s not in graph.parameters and shape}
    steps = [(n, e) for n, e in graph.nodes.items() if n in data]
    last_use = {s: i for i, (_, e) in enumerate(steps) for s in e.free_symbols if s in data}
    best: tuple[int, tuple[Symbol, ...]] = (0, ())
    for i, (node, _) in enumerate(steps):
        alive = [s for s in (*graph.inputs, *(n for n, _ in steps[: i + 1])) if s == node or last_use.get(s, -1) >= i]
        floats = sum(prod(graph.shapes[s]) for s in alive)
        if floats > best[0]:
            best = (floats, tuple(alive))
    return best


def memory_use(derivation: LayeredDerivation) -> MemoryUse:
    """The values the matrix-form error terms and parameter gradients read, with their sizes."""
    graph = derivation.graph
    wanted = [
        eq
        for eq in derivation.tensor_equations
        if eq.kind == "delta" or (eq.kind == "gradient" and eq.target in graph.trainable)
    ]
    readers: dict[Symbol, list[Symbol]] = {}
    for eq in wanted:
        for s in sorted(eq.rhs.free_symbols, key=str):
            if graph.shapes.get(s):
                readers.setdefault(s, []).append(eq.lhs)
    order = [*graph.inputs, *graph.targets, *graph.nodes, *graph.parameters]
    roles = {s: "input" for s in graph.inputs} | {s: "label" for s in graph.targets}
    roles |= {s: "parameter" for s in graph.parameters}
    stored = [
        Stored(s, roles.get(s, "intermediate"), graph.shapes[s], tuple(readers[s])) for s in order if s in readers
    ]
    batch = len(derivation.network.example.get("x", [[]])) or 1
    peak, alive = prediction_peak(derivation)
    return MemoryUse(stored, batch, peak, alive)
