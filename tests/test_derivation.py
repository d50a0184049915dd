"""Textbook forms of the derived equations, and the properties of the engine."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from conftest import EXAMPLES, derivation_of
from sympy import Symbol, symbols

from symbackprop import GraphNetwork, LayeredNetwork, derive, load_spec_text
from symbackprop.analysis.numeric import lambdify_numpy
from symbackprop.core.network import NetworkError


def S(name: str) -> Symbol:
    return Symbol(name, real=True)


def test_node_notation_deltas_are_textbook_forms():
    d = derivation_of("fc-3-2-2")
    y4, y6, t6, d6, d7, w64, w74 = symbols("y_4 y_6 t_6 delta_6 delta_7 w_64 w_74", real=True)
    assert d.deltas["net_6"] == (y6 - t6) * y6 * (1 - y6)
    assert d.deltas["net_4"] == (d6 * w64 + d7 * w74) * y4 * (1 - y4)


def test_node_notation_gradients_and_updates():
    d = derivation_of("fc-3-2-2")
    assert d.gradients["w_64"] == S("delta_6") * S("y_4")
    assert d.gradients["w_41"] == S("delta_4") * S("x_1")
    assert d.gradients["b_6"] == S("delta_6")
    assert d.updates["w_41"] == S("w_41") - S("eta") * S("delta_4") * S("x_1")


def test_softmax_cross_entropy_collapses_to_y_minus_t():
    d = derivation_of("fc-3-2-2-softmax")
    assert d.deltas["net_6"] == S("y_6") - S("t_6")
    assert d.deltas["net_7"] == S("y_7") - S("t_7")
    assert d.deltas["net_4"] == (S("delta_6") * S("w_64") + S("delta_7") * S("w_74")) * sympy.Heaviside(S("net_4"), 0)


def _mlp(acts, loss, decay=0.0, notation="layer", sizes=(2, 3, 2)):
    text = f"[mlp]\nsizes = {list(sizes)}\nactivations = {list(acts)!r}\nloss = {loss!r}\nweight_decay = {decay}\nnotation = {notation!r}\n"
    return derive(load_spec_text(text.replace("'", '"')))


def test_sigmoid_binary_cross_entropy_collapses_to_y_minus_t():
    d = _mlp(["tanh", "sigmoid"], "binary_cross_entropy")
    assert sympy.expand(d.deltas["z3_1"] - (S("a3_1") - S("t_1"))) == 0
    output = next(eq for eq in d.inner.tensor_equations if eq.kind == "delta" and eq.position == "output")
    assert sympy.expand(output.rhs - (S("a3") - S("t"))) == 0


def test_tanh_derivative_uses_the_output():
    d = _mlp(["tanh", "identity"], "squared_error")
    delta = d.deltas["z2_1"]
    assert delta.has(1 - S("a2_1") ** 2) and not delta.has(sympy.tanh)


def test_weight_decay_enters_weight_gradients_not_biases():
    d = _mlp(["sigmoid", "sigmoid"], "squared_error", decay=0.1)
    lam = S("lambda")
    assert d.gradients["W2_1_1"] == S("a2_1") * S("delta3_1") + lam * S("W2_1_1")
    assert d.gradients["b2_1"] == S("delta3_1")


@pytest.mark.parametrize("name", EXAMPLES)
def test_no_exp_left_in_any_delta(name):
    d = derivation_of(name)
    for node, delta in d.deltas.items():
        assert not delta.has(sympy.exp), (node, delta)


@pytest.mark.parametrize("acts", [("sigmoid", "softmax"), ("tanh", "sigmoid"), ("softplus", "softmax")])
def test_no_exp_in_deltas_of_sigmoid_tanh_softmax_networks(acts):
    d = _mlp(acts, "cross_entropy", sizes=(2, 3, 3, 2)[: 2 + len(acts) - 1])
    for delta in d.deltas.values():
        assert not delta.has(sympy.exp)


def test_deltas_refer_to_other_deltas_by_symbol():
    # delta_4 mentions delta_6, not its expression: no swell.
    d = derivation_of("fc-3-2-2")
    assert S("delta_6") in d.deltas["net_4"].free_symbols
    assert S("t_6") not in d.deltas["net_4"].free_symbols


def _evaluate(expr, subs):
    args = sorted(subs, key=str)
    fn = lambdify_numpy(args, expr)
    return float(fn(*(float(subs[a]) for a in args)))


def _random_subs(expr_symbols, rng):
    return {s: sympy.Float(rng.uniform(0.2, 0.8)) for s in expr_symbols}


@pytest.mark.parametrize(
    "name", ["fc-3-2-2", "fc-3-2-2-softmax", "cs231n-neuron", "cs231n-neuron-gates", "cs231n-staged", "cs231n-gates"]
)
def test_expanded_gradients_equal_direct_differentiation(name):
    """expanded(leaf) is d(objective)/d(leaf) of the fully expanded objective, at random points."""
    d = derivation_of(name)
    net = d.inner.unit_derivation.network if hasattr(d.inner, "unit_derivation") else d.network
    forward = {}
    for node, expr in net.nodes.items():
        forward[node] = expr.xreplace(forward)
    objective = forward[net.objective]
    rng = np.random.default_rng(0)
    for leaf in list(d.gradients)[:6]:
        expanded = d.expanded(leaf)
        direct = sympy.diff(objective, S(leaf))
        subs = _random_subs(objective.free_symbols | expanded.free_symbols, rng)
        if net.target_groups:  # softmax + cross-entropy: targets sum to one
            group = net.target_groups[0]
            subs[group[-1]] = 1 - sum(subs[t] for t in group[:-1])
        a, b = _evaluate(expanded, subs), _evaluate(direct, subs)
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), leaf


def test_delta_size_grows_linearly_with_connections():
    """Total size of all deltas and gradients per connection stays flat as the width grows."""
    per_connection = []
    for width in (4, 8, 16):
        d = _mlp(["sigmoid", "sigmoid", "sigmoid"], "squared_error", sizes=(width, width, width, 2))
        size = sum(sympy.count_ops(e) for e in [*d.deltas.values(), *d.gradients.values()])
        connections = width * width * 2 + width * 2
        per_connection.append(size / connections)
    assert max(per_connection) < 1.5 * min(per_connection), per_connection


def test_python_api_builds_a_network_from_sympy():
    x, y, z, q, f = symbols("x y z q f", real=True)
    d = derive(GraphNetwork(name="circuit", inputs=(x, y, z), nodes={q: x + y, f: q * z}, objective=f))
    assert d.deltas == {"q": z}
    assert d.gradients == {"x": S("delta_q"), "y": S("delta_q"), "z": q}


def test_frozen_parameters_get_no_update():
    x, w, v, f = symbols("x w v f")
    net = GraphNetwork(
        name="g", inputs=(x,), parameters={w: 1.0, v: 2.0}, frozen=frozenset({v}), nodes={f: w * v * x}, objective=f
    )
    d = derive(net)
    assert set(d.updates) == {"w"} and set(d.gradients) == {"x", "w", "v"}


def test_network_validation_rejects_later_nodes():
    x, a, b = symbols("x a b")
    with pytest.raises(NetworkError, match="before it is defined"):
        GraphNetwork(name="bad", inputs=(x,), nodes={a: b * x, b: x}, objective=b)


def test_layered_per_unit_equations_are_lazy():
    d = derive(LayeredNetwork("big", (784, 128, 64, 10), ("relu", "relu", "softmax"), "cross_entropy"))
    d.to_numpy()
    assert "unit_derivation" not in d.inner.__dict__
