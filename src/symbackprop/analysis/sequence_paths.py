"""The worked example's numbers for the sequence models' own sections: the paths the gradient
takes through time, and the product of Jacobians that makes it vanish or explode.

The engine writes the error term of a step's state as the total derivative over its consumers
(``tensor.totals``: one term per consumer). :func:`sequence_paths` evaluates those terms one by
one at the worked example (first example of the batch, the values and error terms
:mod:`~symbackprop.analysis.sequential_example` already computed), so that the document can
show the two paths of backpropagation through time as numbers that add up:

* rnn -- for every step t: h_t, f'(z_t), the direct path g_t (what the layers above send h_t),
  the path through h_{t+1} ((W_hh)^T delta_{t+1}), their sum dJ/dh_t and delta_t = dJ/dh_t ⊙
  f'(z_t); then the Jacobians dh_t/dh_{t-1} = diag(f'(z_t)) W_hh, their products dh_T/dh_t
  and the spectral norms of both, and ||W_hh||;
* lstm -- for every step: the forget gate f_t, dJ/dc_t split into the path through h_t and the
  path through c_{t+1} (dJ/dc_{t+1} ⊙ f_{t+1}), and the cell path's own product of forget
  gates dc_T/dc_t = diag(prod f_k) (no weight matrix on it);
* gru -- for every step: the update gate z_t, dJ/dh_{t-1} split into the path straight through
  the interpolation (dJ/dh_t ⊙ z_t) and the rest (through W_hh and the layers above);
* attention -- the softmax Jacobian diag(a) - a a^T of the first row of A, the row sums of
  dJ/dS (zero: a softmax's outputs sum to one), and which entries the causal mask zeroes.

Nothing here is printed; the document only formats these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from symbackprop.analysis.tensor_values import evaluate_tensor
from symbackprop.calculus.sequential import SequentialDerivation


@dataclass(frozen=True)
class StepPaths:
    """One step t (from 1) of a recurrent layer, first example: ``state`` h_t (lstm: c_t),
    ``gate`` f'(z_t) (lstm: f_t, gru: z_t), the error term's two paths and their sum, and
    ``delta`` the pre-activation's error term (rnn) where it has one."""

    t: int
    state: np.ndarray
    gate: np.ndarray
    direct: np.ndarray
    through: np.ndarray
    total: np.ndarray
    delta: np.ndarray | None = None


@dataclass(frozen=True)
class RecurrentPaths:
    """A recurrent layer's paths at the worked example (module docstring). ``factor_norms``:
    (t, ||dh_t/dh_{t-1}||_2) for t = 2..T; ``jacobian_norms``: (t, ||dh_T/dh_t||_2) for
    t = T..1 (t = T: the identity), ``bounds`` the same t with the bound prod_k max|f'(z_k)|
    ||W_hh||_2 on it (each factor's norm is at most max|f'| ||W_hh||); ``carried``: (t, entries of
    dc_T/dc_t's diagonal, the
    product of forget gates) for an LSTM, of update gates for a GRU; ``shrinking``: whether
    ||dh_T/dh_1|| is below 1 (the gradient vanishes along the chain) or not."""

    layer: int
    kind: str
    steps: list[StepPaths]
    weight_norm: float = 0.0
    factor_norms: list[tuple[int, float]] | None = None
    jacobian_norms: list[tuple[int, float]] | None = None
    carried: list[tuple[int, np.ndarray]] | None = None
    bounds: list[tuple[int, float]] | None = None  # (t, prod_k max|f'(z_k)| ||W_hh||): ||dh_T/dh_t|| at most

    @property
    def shrinking(self) -> bool:
        if self.jacobian_norms:
            return self.jacobian_norms[-1][1] < 1.0
        return bool(self.carried and np.max(np.abs(self.carried[-1][1])) < 1.0)


@dataclass(frozen=True)
class AttentionPaths:
    """Attention at the worked example: ``jacobian`` diag(a) - a a^T for the first row a of A
    (step 1's weights), ``row_sums`` of dJ/dS per row, ``masked`` the (row, column) entries,
    from 1, that the causal mask sets to 0 (empty without one), ``scale`` 1/sqrt(d_k)."""

    layer: int
    weights: np.ndarray
    jacobian: np.ndarray
    row_sums: np.ndarray
    masked: list[tuple[int, int]]
    scale: float


def _evaluate_first(expr, env) -> np.ndarray:
    """A tensor expression at the whole batch, its first example's entries."""
    return np.asarray(evaluate_tensor(expr, env)[0], dtype=float)


def _split(total: sympy.Expr, marker: sympy.Symbol | None) -> tuple[sympy.Expr, sympy.Expr]:
    """The terms of a total derivative that contain ``marker`` (one path), and the others."""
    terms = sympy.Add.make_args(total)
    through = [term for term in terms if marker is not None and marker in term.free_symbols]
    direct = [term for term in terms if term not in through]
    return sympy.Add(*through), sympy.Add(*direct)


def _value(expr, env, like: np.ndarray) -> np.ndarray:
    """A path's value; a path that is not there (0) as zeros of the state's shape."""
    return np.zeros_like(like) if expr == 0 else _evaluate_first(expr, env)


def _named(d: SequentialDerivation) -> dict[str, sympy.Symbol]:
    g = d.graph
    return {s.name: s for s in (*g.nodes, *g.inputs, *g.parameters)}


def _rnn(d, tag, layer, number, steps, env) -> RecurrentPaths:
    names, tensor = _named(d), d.tensor
    W = np.asarray(env[f"W_hh{tag}"], dtype=float)
    rows, factors = [], {}
    for t in range(1, steps + 1):
        h, z = names[f"h{tag}_{t}"], names[f"z{tag}_{t}"]
        nxt = names.get(f"z{tag}_{t + 1}")
        marker = tensor.delta_symbols[nxt] if nxt is not None else None
        through, direct = _split(tensor.totals[h], marker)
        state = np.asarray(env[h.name][0], dtype=float)
        slope = _value(sympy.diff(d.graph.nodes[h], z), env, state)  # f'(z_t)
        through_v, direct_v = _value(through, env, state), _value(direct, env, state)
        delta = np.asarray(env[tensor.delta_symbols[z].name][0], dtype=float)
        rows.append(StepPaths(t, state, slope, direct_v, through_v, direct_v + through_v, delta))
        factors[t] = np.diag(slope) @ W  # dh_t / dh_{t-1}
    weight = float(np.linalg.norm(W, 2))
    product, bound = np.eye(W.shape[1]), 1.0
    chain, bounds = [(steps, 1.0)], [(steps, 1.0)]
    for t in range(steps, 1, -1):  # dh_T/dh_{t-1} = (dh_T/dh_t) (dh_t/dh_{t-1})
        product = product @ factors[t]
        bound *= float(np.max(np.abs(rows[t - 1].gate))) * weight
        chain.append((t - 1, float(np.linalg.norm(product, 2))))
        bounds.append((t - 1, bound))
    norms = [(t, float(np.linalg.norm(factors[t], 2))) for t in range(2, steps + 1)]
    return RecurrentPaths(number, "rnn", rows, weight, norms, chain, bounds=bounds)


def _gated(d, tag, layer, number, steps, env) -> RecurrentPaths:
    """An LSTM's cell path (dJ/dc_t) or a GRU's interpolation path (dJ/dh_{t-1})."""
    names, tensor = _named(d), d.tensor
    lstm = layer.type == "lstm"
    rows, gates = [], {}
    for t in range(1, steps + 1):
        state = names[f"c{tag}_{t}"] if lstm else names[f"h{tag}_{t}"]
        nxt = names.get(f"c{tag}_{t + 1}" if lstm else f"h{tag}_{t + 1}")
        marker = tensor.delta_symbols[nxt] if nxt is not None else None
        through, direct = _split(tensor.totals[state], marker)
        value = np.asarray(env[state.name][0], dtype=float)
        gate_name = f"f{tag}_{t}" if lstm else f"z{tag}_{t}"
        gate = np.asarray(env[gate_name][0], dtype=float) if gate_name in env else np.zeros_like(value)
        through_v, direct_v = _value(through, env, value), _value(direct, env, value)
        rows.append(StepPaths(t, value, gate, direct_v, through_v, direct_v + through_v))
        gates[t] = gate
    carried, product = [(steps, np.ones_like(rows[0].state))], np.ones_like(rows[0].state)
    for t in range(steps, 1, -1):
        product = product * gates[t]
        carried.append((t - 1, product.copy()))
    return RecurrentPaths(number, layer.type, rows, carried=carried)


def _attention(d, tag, layer, number, env) -> AttentionPaths:
    names, tensor = _named(d), d.tensor
    A = np.asarray(env[f"A{tag}"][0], dtype=float)
    a = A[0]
    dS = np.asarray(env[tensor.delta_symbols[names[f"S{tag}"]].name][0], dtype=float)
    steps = A.shape[0]
    masked = [(t + 1, u + 1) for t in range(steps) for u in range(steps) if u > t] if layer.causal else []
    return AttentionPaths(number, A, np.diag(a) - np.outer(a, a), dS.sum(axis=1), masked, 1 / float(layer.dim) ** 0.5)


def sequence_paths(d: SequentialDerivation, env: dict[str, np.ndarray]) -> list[RecurrentPaths | AttentionPaths]:
    """The numbers of every recurrent and attention layer at the top level of the network, in
    order (module docstring). ``env``: every value and error term of the worked example's batch
    by name (parameters, node values, error-term symbols)."""
    found: list[RecurrentPaths | AttentionPaths] = []
    for tag, layer, before, _ in d.network._walk():
        if "_" in tag:
            continue  # inside a residual block
        number = int(tag)
        if layer.type == "rnn":
            found.append(_rnn(d, tag, layer, number, before[0], env))
        elif layer.type in ("lstm", "gru"):
            found.append(_gated(d, tag, layer, number, before[0], env))
        elif layer.type == "attention":
            found.append(_attention(d, tag, layer, number, env))
    return found
