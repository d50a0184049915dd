"""Gradient checks of a generated module, used by ``symbackprop check`` and by the tests.

Two independent references for the module's ``backward``:

* finite differences of its ``loss``: a fourth-order central stencil at a step scaled to each
  entry, refined by Richardson extrapolation over two steps; the difference of the two steps plus
  the rounding floor eps |f| / h is the resolution of the estimate;
* the symbolic per-unit equations, evaluated one by one with ``lambdify`` and averaged over the
  batch as the objective is (networks small enough to write out per unit). This path shares no
  code with the generated module but the registry's kernels.

The error of an entry is CS231n's relative error |a - n| / max(|a|, |n|), with the denominator
never below what the finite differences can resolve (their resolution / TOLERANCE) nor below
``FLOOR`` times the largest entry of that gradient: an entry a thousand times smaller than its
neighbours is judged at their scale, so rounding in a saturated softmax is not a failure, while a
wrong gradient still is. Points near a kink (relu at 0, max at a tie) are skipped: there the
derivative jumps and no difference quotient converges; for max pooling that is where two entries
of a window come close to a tie (exact ties are relu's zeros, where no derivative flows, and do
not count). Large parameters are sampled (the largest entries and random ones), and the whole
check stops at a time limit. Networks of layers (:class:`SequentialNetwork`) are checked against
finite differences only, their dropout masks drawn as the step draws them (1 - p of the entries 1).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy

from symbackprop.analysis.evaluate import evaluate_graph
from symbackprop.analysis.numeric import lambdify_numpy
from symbackprop.calculus.layered import PER_UNIT_LIMIT, LayeredDerivation
from symbackprop.calculus.sequential import SequentialDerivation
from symbackprop.core.network import GraphNetwork, LayeredNetwork
from symbackprop.core.sequential import SequentialNetwork
from symbackprop.registry import TensorFunction, kinks_of, loss

TOLERANCE = 1e-7
FLOOR = 1e-3
STEP = 1e-3
KINKED_STEP = 1e-5  # with kinks about, small steps, so few points are too close to one
EPS = np.finfo(float).eps
MAX_ENTRIES = 16  # entries checked per leaf; more are sampled
KINK_MARGIN = 1e-3


def relative_error(a, n, resolution=0.0) -> float:
    """Largest |a - n| / max(|a|, |n|, resolution / TOLERANCE, FLOOR * max|n|) over the entries."""
    a, n = np.asarray(a, dtype=float), np.asarray(n, dtype=float)
    if not a.size:
        return 0.0
    floor = max(FLOOR * float(np.max(np.abs(n))), np.finfo(float).tiny)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), np.maximum(np.asarray(resolution) / TOLERANCE, floor))
    return float(np.max(np.abs(a - n) / scale))


def import_source(source: str, name: str = "generated_train") -> ModuleType:
    """Import generated module text through a temporary file, removed once imported (never
    exec'd from a string)."""
    with tempfile.TemporaryDirectory(prefix="symbackprop-") as folder:
        path = Path(folder) / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules.pop(name, None)
        sys.dont_write_bytecode, before = True, sys.dont_write_bytecode
        try:
            spec.loader.exec_module(module)
        finally:
            sys.dont_write_bytecode = before
    return module


def random_values(
    net: GraphNetwork | LayeredNetwork | SequentialNetwork, rng: np.random.Generator, batch: int = 3
) -> dict:
    """A random point for the checks: targets the loss accepts, values near the example."""
    if isinstance(net, SequentialNetwork):
        values = {name: rng.normal(0.0, 0.7, shape) for name, shape in net.parameter_shapes().items()}
        values["x"] = rng.normal(0.0, 1.0, (batch, *net.input_shape))
        kind, out = loss(net.loss).targets, net.output_shape
        if len(out) == 2:  # a per-step loss: targets (m, T, outputs), each step's of the loss's kind
            values["t"] = np.stack([random_targets(kind, rng, batch, out[1]) for _ in range(out[0])], axis=1)
        else:
            values["t"] = random_targets(kind, rng, batch, out[0])
        for name, (shape, rate) in net.masks().items():
            values[name] = (rng.random((batch, *shape)) >= rate).astype(float)
        return values
    if isinstance(net, LayeredNetwork):
        values = {name: rng.normal(0.0, 0.7, shape) for name, shape in net.parameter_shapes().items()}
        values["x"] = rng.normal(0.0, 1.0, (batch, net.sizes[0]))
        values["t"] = random_targets(loss(net.loss).targets, rng, batch, net.sizes[-1])
        return values
    base = {**{s: 0.5 for s in net.leaves}, **net.parameters, **net.example}
    return {s.name: float(base[s] + rng.normal(0.0, 0.3)) for s in net.leaves}


def random_targets(kind: str, rng: np.random.Generator, batch: int, width: int) -> np.ndarray:
    """Targets of the kind a loss declares: one-hot rows, values in (0, 1), or any reals."""
    if kind == "one-hot":
        return np.eye(width)[rng.integers(0, width, batch)]
    if kind == "unit":
        return rng.uniform(0.05, 0.95, (batch, width))
    return rng.normal(0.0, 1.0, (batch, width))


def _stencil(module: ModuleType, values: dict, name: str, index: tuple, h: float) -> tuple[float, float]:
    """(f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / 12h and the largest |f| it used."""
    value = np.array(values[name], dtype=float)
    fs = {}
    for k in (-2, -1, 1, 2):
        probe = value.copy()
        probe[index] += k * h
        fs[k] = module.loss({**values, name: probe if probe.shape else float(probe)})
    estimate = (fs[-2] - 8 * fs[-1] + 8 * fs[1] - fs[2]) / (12 * h)
    return estimate, max(abs(f) for f in fs.values())


def finite_differences(
    module: ModuleType, values: dict, name: str, entries, step: float = STEP
) -> tuple[np.ndarray, np.ndarray]:
    """Richardson-refined central differences at ``entries`` of one leaf, and their resolution."""
    value = np.asarray(values[name], dtype=float)
    estimates, resolution = [], []
    for index in entries:
        h = step * max(1.0, abs(float(value[index])))
        coarse, f1 = _stencil(module, values, name, index, h)
        fine, f2 = _stencil(module, values, name, index, h / 2)
        estimates.append(fine + (fine - coarse) / 15)
        resolution.append(abs(fine - coarse) / 15 + 4 * EPS * max(f1, f2) / (h / 2))
    return np.array(estimates), np.array(resolution)


def _entries(analytic: np.ndarray, rng: np.random.Generator) -> list[tuple]:
    """Every entry of a small leaf; the largest and random ones of a large one."""
    shape = np.shape(analytic)
    everything = list(np.ndindex(shape))
    if len(everything) <= MAX_ENTRIES:
        return everything
    flat = np.abs(np.asarray(analytic)).ravel()
    largest = [int(i) for i in np.argsort(flat)[-MAX_ENTRIES // 4 :]]
    others = rng.choice(len(everything), size=MAX_ENTRIES - len(largest), replace=False)
    chosen = sorted(set(largest) | {int(i) for i in others})
    return [np.unravel_index(i, shape) for i in chosen]


def _symbolic_layered(derivation: LayeredDerivation, values: dict) -> dict[str, np.ndarray]:
    """Per-unit equations on each example of the batch, averaged as the objective J is."""
    net, names = derivation.network, derivation.names
    x, t = np.asarray(values["x"], dtype=float), np.asarray(values["t"], dtype=float)
    m = x.shape[0]
    env: dict = {names.input(i).name: x[:, i] for i in range(net.sizes[0])}
    env.update({names.target(k).name: t[:, k] for k in range(net.sizes[-1])})
    for layer in range(1, net.depth + 1):
        W = np.asarray(values[f"W{layer}"], dtype=float)
        for k in range(net.sizes[layer]):
            for j in range(net.sizes[layer - 1]):
                env[names.weight(layer, k, j).name] = W[k, j]
            if net.bias:
                env[names.bias(layer, k).name] = float(values[f"b{layer}"][k])
    per_unit = evaluate_graph(derivation.unit_derivation, env)[2]
    column = lambda s: np.broadcast_to(per_unit[s.name], (m,))  # noqa: E731
    grads = {"x": np.stack([column(names.input(i)) for i in range(net.sizes[0])], axis=1) / m}
    for layer in range(1, net.depth + 1):
        rows, cols = net.sizes[layer], net.sizes[layer - 1]
        grads[f"W{layer}"] = np.array(
            [[np.mean(column(names.weight(layer, k, j))) for j in range(cols)] for k in range(rows)]
        )
        if net.bias:
            grads[f"b{layer}"] = np.array([np.mean(column(names.bias(layer, k))) for k in range(rows)])
    return grads


def symbolic_gradients(derivation, values: dict) -> dict[str, np.ndarray] | None:
    """The per-unit equations evaluated at ``values``; None if the network is too large for that."""
    if isinstance(derivation, SequentialDerivation):
        return None  # no per-unit equations for networks of layers yet
    if isinstance(derivation, LayeredDerivation):
        if derivation.network.unit_count > PER_UNIT_LIMIT * 4:
            return None
        return _symbolic_layered(derivation, values)
    return evaluate_graph(derivation, dict(values))[2]


def _tie_gap(sub: TensorFunction, env: dict) -> float:
    """How near a tie an op's input is (max pooling's windows), from its arguments' values."""
    args = [env.get(a.name) if a.is_Symbol else int(a) for a in sub.args]
    if any(a is None for a in args):
        return np.inf
    return float(type(sub).tie_gap(np, *args[: len(args) - 2]))


def has_kinks(graph: GraphNetwork) -> bool:
    return any(kinks_of(type(e)) for expr in graph.nodes.values() for e in sympy.preorder_traversal(expr))


def kink_distance(graph: GraphNetwork, forward: dict, values: dict) -> float:
    """How far the point is from the nearest kink of any function in the graph (inf if none):
    the arguments of relu, abs, ... from their kinks, and the gaps between max's arguments."""
    env = {**{k: np.asarray(v, dtype=float) for k, v in values.items()}, **forward}
    env.update({c.name: v for c, v in graph.constants.items()})
    nearest = np.inf
    for expr in graph.nodes.values():
        for sub in sympy.preorder_traversal(expr):
            kinks = kinks_of(type(sub))
            if not kinks or not isinstance(sub, sympy.Basic) or not sub.args:
                continue
            if isinstance(sub, TensorFunction):
                nearest = min(nearest, _tie_gap(sub, env))
                continue
            gaps = (
                [a - b for i, a in enumerate(sub.args) for b in sub.args[i + 1 :]]
                if len(sub.args) > 1
                else [sub.args[0]]
            )
            for gap in gaps:
                args = sorted(gap.free_symbols, key=lambda s: s.name)
                if any(a.name not in env for a in args):
                    continue
                with np.errstate(all="ignore"):
                    at = np.asarray(lambdify_numpy(args, gap)(*(env[a.name] for a in args)), dtype=float)
                for kink in kinks:
                    nearest = min(nearest, float(np.nanmin(np.abs(at - kink))) if at.size else np.inf)
    return nearest


@dataclass
class CheckRow:
    leaf: str
    numeric: float  # worst relative error against finite differences
    symbolic: float | None  # against the symbolic per-unit gradient, None if not run
    entries: int = 0  # entries compared per point


@dataclass
class CheckReport:
    network: str
    points: int
    rows: list[CheckRow] = field(default_factory=list)
    note: str = ""
    error: str = ""  # why no point could be checked

    @property
    def worst(self) -> float:
        errors = [r.numeric for r in self.rows] + [r.symbolic for r in self.rows if r.symbolic is not None]
        return max(errors, default=0.0)

    @property
    def passed(self) -> bool:
        return not self.error and self.points > 0 and self.worst < TOLERANCE

    def table(self) -> str:
        if self.error:
            return f"FAIL: {self.error}"
        lines = [f"{'leaf':<12} {'entries':>8} {'vs finite differences':>22} {'vs symbolic (lambdify)':>24}"]
        for r in self.rows:
            sym = "skipped" if r.symbolic is None else f"{r.symbolic:.2e}"
            lines.append(f"{r.leaf:<12} {r.entries:>8} {r.numeric:>22.2e} {sym:>24}")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: worst relative error {self.worst:.2e} over {self.points} random points (tolerance {TOLERANCE:g})"
        )
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def check_derivation(
    derivation, module: ModuleType, points: int = 3, seed: int = 0, time_limit: float = 60.0
) -> CheckReport:
    """Compare the module's backward with finite differences and with the symbolic gradients."""
    start = time.monotonic()
    net = derivation.network
    graph = derivation.graph if isinstance(derivation, (LayeredDerivation, SequentialDerivation)) else net
    rng = np.random.default_rng(seed)
    step = KINKED_STEP if has_kinks(graph) else STEP
    worst: dict[str, list[float]] = {}
    worst_sym: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    ran_symbolic, done, notes = True, 0, []
    for _ in range(points):
        if done and time.monotonic() - start > time_limit:
            notes.append(f"stopped after {done} points: the time limit of {time_limit:g} s was reached")
            break
        values = _usable_point(graph, net, module, rng)
        if values is None:
            if not done:
                return CheckReport(
                    net.name,
                    0,
                    error=f"{net.name}: no random point with a finite objective away from kinks in 50 tries",
                )
            break
        analytic = module.backward(values, inputs=True)
        symbolic = symbolic_gradients(derivation, values)
        ran_symbolic = ran_symbolic and symbolic is not None
        for leaf in (*module.INPUTS, *module.PARAMETERS):
            entries = _entries(analytic[leaf], rng)
            numeric, resolution = finite_differences(module, values, leaf, entries, step)
            picked = np.array([np.asarray(analytic[leaf], dtype=float)[i] for i in entries])
            worst.setdefault(leaf, []).append(relative_error(picked, numeric, resolution))
            counts[leaf] = len(entries)
            if symbolic is not None:
                worst_sym.setdefault(leaf, []).append(relative_error(analytic[leaf], symbolic[leaf]))
        done += 1
    rows = [
        CheckRow(leaf, max(errs), max(worst_sym[leaf]) if leaf in worst_sym else None, counts[leaf])
        for leaf, errs in worst.items()
    ]
    if not ran_symbolic:
        why = (
            "no per-unit equations for a network of layers yet"
            if isinstance(derivation, SequentialDerivation)
            else "too many units for per-unit evaluation"
        )
        notes.append(f"symbolic comparison skipped: {why}")
    return CheckReport(net.name, done, rows, "\n".join(notes))


def _usable_point(graph: GraphNetwork, net, module: ModuleType, rng: np.random.Generator, tries: int = 50):
    """A random point where the objective is finite and no kink is within reach of the steps."""
    with np.errstate(all="ignore"):
        for _ in range(tries):
            values = random_values(net, rng)
            if not np.isfinite(module.loss(values)):
                continue
            forward = {k: np.asarray(v, dtype=float) for k, v in module.forward(values).items()}
            if kink_distance(graph, forward, values) > KINK_MARGIN:
                return values
    return None
