"""Networks of layers written out unit by unit, and the tensor equations checked against them.

* the per-unit graph of a batch: a convolution's entry is its sum over channels and offsets,
  the input's error term the full convolution with the rotated kernel (read off the scalar
  engine's derivation, which knows nothing of tensors), batch norm couples the examples;
* every tensor equation of every built-in network of layers, and of hypothesis-drawn
  convolutional and vector networks, agrees with the per-unit derivation entry by entry;
* a train.py whose error term is wrong fails the check (the check can fail).
"""

from __future__ import annotations

import functools
import types

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from test_conv_oracle import conv_networks, vector_networks

from symbackprop import derive, load_spec
from symbackprop.analysis.consistency import ConsistencyError, check_sequential
from symbackprop.analysis.gradcheck import import_source
from symbackprop.calculus.sequential import SequentialDerivation
from symbackprop.core.sequential import Layer, SequentialNetwork

EXAMPLES = ["bn-mlp", "dropout-mlp", "lenet-tiny", "resnet-block"]


@functools.lru_cache(maxsize=None)
def _built(name: str):
    d = derive(load_spec(name))
    return d.inner, import_source(d.to_numpy(), name=f"units_{name.replace('-', '_')}")


def test_a_convolutions_entry_is_its_sum_over_channels_and_offsets():
    d, _ = _built("lenet-tiny")
    unit = d.unit.network
    z = sympy.Symbol("z1__0_1_2_3", real=True)
    expr = unit.nodes[z]
    terms = sympy.Add.make_args(expr)
    assert len(terms) == 9 + 1  # 1 channel x 3 x 3 offsets, and the bias
    w = sympy.Symbol("W1__1_0_2_1", real=True)
    x = sympy.Symbol("x__0_0_4_4", real=True)  # row 2 + 2, column 3 + 1
    assert sympy.expand(expr).coeff(w) == x


def test_the_inputs_error_term_is_the_full_convolution_with_the_rotated_kernel():
    d, _ = _built("lenet-tiny")
    grad = d.unit.derivation.gradients["x__0_0_1_1"]  # input (1, 1): kernel offsets (1-i, 1-j)
    delta = lambda f, i, j: sympy.Symbol(f"delta_z1__0_{f}_{i}_{j}", real=True)  # noqa: E731
    W = lambda f, u, v: sympy.Symbol(f"W1__{f}_0_{u}_{v}", real=True)  # noqa: E731
    want = sum(W(f, 1 - i, 1 - j) * delta(f, i, j) for f in range(2) for i in range(2) for j in range(2))
    assert sympy.expand(grad - want) == 0


def test_batch_norm_couples_the_examples_of_the_batch():
    d, _ = _built("bn-mlp")
    nodes = d.unit.network.nodes
    xhat = nodes[sympy.Symbol("xhat2__0_1", real=True)]
    assert {s.name for s in xhat.free_symbols} == {"a1__0_1", "xhat2__mean_1", "xhat2__var_1"}
    mean = nodes[sympy.Symbol("xhat2__mean_1", real=True)]  # feature 1 over both examples, by symbol
    assert {s.name for s in mean.free_symbols} == {"a1__0_1", "a1__1_1"}
    var = nodes[sympy.Symbol("xhat2__var_1", real=True)]
    assert {s.name for s in var.free_symbols} == {"a1__0_1", "a1__1_1", "xhat2__mean_1"}


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_tensor_equation_of_a_builtin_network_agrees_with_its_units(name):
    d, module = _built(name)
    c = check_sequential(d, module)
    kinds = {eq.kind for eq in d.tensor_equations}
    assert {"forward", "loss", "delta", "gradient"} <= kinds
    entries = sum(int(np.prod(d.graph.shapes[eq.target] or (1,))) for eq in d.tensor_equations if eq.kind != "update")
    assert c.comparisons >= entries  # every entry of every equation, each point


def _check_random(net: SequentialNetwork, seed: int) -> None:
    d = SequentialDerivation(net)
    module = import_source(derive(net).to_numpy(), name=f"units_random_{seed}")
    check_sequential(d, module, points=1, seed=seed)


@settings(max_examples=15, deadline=None)
@given(conv_networks())
def test_random_conv_networks_agree_with_their_units(case):
    net, seed, _ = case
    _check_random(net, seed)


@settings(max_examples=25, deadline=None)
@given(vector_networks())
def test_random_vector_networks_agree_with_their_units(case):
    net, seed, _ = case
    _check_random(net, seed)


def test_a_wrong_error_term_in_train_py_fails_the_check():
    d, module = _built("lenet-tiny")

    def backward(values, inputs=False):
        out = dict(module.backward(values, inputs=inputs))
        out["delta_z1"] = out["delta_z1"] * 1.001  # a 0.1 % slip in one tensor equation
        return out

    tampered = types.SimpleNamespace(forward=module.forward, backward=backward)
    with pytest.raises(ConsistencyError, match="delta of z1"):
        check_sequential(d, tampered)


def test_an_unrotated_kernel_would_be_caught():
    """The input's error term with the kernel not rotated (a student's classic slip) differs."""
    net = SequentialNetwork(
        "one-conv",
        (1, 4, 4),
        (Layer("conv2d", channels=1, kernel=2), Layer("flatten"), Layer("dense", units=2, activation="softmax")),
        "cross_entropy",
    )
    d = SequentialDerivation(net)
    module = import_source(derive(net).to_numpy(), name="units_unrotated")
    check_sequential(d, module)

    def backward(values, inputs=False):
        out = dict(module.backward(values, inputs=inputs))
        w = np.asarray(values["W1"])[:, :, ::-1, ::-1]  # rotate the kernel: conv with rot(rot(W)) = W
        out["x"] = module.backward({**values, "W1": np.ascontiguousarray(w)}, inputs=True)["x"]
        return out

    with pytest.raises(ConsistencyError, match="gradient of x"):
        check_sequential(d, types.SimpleNamespace(forward=module.forward, backward=backward))


def test_ties_in_a_pooling_window_go_to_the_first_entry_in_both_forms():
    """Windows of a map that was all zero padding tie exactly: the per-unit max gates send the
    gradient to the first entry, as the tensor form routes it (found by hypothesis in CI)."""
    net = SequentialNetwork(
        "ties",
        (1, 3, 3),
        (
            Layer("conv2d", channels=1, kernel=1, padding=1, activation="elu"),
            Layer("conv2d", channels=3, kernel=2, stride=3, padding=2, activation="elu"),
            Layer("maxpool2d", size=3, stride=1),
            Layer("flatten"),
            Layer("dense", units=2, activation="softmax"),
        ),
        "cross_entropy",
    )
    d = SequentialDerivation(net)
    check_sequential(d, import_source(derive(net).to_numpy(), name="units_ties"), points=3)
