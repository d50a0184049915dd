"""The built-in examples reproduce the values their source tutorials publish.

Each value is checked twice: through the generated train.py and through the symbolic
equations evaluated one by one (symbackprop.analysis.gradcheck.symbolic_gradients).
"""

from __future__ import annotations

import pytest
from conftest import derivation_of, module_of

from symbackprop.analysis.gradcheck import symbolic_gradients

PUBLISHED = {
    # CS231n: f = (x + y) z at x = -2, y = 5, z = -4.
    "cs231n-circuit": ("f", -12.0, {"x": -4.0, "y": -4.0, "z": 3.0}, 1e-12),
    # CS231n: the sigmoid neuron at w = (2, -3, -3), x = (-1, -2), published to 3 decimals.
    "cs231n-neuron": (
        "f",
        0.731,
        {"x0": 0.393, "x1": -0.590, "w0": -0.197, "w1": -0.393, "w2": 0.197},
        5e-4,
    ),
    # CS231n: the same neuron with the sigmoid as its gates (*(-1), exp, +1, 1/x): same numbers.
    "cs231n-neuron-gates": (
        "f",
        0.731,
        {"x0": 0.393, "x1": -0.590, "w0": -0.197, "w1": -0.393, "w2": 0.197},
        5e-4,
    ),
    # CS231n lecture 4: f = 2 (x y + max(z, w)) at x = 3, y = -4, z = 2, w = -1.
    "cs231n-gates": ("f", -20.0, {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}, 1e-12),
    # Reverse-mode graph: e = (a + b)(b + 1) at a = 2, b = 1.
    "colah-graph": ("e", 6.0, {"a": 2.0, "b": 5.0}, 1e-12),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_generated_code_reproduces_published_values(name):
    output, value, gradients, tol = PUBLISHED[name]
    module = module_of(name)
    values = module.initial_values()
    assert module.forward(values)[output] == pytest.approx(value, abs=tol)
    backward = module.backward(values, inputs=True)
    for leaf, expected in gradients.items():
        assert backward[leaf] == pytest.approx(expected, abs=tol), leaf


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_symbolic_equations_reproduce_published_values(name):
    _, _, gradients, tol = PUBLISHED[name]
    module = module_of(name)
    symbolic = symbolic_gradients(derivation_of(name).inner, module.initial_values())
    for leaf, expected in gradients.items():
        assert float(symbolic[leaf]) == pytest.approx(expected, abs=tol), leaf


def test_circuit_intermediate_gradient_is_published_value():
    # df/dq = z = -4 and q = 3 (CS231n's worked numbers).
    module = module_of("cs231n-circuit")
    values = module.initial_values()
    assert module.forward(values)["q"] == 3.0
    assert module.backward(values)["delta_q"] == -4.0


def test_graph_reverse_mode_sums_paths():
    # de/db = 1*2 + 1*3: one path through c, one through d.
    d = derivation_of("colah-graph")
    assert str(d.gradients["b"]) == "delta_c + delta_d"
    assert str(d.deltas["c"]) == "d" and str(d.deltas["d"]) == "c"
