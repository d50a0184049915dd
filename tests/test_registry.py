"""Table-driven tests over the derivative registry and the rewrite rules.

A new activation or loss added to the registry is tested here without new test code.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from sympy import Symbol

from symbackprop.numeric import HELPERS
from symbackprop.check import lambdify_numpy
from symbackprop.rules.activations import ACTIVATIONS, Softmax
from symbackprop.rules.losses import LOSSES
from symbackprop.simplify import CANCEL_QUOTIENTS, stored_values, targets_sum_to_one

ELEMENTWISE = sorted(name for name, a in ACTIVATIONS.items() if not a.vector)
# Sample points inside each function's domain, away from kinks.
POINTS = np.array([-3.0, -1.2, -0.4, 0.3, 0.9, 2.5])
z, y, t = Symbol("z"), Symbol("y"), Symbol("t")


def numpy_of(expr, *args):
    return lambdify_numpy(args, expr)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_in_terms_of_output_matches_finite_differences(name):
    act = ACTIVATIONS[name]
    fz = act.apply(z)
    derivative = sympy.diff(fz, z).xreplace({fz: y}) if fz != z else sympy.S.One
    assert not derivative.has(sympy.exp)
    f = numpy_of(fz, z)
    fprime = numpy_of(derivative, y, z)
    h = 1e-6
    numeric = (f(POINTS + h) - f(POINTS - h)) / (2 * h)
    analytic = fprime(f(POINTS), POINTS) * np.ones_like(POINTS)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_numpy_kernel_matches_sympy_value(name):
    fz = ACTIVATIONS[name].apply(z)
    f = numpy_of(fz, z)
    for p in POINTS:
        assert f(p) == pytest.approx(float(fz.subs(z, p).evalf()), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_numpy_kernels_are_finite_at_large_inputs(name):
    act = ACTIVATIONS[name]
    big = np.array([[-1000.0, 1000.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        for helper in act.helpers:
            out = HELPERS[helper](big)
            assert np.all(np.isfinite(out)), helper


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registry_entry_is_complete(name):
    act = ACTIVATIONS[name]
    assert act.latex
    for helper in act.helpers:
        assert helper in HELPERS


def test_softmax_derivative_is_diag_minus_outer():
    zs = sympy.symbols("z0 z1 z2")
    ys = [Softmax(i, *zs) for i in range(3)]
    rng = np.random.default_rng(1)
    point = {s: float(v) for s, v in zip(zs, rng.normal(size=3))}
    values = np.array([float(v.evalf(subs=point)) for v in ys])
    jac = np.array([[float(sympy.diff(ys[i], zs[k]).evalf(subs=point)) for k in range(3)] for i in range(3)])
    np.testing.assert_allclose(jac, np.diag(values) - np.outer(values, values), atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_terms_are_minimised_at_the_target(name):
    term = LOSSES[name].term(y, t)
    g = sympy.diff(term, y)
    if name == "cross_entropy":  # -t log y alone is minimised with sum_k t_k = 1, not per unit
        assert g == -t / y
    else:
        assert sympy.simplify(g.subs(y, t)) == 0


def _equivalent(a, b, symbols_, rng, fix=None):
    for _ in range(5):
        subs = {s: rng.uniform(0.1, 0.9) for s in symbols_}
        if fix:
            subs.update(fix(subs))
        assert float(a.evalf(subs=subs)) == pytest.approx(float(b.evalf(subs=subs)), rel=1e-10, abs=1e-12)


def test_rule_stored_values_is_equivalent_under_its_definitions():
    net = Symbol("net")
    rule = stored_values({ACTIVATIONS["sigmoid"].apply(net): y})
    expr = sympy.diff(ACTIVATIONS["sigmoid"].apply(net), net)
    rewritten = rule.apply(expr)
    assert rewritten == y * (1 - y)
    _equivalent(rewritten.subs(y, ACTIVATIONS["sigmoid"].apply(net)), expr, [net], np.random.default_rng(0))


def test_rule_targets_sum_to_one():
    t1, t2, y1, y2 = sympy.symbols("t1 t2 y1 y2")
    expr = -t1 * (1 - y1) + t2 * y1
    rewritten = targets_sum_to_one([(t1, t2)]).apply(expr)
    assert rewritten == y1 - t1
    _equivalent(rewritten, expr, [t1, y1, y2], np.random.default_rng(0), fix=lambda s: {t2: 1 - s[t1]})


def test_rule_cancel_quotients():
    expr = (-t / y + (1 - t) / (1 - y)) * y * (1 - y)
    rewritten = CANCEL_QUOTIENTS.apply(expr)
    assert sympy.expand(rewritten - (y - t)) == 0
    _equivalent(rewritten, expr, [t, y], np.random.default_rng(0))
