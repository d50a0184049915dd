"""Gradient checks of generated code, used by ``symbackprop check`` and by the tests.

Two independent references for the generated ``backward``:

* central finite differences of the generated ``loss`` (CS231n's relative error
  |a - n| / max(|a|, |n|), which should stay below 1e-7 in float64);
* the symbolic equations themselves, evaluated one by one with ``sympy.lambdify``: the per-node
  deltas and gradients, averaged over the batch for layered networks. This path shares no code
  with the generated module but the small NumPy kernels.

Entries where both values are below ``TINY`` in magnitude count as agreeing: relative error
means nothing for a gradient that is zero up to rounding.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy

from symbackprop.layered import PER_UNIT_LIMIT, LayeredDerivation
from symbackprop.network import GraphNetwork, LayeredNetwork
from symbackprop.numeric import HELPERS
from symbackprop.render.printers import NotationNumPyPrinter

TOLERANCE = 1e-7
TINY = 1e-10
STEP = 1e-3


def relative_error(a: np.ndarray, n: np.ndarray) -> float:
    """Largest elementwise |a - n| / max(|a|, |n|), zero where both are below TINY."""
    a, n = np.asarray(a, dtype=float), np.asarray(n, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(n))
    err = np.where(scale < TINY, 0.0, np.abs(a - n) / np.where(scale < TINY, 1.0, scale))
    return float(np.max(err)) if err.size else 0.0


def import_source(source: str, name: str = "generated_train") -> ModuleType:
    """Import generated module text through a temporary file (never exec'd from a string)."""
    directory = Path(tempfile.mkdtemp(prefix="symbackprop-"))
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    spec.loader.exec_module(module)
    return module


def random_values(net: GraphNetwork | LayeredNetwork, rng: np.random.Generator, batch: int = 3) -> dict:
    """A random point for the checks: valid targets for the loss, values near the example."""
    if isinstance(net, LayeredNetwork):
        values = {name: rng.normal(0.0, 0.7, shape) for name, shape in net.parameter_shapes().items()}
        values["x"] = rng.normal(0.0, 1.0, (batch, net.sizes[0]))
        n_out = net.sizes[-1]
        if net.loss == "cross_entropy":
            values["t"] = np.eye(n_out)[rng.integers(0, n_out, batch)]
        elif net.loss == "binary_cross_entropy":
            values["t"] = rng.uniform(0.0, 1.0, (batch, n_out))
        else:
            values["t"] = rng.normal(0.0, 1.0, (batch, n_out))
        return values
    base = {**{s: 0.5 for s in net.leaves}, **net.parameters, **net.example}
    return {s.name: float(base[s] + rng.normal(0.0, 0.3)) for s in net.leaves}


def finite_differences(module: ModuleType, values: dict, name: str, h: float = STEP) -> np.ndarray:
    """Central differences of module.loss with respect to one leaf, entry by entry.

    The fourth-order central stencil (f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / 12h: its truncation
    error (h^4) and rounding error (eps / h) both stay near 1e-12 at h = 1e-3, where the
    two-point formula's floor is about 1e-10 and swamps small gradients.
    """
    value = np.array(values[name], dtype=float)
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        f = {}
        for k in (-2, -1, 1, 2):
            probe = value.copy()
            probe[index] += k * h
            f[k] = module.loss({**values, name: probe if probe.shape else float(probe)})
        grad[index] = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
    return grad


def lambdify_numpy(args, expr: sympy.Expr):
    """``sympy.lambdify`` with the package's NumPy printer and stable kernels."""
    namespace = {"np": np, "functools": functools}  # Max/Min of several arguments print with functools.reduce
    return sympy.lambdify(args, expr, modules=[HELPERS, namespace, "numpy"], printer=NotationNumPyPrinter())


def _lambdified(expr: sympy.Expr):
    args = sorted(expr.free_symbols, key=lambda s: s.name)
    return lambdify_numpy(args, expr), [a.name for a in args]


def symbolic_gradients(derivation, values: dict) -> dict[str, np.ndarray] | None:
    """Evaluate the per-node equations numerically; None if the network is too large for that."""
    if isinstance(derivation, LayeredDerivation):
        if derivation.network.unit_count > PER_UNIT_LIMIT * 4:
            return None
        return _layered_symbolic(derivation, values)
    return _evaluate(derivation, dict(values))


def evaluate_graph(graph_derivation, env: dict) -> tuple[dict, dict, dict]:
    """Forward values, error terms (by delta symbol name) and gradients of a scalar-graph
    derivation at the point ``env`` (leaf name -> value), equation by equation."""
    net = graph_derivation.network
    values = {**env, **{c.name: v for c, v in net.constants.items()}}
    for node, expr in net.nodes.items():
        fn, args = _lambdified(expr)
        values[node.name] = fn(*(values[a] for a in args))
    deltas: dict = {}
    for node in reversed(list(net.nodes)):
        if node.name in graph_derivation.deltas:
            fn, args = _lambdified(graph_derivation.deltas[node.name])
            deltas[graph_derivation.delta_symbols[node].name] = fn(*({**values, **deltas}[a] for a in args))
    grads = {}
    for leaf, expr in graph_derivation.gradients.items():
        fn, args = _lambdified(expr)
        grads[leaf] = np.asarray(fn(*({**values, **deltas}[a] for a in args)), dtype=float)
    return values, deltas, grads


def _evaluate(graph_derivation, env: dict) -> dict[str, np.ndarray]:
    return evaluate_graph(graph_derivation, env)[2]


def _layered_symbolic(derivation: LayeredDerivation, values: dict) -> dict[str, np.ndarray]:
    """Per-unit equations on each example of the batch, averaged as the objective J is."""
    net, names = derivation.network, derivation.names
    x, t = np.asarray(values["x"], dtype=float), np.asarray(values["t"], dtype=float)
    m = x.shape[0]
    env: dict = {}
    for i in range(net.sizes[0]):
        env[names.input(i).name] = x[:, i]
    for k in range(net.sizes[-1]):
        env[names.target(k).name] = t[:, k]
    for layer in range(1, net.depth + 1):
        W = np.asarray(values[f"W{layer}"], dtype=float)
        for k in range(net.sizes[layer]):
            for j in range(net.sizes[layer - 1]):
                env[names.weight(layer, k, j).name] = W[k, j]
            if net.bias:
                env[names.bias(layer, k).name] = float(values[f"b{layer}"][k])
    per_unit = _evaluate(derivation.unit_derivation, env)
    grads = {"x": np.stack([per_unit[names.input(i).name] * np.ones(m) for i in range(net.sizes[0])], axis=1) / m}
    for layer in range(1, net.depth + 1):
        shape = (net.sizes[layer], net.sizes[layer - 1])
        grads[f"W{layer}"] = np.array(
            [
                [np.mean(per_unit[names.weight(layer, k, j).name] * np.ones(m)) for j in range(shape[1])]
                for k in range(shape[0])
            ]
        )
        if net.bias:
            grads[f"b{layer}"] = np.array(
                [np.mean(per_unit[names.bias(layer, k).name] * np.ones(m)) for k in range(shape[0])]
            )
    return grads


@dataclass
class CheckRow:
    leaf: str
    numeric: float  # worst relative error against finite differences
    symbolic: float | None  # against lambdify of the symbolic gradient, None if not run


@dataclass
class CheckReport:
    network: str
    points: int
    rows: list[CheckRow] = field(default_factory=list)
    note: str = ""

    @property
    def worst(self) -> float:
        errors = [r.numeric for r in self.rows] + [r.symbolic for r in self.rows if r.symbolic is not None]
        return max(errors, default=0.0)

    @property
    def passed(self) -> bool:
        return self.worst < TOLERANCE

    def table(self) -> str:
        lines = [f"{'leaf':<12} {'vs finite differences':>22} {'vs symbolic (lambdify)':>24}"]
        for r in self.rows:
            sym = "skipped" if r.symbolic is None else f"{r.symbolic:.2e}"
            lines.append(f"{r.leaf:<12} {r.numeric:>22.2e} {sym:>24}")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: worst relative error {self.worst:.2e} over {self.points} random points (tolerance {TOLERANCE:g})"
        )
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def check_derivation(derivation, module: ModuleType | None = None, points: int = 3, seed: int = 0) -> CheckReport:
    """Compare generated backward with finite differences and with the symbolic gradients."""
    module = module or import_source(derivation.to_numpy())
    net = derivation.network
    rng = np.random.default_rng(seed)
    worst: dict[str, list[float]] = {}
    worst_sym: dict[str, list[float]] = {}
    ran_symbolic = True
    for _ in range(points):
        values = _finite_point(net, module, rng)
        analytic = module.backward(values)
        symbolic = symbolic_gradients(derivation, values)
        ran_symbolic = ran_symbolic and symbolic is not None
        for leaf in (*module.INPUTS, *module.PARAMETERS):
            worst.setdefault(leaf, []).append(relative_error(analytic[leaf], finite_differences(module, values, leaf)))
            if symbolic is not None:
                worst_sym.setdefault(leaf, []).append(relative_error(analytic[leaf], symbolic[leaf]))
    rows = [
        CheckRow(leaf, max(errs), max(worst_sym[leaf]) if leaf in worst_sym else None) for leaf, errs in worst.items()
    ]
    note = "" if ran_symbolic else "symbolic comparison skipped: too many units for per-node evaluation"
    return CheckReport(net.name, points, rows, note)


def _finite_point(net, module: ModuleType, rng: np.random.Generator, tries: int = 50) -> dict:
    """A random point where the loss is finite (expressions may have restricted domains)."""
    with np.errstate(all="ignore"):
        for _ in range(tries):
            values = random_values(net, rng)
            if np.isfinite(module.loss(values)):
                return values
    raise ValueError(f"{net.name}: no random point with a finite objective in {tries} tries")
