"""Table-driven tests over the registry: every entry complete, every rule right.

Nothing here names an activation or a loss: a block added to the registry is tested by these
tests without new test code (and fails them if it is incomplete).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import sympy
from sympy import Symbol

from symbackprop import derive, load_spec_text, register_activation
from symbackprop.analysis.gradcheck import check_derivation, import_source
from symbackprop.analysis.numeric import lambdify_numpy
from symbackprop.calculus.simplify import CANCEL_QUOTIENTS, stored_values, targets_sum_to_one
from symbackprop.registry import (
    ACTIVATIONS,
    FUNCTIONS,
    LANGUAGES,
    LOSSES,
    Elementwise,
    Softmax,
    code_form,
    elementary,
    kernel_samples,
    kernel_source,
    numpy_kernels,
    real,
)
from symbackprop.registry import kernels as all_kernels
from symbackprop.verify.check import verify_answer

ELEMENTWISE = sorted(name for name, a in ACTIVATIONS.items() if not a.vector)
KERNEL_ACTIVATIONS = sorted(name for name in ELEMENTWISE if isinstance(ACTIVATIONS[name].function, type))
z, y, t = real("z"), real("y"), real("t")


def domain_points(domain, n: int = 9) -> np.ndarray:
    """Points spread over an op's domain, away from its kinks."""
    points = np.linspace(domain.low, domain.high, n)
    return np.array([p for p in points if all(abs(p - k) > 0.05 for k in domain.kinks)])


# --- completeness ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_entry_is_complete(name):
    act = ACTIVATIONS[name]
    assert act.name == name and act.latex and act.spellings
    for lang in LANGUAGES:
        assert act.description[lang]
        assert act.lemma is not None and act.lemma.title[lang] and act.lemma.words[lang]
    assert act.lemma.steps(), "a lemma derives something"
    assert act.domain.low < act.domain.high
    if act.from_log:
        assert act.log_output is not None and act.output_interval is not None
    if isinstance(act.function, type) and issubclass(act.function, Elementwise):
        cls = act.function
        assert cls.kernel is not None or cls.definition(z) is not None
        assert cls.definition(z) is not None, "an elementary definition, for evalf and the oracle"
        assert cls.latex_name == act.latex
    if not act.vector and act.name != "identity":
        assert code_form(act.function) is not None, "generated code must know how to compute it"


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_entry_is_complete(name):
    loss = LOSSES[name]
    assert loss.name == name and loss.targets in ("one-hot", "unit", "real")
    for lang in LANGUAGES:
        assert loss.title[lang] and loss.lemma.title[lang] and loss.lemma.words[lang]
    assert loss.lemma.steps()
    assert loss.term(y, t).free_symbols == {y, t}
    for activation, lemma in (loss.pair_lemmas or {}).items():
        assert activation in ACTIVATIONS and lemma.steps()


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_entry_is_complete(name):
    f = FUNCTIONS[name]
    assert f.spellings and f.min_args >= 1
    if isinstance(f.code, str):
        assert hasattr(np, f.code), f"xp.{f.code} is not an array-API function NumPy has"
    else:
        assert callable(f.code) and list(inspect.signature(f.code).parameters)[0] == "xp"


def test_kernel_names_are_unique_and_take_the_namespace_first():
    kernels = all_kernels()
    for name, fn in kernels.items():
        assert fn.__name__ == name
        assert list(inspect.signature(fn).parameters)[0] == "xp", name
    assert kernel_source(set(kernels))  # every kernel's source can be copied into train.py


@pytest.mark.parametrize("name", sorted(a for a in ELEMENTWISE if a != "identity"))  # identity is no function
def test_verify_reads_the_name_the_documents_print(name):
    """A student who copies the document's LaTeX name of an activation is understood."""
    act = ACTIVATIONS[name]
    spec = f'inputs = ["u"]\noutput = "f"\n[nodes]\nf = "{name}(u)"\n'
    verdict = verify_answer_spec(spec, rf"\frac{{\partial f}}{{\partial u}} = {act.latex}'(u)")
    assert verdict.verdict == "correct", verdict.message


def verify_answer_spec(text: str, answer: str):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.toml"
        path.write_text(text)
        return verify_answer(str(path), answer)


# --- the rules are right ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_in_terms_of_output_matches_finite_differences(name):
    act = ACTIVATIONS[name]
    derivative = act.derivative_in_output(y, z)
    f = lambdify_numpy([z], act.apply(z))
    fprime = lambdify_numpy([y, z], derivative)
    points = domain_points(act.domain)
    h = 1e-6
    numeric = (f(points + h) - f(points - h)) / (2 * h)
    analytic = fprime(f(points), points) * np.ones_like(points)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", KERNEL_ACTIVATIONS)
def test_kernel_matches_the_definition(name):
    act = ACTIVATIONS[name]
    fz = act.apply(z)
    f = lambdify_numpy([z], fz)
    for p in domain_points(act.domain):
        exact = float(elementary(fz).subs(z, p).evalf(30))
        assert f(p) == pytest.approx(exact, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("name", sorted(numpy_kernels()))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_are_finite_and_keep_the_dtype_at_huge_inputs(name, dtype):
    kernel = numpy_kernels()[name]
    big = np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0]], dtype=dtype)
    maps = np.stack([np.roll(big, k, axis=1) for k in range(5)], axis=1)[None].repeat(2, axis=0)  # (2, 1, 5, 5)
    samples = kernel_samples(np, maps)  # the layer ops' kernels take maps and their geometry
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            if name in samples:
                out = kernel(*samples[name])
            else:
                out = kernel(0, *big[0]) if name == "softmax_component" else kernel(big)
    assert np.all(np.isfinite(out)), name
    assert np.asarray(out).dtype == dtype, name


def test_softmax_derivative_is_diag_minus_outer():
    zs = sympy.symbols("z0 z1 z2", real=True)
    ys = [Softmax(i, *zs) for i in range(3)]
    rng = np.random.default_rng(1)
    point = {s: float(v) for s, v in zip(zs, rng.normal(size=3))}
    values = np.array([float(v.evalf(subs=point)) for v in ys])
    jac = np.array([[float(sympy.diff(ys[i], zs[k]).evalf(subs=point)) for k in range(3)] for i in range(3)])
    np.testing.assert_allclose(jac, np.diag(values) - np.outer(values, values), atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_terms_are_minimised_at_the_target(name):
    loss = LOSSES[name]
    g = sympy.diff(loss.term(y, t), y)
    if loss.targets_sum_to_one:  # -t log y alone is minimised with sum_k t_k = 1, not per unit
        assert sympy.simplify(g + t / y) == 0
    else:
        for value in (0.2, 0.5, 0.8):
            assert float(g.subs({y: value, t: value})) == pytest.approx(0.0, abs=1e-12)


def _equivalent(a, b, symbols_, rng, fix=None):
    for _ in range(5):
        subs = {s: rng.uniform(0.1, 0.9) for s in symbols_}
        if fix:
            subs.update(fix(subs))
        assert float(a.evalf(subs=subs)) == pytest.approx(float(b.evalf(subs=subs)), rel=1e-10, abs=1e-12)


def test_rule_stored_values_is_equivalent_under_its_definitions():
    net = real("net")
    sigma = ACTIVATIONS["sigmoid"].apply
    rule = stored_values({sigma(net): y})
    expr = sympy.diff(sigma(net), net)
    rewritten = rule.apply(expr)
    assert rewritten == y * (1 - y)
    _equivalent(rewritten.subs(y, sigma(net)), expr, [net], np.random.default_rng(0))


def test_rule_targets_sum_to_one():
    t1, t2, y1, y2 = sympy.symbols("t1 t2 y1 y2", real=True)
    expr = -t1 * (1 - y1) + t2 * y1
    rewritten = targets_sum_to_one([(t1, t2)]).apply(expr)
    assert rewritten == y1 - t1
    _equivalent(rewritten, expr, [t1, y1, y2], np.random.default_rng(0), fix=lambda s: {t2: 1 - s[t1]})


def test_rule_cancel_quotients():
    expr = (-t / y + (1 - t) / (1 - y)) * y * (1 - y)
    rewritten = CANCEL_QUOTIENTS.apply(expr)
    assert sympy.expand(rewritten - (y - t)) == 0
    _equivalent(rewritten, expr, [t, y], np.random.default_rng(0))


# --- an activation added from Python ------------------------------------------------------------
@pytest.fixture
def mish():
    softplus = ACTIVATIONS["softplus"].function
    record = register_activation("mish", lambda x: x * sympy.tanh(softplus(x)), latex=r"\operatorname{mish}")
    yield record
    del ACTIVATIONS["mish"]


def test_register_activation_from_python_is_named_by_a_spec(mish):
    spec = '[mlp]\nsizes = [3, 4, 2]\nactivations = ["mish", "identity"]\nloss = "squared_error"\n'
    d = derive(load_spec_text(spec))
    code = d.to_numpy()
    assert "xp.tanh(softplus(xp, " in code  # the kernel is the forward expression, printed
    report = check_derivation(d.inner, import_source(code, name="train_mish"), points=2)
    assert report.passed, report.table()
    assert r"\operatorname{mish}" in d.to_latex()


def test_register_activation_refuses_taken_names_and_non_expressions():
    with pytest.raises(ValueError, match="taken"):
        register_activation("relu", lambda x: x, latex="r")
    with pytest.raises(TypeError, match="SymPy expression"):
        register_activation("broken", lambda x: Symbol("other") * x, latex="b")
