"""Generated gradients against an independent autodiff oracle (HIPS autograd).

The oracle below is a forward pass of a fully connected network written straight from the
spec (sizes, activation names, loss name, weight decay, bias) in ``autograd.numpy``, each
activation and loss from its elementary definition in the registry (sigma = 1/(1 + e^-x));
no derivative, kernel or generated line of symbackprop is used. ``autograd.grad`` of that
objective is compared with the generated ``backward`` for every leaf (x, W1, b1, ...), and the
objective itself with the generated ``loss``.

Coverage, all read from the registry: a hypothesis search over random networks (every
activation x every valid (output activation, loss) pair x with/without weight decay x depths
1-4 x bias x notation), a deterministic table over the full activation x loss x decay cross
product, the rejection of every invalid combination, and the numerical stability of the
generated code at huge pre-activations.
"""

from __future__ import annotations

import functools
import itertools
import warnings

import autograd.numpy as anp
import autograd.scipy
import autograd.scipy.special  # noqa: F401 - makes autograd.scipy.special.erf reachable
import numpy as np
import pytest
import sympy
from autograd import grad
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sympy.printing.numpy import SciPyPrinter

from symbackprop import SpecError, derive, load_spec_text
from symbackprop.analysis.gradcheck import import_source, random_targets
from symbackprop.registry import ACTIVATIONS, LOSSES, elementary, real

# Everything below is read from the registry: a new activation or loss is covered here as soon as
# it is registered. Valid (output activation, loss) pairs are those the spec parser accepts.
HIDDEN_ACTIVATIONS = tuple(sorted(name for name, a in ACTIVATIONS.items() if not a.vector))
KINKED = frozenset(name for name, a in ACTIVATIONS.items() if a.domain.kinks)


def _valid(act: str, loss: str) -> bool:
    try:
        load_spec_text(f'[mlp]\nsizes = [2, 2]\nactivations = ["{act}"]\nloss = "{loss}"\n')
    except SpecError:
        return False
    return True


OUTPUT_LOSS_PAIRS = tuple((a, lo) for a in sorted(ACTIVATIONS) for lo in sorted(LOSSES) if _valid(a, lo))
GRAD_TOLERANCE = 1e-7
TINY = 1e-10
LOSS_RTOL = 1e-10


# --- the oracle: autograd.numpy on the registry's definitions ----------------------------------
# Each activation and loss is written from its elementary SymPy definition (sigma = 1/(1 + e^-x),
# relu = max(x, 0), ...) and differentiated by autograd: only the definitions are shared with
# symbackprop, never a derivative, a kernel or the generated code.
def _autograd(args, expr):
    printer = SciPyPrinter({"fully_qualified_modules": True})
    modules = [{"numpy": anp, "scipy": autograd.scipy, "functools": functools}]
    return sympy.lambdify(args, elementary(expr), modules=modules, printer=printer)


@functools.cache
def _layer_function(name: str, width: int):
    zs = [real(f"z{k}") for k in range(width)]
    act = ACTIVATIONS[name]
    return [_autograd(zs, act.unit(k, zs)) for k in range(width)]


def _apply(name, z):
    width = z.shape[1]
    columns = [f(*(z[:, k] for k in range(width))) for f in _layer_function(name, width)]
    return anp.stack([c * anp.ones(z.shape[0]) for c in columns], axis=1)


@functools.cache
def _loss_function(name: str):
    y, t = real("y"), real("t")
    return _autograd([y, t], LOSSES[name].term(y, t))


def _per_example_loss_sum(loss, out_act, z, t):
    """sum over the batch and output units of the loss, from the output pre-activation z."""
    return anp.sum(_loss_function(loss)(_apply(out_act, z), t))


@functools.cache  # = lru_cache(maxsize=None)
def _oracle(sizes, acts, loss, decay, bias):
    """(objective(*leaves), pre_activations(*leaves), leaf names) for a network spec."""
    depth = len(sizes) - 1
    names = ["x", "t"]
    for layer in range(1, depth + 1):
        names.append(f"W{layer}")
        if bias:
            names.append(f"b{layer}")

    def unpack(leaves):
        env = dict(zip(names, leaves))
        a = env["x"]
        zs = []
        for layer in range(1, depth + 1):
            z = anp.dot(a, anp.transpose(env[f"W{layer}"]))
            if bias:
                z = z + env[f"b{layer}"]
            zs.append(z)
            a = _apply(acts[layer - 1], z)
        return env, zs

    def objective(*leaves):
        env, zs = unpack(leaves)
        m = env["x"].shape[0]
        data = _per_example_loss_sum(loss, acts[-1], zs[-1], env["t"]) / m
        reg = 0.0
        for layer in range(1, depth + 1):
            reg = reg + anp.sum(env[f"W{layer}"] ** 2)
        return data + 0.5 * decay * reg

    def pre_activations(*leaves):
        return unpack(leaves)[1]

    return objective, pre_activations, tuple(names)


# --- the generated module ---------------------------------------------------------------------
def _spec_text(sizes, acts, loss, decay, bias, notation):
    quoted = ", ".join(f'"{a}"' for a in acts)
    return (
        "[mlp]\n"
        f"sizes = [{', '.join(str(s) for s in sizes)}]\n"
        f"activations = [{quoted}]\n"
        f'loss = "{loss}"\n'
        f"bias = {'true' if bias else 'false'}\n"
        f"weight_decay = {float(decay)!r}\n"
        f'notation = "{notation}"\n'
    )


_module_ids = itertools.count()


@functools.cache  # = lru_cache(maxsize=None)
def generated(sizes, acts, loss, decay, bias, notation):
    net = load_spec_text(_spec_text(sizes, acts, loss, decay, bias, notation), source="<test_oracle>")
    return import_source(derive(net).to_numpy(), name=f"gen_oracle_{next(_module_ids)}")


def random_point(sizes, loss, bias, seed, batch, weight_scale=1.0):
    rng = np.random.default_rng(seed)
    values = {}
    for layer in range(1, len(sizes)):
        values[f"W{layer}"] = weight_scale * rng.normal(0.0, 0.7, (sizes[layer], sizes[layer - 1]))
        if bias:
            values[f"b{layer}"] = rng.normal(0.0, 0.7, (sizes[layer],))
    values["x"] = rng.normal(0.0, 1.0, (batch, sizes[0]))
    values["t"] = random_targets(LOSSES[loss].targets, rng, batch, sizes[-1])
    return values


def relative_error(a, o):
    a, o = np.asarray(a, dtype=float), np.asarray(o, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(o))
    both_tiny = scale < TINY
    err = np.where(both_tiny, 0.0, np.abs(a - o) / np.where(both_tiny, 1.0, scale))
    return float(np.max(err)) if err.size else 0.0


def near_kink(sizes, acts, loss, decay, bias, values):
    """True if a pre-activation of a kinked activation is within 1e-6 of one of its kinks."""
    _, pre, names = _oracle(sizes, acts, loss, decay, bias)
    zs = pre(*(values[n] for n in names))
    return any(
        act in KINKED and min(np.min(np.abs(np.asarray(z) - k)) for k in ACTIVATIONS[act].domain.kinks) < 1e-6
        for act, z in zip(acts, zs)
    )


def assert_matches_oracle(sizes, acts, loss, decay, bias, notation, values):
    sizes, acts = tuple(sizes), tuple(acts)
    module = generated(sizes, acts, loss, decay, bias, notation)
    objective, _, names = _oracle(sizes, acts, loss, decay, bias)
    leaves = [np.asarray(values[n], dtype=float) for n in names]
    label = f"sizes={sizes} acts={acts} loss={loss} decay={decay} bias={bias} notation={notation}"

    expected_leaves = ("x", *[n for n in names if n not in ("x", "t")])
    assert tuple(module.INPUTS) == ("x",), label
    assert tuple(module.TARGETS) == ("t",), label
    assert tuple(module.PARAMETERS) == expected_leaves[1:], label

    oracle_value = float(objective(*leaves))
    generated_value = module.loss(values)
    assert np.isclose(generated_value, oracle_value, rtol=LOSS_RTOL, atol=0.0), (
        f"{label}: loss {generated_value!r} != oracle {oracle_value!r}"
    )
    key = "J" if notation == "layer" else "E"
    assert np.isclose(float(np.mean(module.forward(values)[key])), oracle_value, rtol=LOSS_RTOL, atol=0.0), label

    grads = module.backward(values, inputs=True)
    for leaf in expected_leaves:
        with warnings.catch_warnings():  # a leaf that does not reach the objective (zero weights) is fine
            warnings.filterwarnings("ignore", "Output seems independent of input")
            oracle_grad = grad(objective, names.index(leaf))(*leaves)
        got = np.asarray(grads[leaf], dtype=float)
        assert got.shape == np.shape(values[leaf]), f"{label}: d/d{leaf} has shape {got.shape}"
        err = relative_error(got, oracle_grad)
        assert err < GRAD_TOLERANCE, (
            f"{label}: d/d{leaf} relative error {err:.3e}\ngenerated:\n{got}\noracle:\n{oracle_grad}"
        )


# --- 1. random networks -----------------------------------------------------------------------
@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(depth + 1))
    hidden = tuple(draw(st.sampled_from(HIDDEN_ACTIVATIONS)) for _ in range(depth - 1))
    out_act, loss = draw(st.sampled_from(OUTPUT_LOSS_PAIRS))
    decay = draw(st.one_of(st.just(0.0), st.floats(0.01, 0.5, allow_nan=False, allow_infinity=False)))
    bias = draw(st.booleans())
    notation = draw(st.sampled_from(("node", "layer")))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = draw(st.integers(1, 4))
    return sizes, (*hidden, out_act), loss, decay, bias, notation, seed, batch


@settings(max_examples=60, deadline=None)
@given(networks())
def test_random_networks_match_autograd(case):
    sizes, acts, loss, decay, bias, notation, seed, batch = case
    values = random_point(sizes, loss, bias, seed, batch)
    assume(not near_kink(sizes, acts, loss, decay, bias, values))
    assert_matches_oracle(sizes, acts, loss, decay, bias, notation, values)


# --- 2. the full cross product, deterministically --------------------------------------------
TABLE = [
    pytest.param(hidden, out_act, loss, decay, id=f"{hidden}-{out_act}-{loss}-decay{decay}")
    for hidden in HIDDEN_ACTIVATIONS
    for out_act, loss in OUTPUT_LOSS_PAIRS
    for decay in (0.0, 0.1)
]


def _first_point_away_from_kinks(sizes, acts, loss, decay, bias, batch=3):
    for seed in range(100):
        values = random_point(sizes, loss, bias, seed, batch)
        if not near_kink(sizes, acts, loss, decay, bias, values):
            return values
    raise AssertionError("no random point away from the activation kinks")


def _table_notation(hidden, out_act, loss):
    """Alternate the notations over the table (the generated code differs only in names)."""
    return "layer" if (HIDDEN_ACTIVATIONS.index(hidden) + OUTPUT_LOSS_PAIRS.index((out_act, loss))) % 2 else "node"


@pytest.mark.parametrize(("hidden", "out_act", "loss", "decay"), TABLE)
def test_every_activation_and_loss_matches_autograd(hidden, out_act, loss, decay):
    sizes, acts = (3, 4, 3), (hidden, out_act)
    notation = _table_notation(hidden, out_act, loss)
    values = _first_point_away_from_kinks(sizes, acts, loss, decay, True)
    assert_matches_oracle(sizes, acts, loss, decay, True, notation, values)


@pytest.mark.parametrize("notation", ["layer", "node"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("out_act", "loss"), OUTPUT_LOSS_PAIRS)
def test_depth_one_matches_autograd(out_act, loss, bias, notation):
    sizes, acts = (3, 2), (out_act,)
    values = _first_point_away_from_kinks(sizes, acts, loss, 0.1, bias)
    assert_matches_oracle(sizes, acts, loss, 0.1, bias, notation, values)


def _rotate(items, i):
    i %= len(items)
    return items[i:] + items[:i]


# Six depth-four networks: the hidden activations rotate through the registry, the output pairs too.
DEPTH_FOUR = [
    (
        (*_rotate(HIDDEN_ACTIVATIONS, 3 * i)[:3], OUTPUT_LOSS_PAIRS[(5 * i) % len(OUTPUT_LOSS_PAIRS)][0]),
        OUTPUT_LOSS_PAIRS[(5 * i) % len(OUTPUT_LOSS_PAIRS)][1],
    )
    for i in range(6)
]


@pytest.mark.parametrize("notation", ["layer", "node"])
@pytest.mark.parametrize("decay", [0.0, 0.1])
@pytest.mark.parametrize(("acts", "loss"), DEPTH_FOUR, ids=lambda v: "-".join(v) if isinstance(v, tuple) else v)
def test_depth_four_matches_autograd(acts, loss, decay, notation):
    sizes = (3, 4, 2, 4, 3)
    values = _first_point_away_from_kinks(sizes, acts, loss, decay, True)
    assert_matches_oracle(sizes, acts, loss, decay, True, notation, values)


def test_oracle_is_not_vacuous():
    """A perturbed oracle disagrees: the comparison would catch a wrong gradient."""
    sizes, acts, loss = (3, 4, 3), ("tanh", "sigmoid"), "squared_error"
    module = generated(sizes, acts, loss, 0.1, True, "layer")
    objective, _, names = _oracle(sizes, acts, loss, 0.1, True)
    values = random_point(sizes, loss, True, 0, 3)
    leaves = [values[n] for n in names]
    g = module.backward(values)["W1"]
    assert relative_error(g, grad(objective, names.index("W1"))(*leaves)) < GRAD_TOLERANCE
    assert relative_error(g * (1 + 1e-6), grad(objective, names.index("W1"))(*leaves)) > GRAD_TOLERANCE


# --- 3. invalid combinations ------------------------------------------------------------------
VECTOR = sorted(name for name, a in ACTIVATIONS.items() if a.vector)
INVALID = [
    *(
        pytest.param((3, 2), (a,), lo, id=f"{lo}-{a}")
        for a in sorted(ACTIVATIONS)
        for lo in sorted(LOSSES)
        if (a, lo) not in OUTPUT_LOSS_PAIRS
    ),
    *(pytest.param((3, 4, 2), (v, HIDDEN_ACTIVATIONS[0]), "squared_error", id=f"hidden-{v}") for v in VECTOR),
    pytest.param((3, 2), ("swash",), "squared_error", id="unknown-activation"),
    pytest.param((3, 2), (HIDDEN_ACTIVATIONS[0],), "hinge", id="unknown-loss"),
    pytest.param((3, 4, 2), (HIDDEN_ACTIVATIONS[0],), "squared_error", id="too-few-activations"),
]


def test_some_combinations_are_invalid():
    """The registry's rules exclude pairs (a loss that needs outputs in (0, 1) after an
    unbounded activation): the rejection test below is not empty."""
    assert len(INVALID) > 3 + len(VECTOR)


@pytest.mark.parametrize(("sizes", "acts", "loss"), INVALID)
def test_invalid_combinations_are_rejected(sizes, acts, loss):
    with pytest.raises(SpecError):
        load_spec_text(_spec_text(sizes, acts, loss, 0.0, True, "layer"), source="<test_oracle>")


def test_negative_weight_decay_is_rejected():
    with pytest.raises(SpecError):
        load_spec_text(_spec_text((3, 2), ("sigmoid",), "squared_error", -0.1, True, "layer"))


# --- 4. numerical stability at huge pre-activations -------------------------------------------
STABILITY = [
    pytest.param(hidden, out_act, loss, id=f"{hidden}-{out_act}-{loss}")
    for hidden in HIDDEN_ACTIVATIONS
    for out_act, loss in OUTPUT_LOSS_PAIRS
]


@pytest.mark.parametrize(("hidden", "out_act", "loss"), STABILITY)
def test_huge_preactivations_stay_finite(hidden, out_act, loss):
    sizes, acts = (3, 4, 3), (hidden, out_act)
    module = generated(sizes, acts, loss, 0.1, True, _table_notation(hidden, out_act, loss))
    values = random_point(sizes, loss, True, 7, 4, weight_scale=1000.0)
    _, pre, names = _oracle(sizes, acts, loss, 0.1, True)
    with np.errstate(all="ignore"):  # the oracle's plain definitions overflow out there; only z matters
        zs = pre(*(values[n] for n in names))
    assert np.max(np.abs(zs[0])) > 500 and np.max(np.abs(zs[-1])) > 500  # really in the tails
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            value = module.loss(values)
            grads = module.backward(values, inputs=True)
    assert np.isfinite(value)
    for leaf in ("x", *module.PARAMETERS):
        assert np.all(np.isfinite(grads[leaf])), f"d/d{leaf} not finite"
