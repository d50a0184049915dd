"""Networks of layers against an independent autodiff oracle: PyTorch's functional ops.

The oracle below is the forward pass of a :class:`SequentialNetwork` written straight from its
layers with ``torch.nn.functional`` (``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``batch_norm``
in training mode, ``layer_norm``, the mask product of dropout, the residual sum) and
differentiated by ``torch.autograd`` in float64; nothing of symbackprop's derivation, kernels or
generated code is used. Its objective and every gradient (input, masks, every parameter) are
compared with the generated ``loss`` and ``backward``.

Coverage: hypothesis draws convolutional networks (input channels and sides, output channels,
kernels, strides, paddings, max or average pooling with its own size and stride, batch norm per
channel, layer norm, dropout on maps and vectors, activations, weight decay, batch sizes) and
vector networks with batch norm, layer norm, dropout and residual blocks; the built-in examples
are compared too, and a perturbed gradient must fail.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import import_source, random_values
from symbackprop.core.sequential import Layer, LayerError, SequentialNetwork

TOLERANCE = 1e-7  # as the finite-difference check: batch norm's backward cancels (delta - mean delta - ...)
TINY = 1e-12
FLOOR = 1e-3  # as gradcheck's

ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "elu": F.elu,
    "gelu": F.gelu,  # the erf form
    "silu": F.silu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "softmax": lambda z: torch.softmax(z, dim=1),
}
HIDDEN = sorted(set(ACTIVATIONS) - {"softmax"})


def _loss(name: str, z: torch.Tensor, a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The sum over the batch and the outputs of the loss, from the output layer's weighted input z
    and output a, by torch's own stable forms where it takes logs."""
    if name == "cross_entropy":  # with softmax
        return -(t * torch.log_softmax(z, dim=1)).sum()
    if name == "binary_cross_entropy":  # with sigmoid
        return F.binary_cross_entropy_with_logits(z, t, reduction="sum")
    if name == "squared_error":
        return 0.5 * ((a - t) ** 2).sum()
    if name == "huber":
        return F.huber_loss(a, t, reduction="sum", delta=1.0)
    raise KeyError(name)


def _layer(layer: Layer, tag: str, a: torch.Tensor, p: dict) -> torch.Tensor:
    act = ACTIVATIONS[layer.activation]
    kind = layer.type
    if kind == "dense":
        return act(F.linear(a, p[f"W{tag}"], p.get(f"b{tag}")))
    if kind == "conv2d":
        return act(F.conv2d(a, p[f"W{tag}"], p.get(f"b{tag}"), stride=layer.step, padding=layer.padding))
    if kind == "maxpool2d":
        return F.max_pool2d(a, layer.size, layer.step)
    if kind == "avgpool2d":
        return F.avg_pool2d(a, layer.size, layer.step)
    if kind == "flatten":
        return torch.flatten(a, 1)
    if kind == "batchnorm":
        return act(F.batch_norm(a, None, None, p[f"gamma{tag}"], p[f"beta{tag}"], training=True, eps=layer.eps))
    if kind == "layernorm":
        return act(F.layer_norm(a, a.shape[1:], p[f"gamma{tag}"], p[f"beta{tag}"], eps=layer.eps))
    if kind == "dropout":
        return a * p[f"mask{tag}"] / (1 - layer.rate)
    inner = a
    for j, part in enumerate(layer.body):
        inner = _layer(part, f"{tag}_{j + 1}", inner, p)
    return act(a + inner)


def oracle(net: SequentialNetwork, values: dict) -> tuple[float, dict[str, np.ndarray]]:
    """The objective and its gradient with respect to every leaf but t, by torch.autograd."""
    leaves = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=k != "t") for k, v in values.items()}
    a = leaves["x"]
    *hidden, last = net.layers
    for i, layer in enumerate(hidden):
        a = _layer(layer, str(i + 1), a, leaves)
    assert last.type == "dense", "the oracle takes the loss from the last dense layer's weighted input"
    tag = str(len(net.layers))
    z = F.linear(a, leaves[f"W{tag}"], leaves.get(f"b{tag}"))
    m = leaves["x"].shape[0]
    objective = _loss(net.loss, z, ACTIVATIONS[last.activation](z), leaves["t"]) / m
    for name in net.weights():
        objective = objective + 0.5 * net.weight_decay * (leaves[name] ** 2).sum()
    objective.backward()
    return float(objective.detach()), {k: v.grad.numpy() for k, v in leaves.items() if k != "t"}


_ids = itertools.count()


@functools.lru_cache(maxsize=None)
def _module(net: SequentialNetwork):
    return import_source(derive(net).to_numpy(), name=f"gen_conv_oracle_{next(_ids)}")


def relative_error(a, o, scale: float = 0.0) -> float:
    """|a - o| / max(|a|, |o|), an entry judged at no less than 1/1000 of its gradient's largest
    (as gradcheck does: an entry that cancels to 1e-10 beside entries of 1 is rounding) nor of
    ``scale``, the largest entry of all the gradients: a gradient that is exactly 0 (a conv bias
    before a normalisation that removes it) is rounding on both sides, amplified by the norm's
    1/sigma."""
    a, o = np.asarray(a, dtype=float), np.asarray(o, dtype=float)
    floor = max(FLOOR * float(np.max(np.abs(o))) if o.size else 0.0, FLOOR * scale, TINY)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(o)), floor)
    return float(np.max(np.abs(a - o) / scale)) if a.size else 0.0


def assert_matches_torch(net: SequentialNetwork, values: dict) -> None:
    module = _module(net)
    want_value, want = oracle(net, values)
    assert module.loss(values) == pytest.approx(want_value, rel=1e-11, abs=1e-13), net
    got = module.backward(values, inputs=True)
    assert set(want) == {*module.INPUTS, *module.PARAMETERS}
    largest = max(float(np.max(np.abs(g))) for g in want.values() if g.size)
    for leaf, grad in want.items():
        assert np.shape(got[leaf]) == grad.shape, (leaf, np.shape(got[leaf]), grad.shape)
        err = relative_error(got[leaf], grad, largest)
        assert err < TOLERANCE, f"{net}: d/d{leaf} relative error {err:.3e}\n{got[leaf]}\n{grad}"


# SequentialNetwork is a mutable dataclass: hash it by identity for the module cache
SequentialNetwork.__hash__ = object.__hash__


# --- random convolutional networks --------------------------------------------------------------
OUTPUT_PAIRS = [("softmax", "cross_entropy"), ("identity", "squared_error"), ("sigmoid", "binary_cross_entropy")]


@st.composite
def conv_networks(draw):
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(3, 9)), draw(st.integers(3, 9))
    layers = []
    shape = (c, h, w)
    for _ in range(draw(st.integers(1, 2))):
        padding = draw(st.integers(0, 2))
        k = draw(st.integers(1, min(4, shape[1] + 2 * padding, shape[2] + 2 * padding)))
        stride = draw(st.integers(1, 3))
        conv = Layer(
            "conv2d",
            channels=draw(st.integers(1, 3)),
            kernel=k,
            stride=stride,
            padding=padding,
            activation=draw(st.sampled_from(HIDDEN)),
            bias=draw(st.booleans()),
        )
        layers.append(conv)
        shape = (conv.channels, (shape[1] + 2 * padding - k) // stride + 1, (shape[2] + 2 * padding - k) // stride + 1)
        if draw(st.booleans()):
            layers.append(Layer("batchnorm", activation=draw(st.sampled_from(HIDDEN))))
        if draw(st.booleans()):
            size = draw(st.integers(1, min(3, shape[1], shape[2])))
            strides = [s for s in (1, 2, 3) if (shape[1] - size) % s == 0 and (shape[2] - size) % s == 0]
            stride = draw(st.sampled_from(strides))
            layers.append(Layer(draw(st.sampled_from(("maxpool2d", "avgpool2d"))), size=size, stride=stride))
            shape = (shape[0], (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1)
        if draw(st.booleans()):  # layer norm over one entry is identically 0: not a case
            layers.append(
                Layer("layernorm") if math.prod(shape) > 1 and draw(st.booleans()) else Layer("dropout", rate=0.25)
            )
    layers.append(Layer("flatten"))
    if draw(st.booleans()):
        layers.append(Layer("dropout", rate=draw(st.sampled_from((0.0, 0.5)))))
    out_act, loss = draw(st.sampled_from(OUTPUT_PAIRS))
    layers.append(Layer("dense", units=draw(st.integers(1, 3)), activation=out_act))
    decay = draw(st.sampled_from((0.0, 0.1)))
    net = SequentialNetwork("conv", (c, h, w), tuple(layers), loss, weight_decay=decay)
    return net, draw(st.integers(0, 2**32 - 1)), draw(st.integers(2, 4))


@settings(max_examples=100, deadline=None)
@given(conv_networks())
def test_random_conv_networks_match_torch(case):
    net, seed, batch = case
    values = random_values(net, np.random.default_rng(seed), batch=batch)
    assert_matches_torch(net, values)


@st.composite
def vector_networks(draw):
    n = draw(st.integers(2, 4))  # normalising a single unit is degenerate (layer norm: 0; batch norm: rounding / eps)
    layers = [Layer("dense", units=n, activation=draw(st.sampled_from(HIDDEN)), bias=draw(st.booleans()))]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("batchnorm", "layernorm", "dropout", "residual", "dense")))
        if kind == "dropout":
            layers.append(Layer("dropout", rate=draw(st.sampled_from((0.2, 0.5)))))
        elif kind == "residual":
            body = [Layer("dense", units=n, activation=draw(st.sampled_from(HIDDEN)))]
            if draw(st.booleans()):
                body.append(draw(st.sampled_from((Layer("batchnorm"), Layer("layernorm"), Layer("dense", units=n)))))
            layers.append(Layer("residual", body=tuple(body), activation=draw(st.sampled_from(HIDDEN))))
        elif kind == "dense":
            layers.append(Layer("dense", units=n, activation=draw(st.sampled_from(HIDDEN))))
        else:
            layers.append(Layer(kind, activation=draw(st.sampled_from(HIDDEN)), eps=draw(st.sampled_from((1e-5, 0.1)))))
    out_act, loss = draw(st.sampled_from(OUTPUT_PAIRS))
    layers.append(Layer("dense", units=draw(st.integers(1, 3)), activation=out_act))
    net = SequentialNetwork("vec", (draw(st.integers(1, 4)),), tuple(layers), loss, weight_decay=0.05)
    return net, draw(st.integers(0, 2**32 - 1)), draw(st.integers(2, 5))


@settings(max_examples=100, deadline=None)
@given(vector_networks())
def test_random_vector_networks_with_norms_dropout_and_residuals_match_torch(case):
    net, seed, batch = case
    values = random_values(net, np.random.default_rng(seed), batch=batch)
    assert_matches_torch(net, values)


@pytest.mark.parametrize("name", ["lenet-tiny", "bn-mlp", "dropout-mlp", "resnet-block"])
def test_builtin_layer_examples_match_torch(name):
    net = load_spec(name)
    module = _module(net)
    assert_matches_torch(net, module.initial_values())
    assert_matches_torch(net, random_values(net, np.random.default_rng(1), batch=4))


def test_ties_of_max_pooling_route_to_the_first_maximum_as_torch_does():
    """A window of equal entries (relu's zeros, or equal inputs): both send delta to its first entry."""
    net = SequentialNetwork(
        "ties", (1, 4, 4), (Layer("maxpool2d", size=2), Layer("flatten"), Layer("dense", units=2)), "squared_error"
    )
    values = random_values(net, np.random.default_rng(0), batch=2)
    values["x"][:, :, :2, :2] = 0.5  # the first window all tied
    assert_matches_torch(net, values)


def test_the_oracle_comparison_is_not_vacuous():
    net = load_spec("lenet-tiny")
    module = _module(net)
    values = module.initial_values()
    _, want = oracle(net, values)
    got = module.backward(values)["W1"]
    assert relative_error(got, want["W1"]) < TOLERANCE
    assert relative_error(got * (1 + 1e-6), want["W1"]) > TOLERANCE


def test_shapes_that_do_not_fit_are_refused_before_any_derivation():
    with pytest.raises(LayerError, match=r"layers\[0\]\.kernel: layer 1 \(conv2d\): kernel 5 is larger"):
        SequentialNetwork("bad", (1, 3, 3), (Layer("conv2d", channels=1, kernel=5),), "squared_error")


# --- the kernels on their own: every geometry, NumPy's fast paths and the portable forms ------------
def _kernel_cases(count: int, seed: int):
    """Random (m, C, F, H, W, k, stride, padding), strides and sizes that leave rows uncovered too."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        k, stride, padding = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
        h, w = (int(rng.integers(max(1, k - 2 * padding), 10)) for _ in range(2))
        yield (*(int(n) for n in rng.integers(1, 4, 3)), h, w, k, stride, padding), rng


@pytest.mark.parametrize("namespace", ["numpy", "array-api-strict"])
def test_conv_kernels_match_torch_on_every_geometry(namespace):
    """conv2d, its input's error term (shares added as flat runs) and its kernels' gradient
    against torch.nn.grad, on NumPy (im2col as one strided view) and on array-api-strict (im2col
    as a stack of slices)."""
    import array_api_strict

    from symbackprop.registry import layers

    xp, to = (np, np.asarray) if namespace == "numpy" else (array_api_strict, array_api_strict.asarray)
    for (m, c, f, h, w, k, stride, padding), rng in _kernel_cases(60, seed=1):
        x, kernels = rng.normal(size=(m, c, h, w)), rng.normal(size=(f, c, k, k))
        tx, tk = torch.tensor(x), torch.tensor(kernels)
        z = F.conv2d(tx, tk, stride=stride, padding=padding)
        d = torch.tensor(rng.normal(size=tuple(z.shape)))
        got = np.asarray(layers.conv2d(xp, to(x), to(kernels), stride, padding))
        np.testing.assert_allclose(got, z.numpy(), rtol=1e-12, atol=1e-12)
        want = torch.nn.grad.conv2d_input(tx.shape, tk, d, stride=stride, padding=padding).numpy()
        got = np.asarray(layers.conv2d_input(xp, to(d.numpy()), to(kernels), stride, padding, h, w))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        want = torch.nn.grad.conv2d_weight(tx, tk.shape, d, stride=stride, padding=padding).numpy()
        got = np.asarray(layers.conv2d_weight_sum(xp, to(x), to(d.numpy()), k, stride, padding))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_max_pooling_backward_routes_ties_as_torch_does_on_every_geometry():
    """Windows that overlap (stride < size: shares added), that do not (written) and that skip
    entries, on inputs of few distinct values (many ties, all-zero windows as after relu)."""
    from symbackprop.registry import layers

    for (m, c, _, h, w, size, stride, _), rng in _kernel_cases(80, seed=2):
        if size > min(h, w):
            continue
        x = np.maximum(rng.integers(-2, 3, size=(m, c, h, w)), 0).astype(float)
        tx = torch.tensor(x, requires_grad=True)
        y = F.max_pool2d(tx, size, stride)
        d = torch.tensor(rng.normal(size=tuple(y.shape)))
        (want,) = torch.autograd.grad(y, tx, d)
        pooled = layers.maxpool2d(np, x, size, stride)
        np.testing.assert_array_equal(pooled, y.detach().numpy())
        got = layers.maxpool2d_input(np, x, pooled, d.numpy(), size, stride)
        if stride >= size:  # each entry gets one window's share or none: exactly torch's
            np.testing.assert_array_equal(got, want.numpy())
        else:  # the shares of overlapping windows are summed, in another order than torch's
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-14, atol=1e-15)
