"""A network as a list of layers (dense, convolution, pooling, flatten, normalisation, dropout,
residual blocks), and its tensor graph: plain data, no calculus.

:class:`SequentialNetwork` holds what a ``[[layers]]`` spec gives: one example's input shape
((channels, height, width) for images, (features,) for vectors), the layers in order, the loss.
Building it infers every layer's output shape and refuses layers that do not fit (a kernel
larger than its padded input, pooling windows that do not tile the input, a dense layer on a
feature map...), with a :class:`LayerError` that names the layer's field (``layers[1].kernel``)
and the layer (``layer 2 (conv2d)``).

:meth:`SequentialNetwork.graph` composes the tensor :class:`~symbackprop.core.network.GraphNetwork`
from registry ops, a symbol a whole tensor of one example (of any rank now: a feature map is
(C, H, W)), as :meth:`LayeredNetwork.graph` does for the fully connected network. Layer l (its
position in ``[[layers]]``, from 1; the input is a^(0) = x) writes

* dense      z^(l) = W^(l) a^(l-1) + b^(l),                  a^(l) = f(z^(l))
* conv2d     z^(l) = conv(a^(l-1), W^(l)) + b^(l),           a^(l) = f(z^(l))
* pooling    a^(l) = maxpool(a^(l-1)) or avgpool(a^(l-1))
* flatten    a^(l) = vec(a^(l-1))
* batchnorm  xhat^(l) = BN(a^(l-1)), z^(l) = gamma^(l) xhat^(l) + beta^(l), a^(l) = f(z^(l))
  (layernorm alike, with LN)
* dropout    a^(l) = r^(l) a^(l-1) / (1 - p), the mask r^(l) (code name ``mask<l>``) an input
* residual   the body's layers from a^(l-1) (named l_1, l_2, ...: W^(l,1), z^(l,2)),
  z^(l) = a^(l-1) + (the body's output), a^(l) = f(z^(l))

Sequence models take one example's sequence x of shape (T, D) (``input = [T, D]``) and are
unrolled through time: one node per step, the steps sharing their weights (the graph of these
layers is :mod:`symbackprop.core.sequence_graph`'s, their ops :mod:`symbackprop.registry.sequence`'s),
h_0 = 0 and c_0 = 0:

* rnn        z^(l)_t = W_xh^(l) x_t + W_hh^(l) h^(l)_{t-1} + b_h^(l),   h^(l)_t = f(z^(l)_t)
* lstm       z^(l)_t = W_ih^(l) x_t + W_hh^(l) h^(l)_{t-1} + b^(l) (4H: the gates i, f, g, o in
  PyTorch's order), s^(l)_{i,t} its block i, ..., i_t = sigmoid(s_i), f_t = sigmoid(s_f),
  g_t = tanh(s_g), o_t = sigmoid(s_o), c_t = f_t c_{t-1} + i_t g_t, h_t = o_t tanh(c_t)
* gru        u^(l)_t = W_ih^(l) x_t + b^(l), v^(l)_t = W_hh^(l) h_{t-1} (3H: r, z, n),
  r_t = sigmoid(u_r + v_r), z_t = sigmoid(u_z + v_z), n_t = tanh(u_n + r_t v_n),
  h_t = (1 - z_t) n_t + z_t h_{t-1}
* attention  Q = X W_q, K = X W_k, V = X W_v (W: (D, dim)), S = Q K^T / sqrt(dim),
  A = softmax(S) row by row (causal: entries above the diagonal masked), O^(l) = A V
* mean_over_time  a^(l) = (1/T) sum_t x_t;   last_step  a^(l) = x_T

A recurrent layer returns h_T (``return = "last"``) or the sequence of its steps
(``"sequence"``). PyTorch has two biases per gate (b_ih + b_hh); here they are merged into one
b: the same network as PyTorch's with b_ih = b and b_hh = 0 (for the GRU's n gate too, where
PyTorch's b_hn sits inside r_t ( ... )).

then J = (1/m) sum_i loss(a_i, t_i) + (lambda/2) sum ||W||^2 over every dense and conv kernel.
Parameters are laid out as PyTorch lays them out: W (out, in) or (F, C, k, k), b (out,),
gamma and beta (features,), or (C,) after a convolution (per channel), or the input's own shape
for layer norm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Literal

import numpy as np
import sympy
from sympy import Integer, Symbol

from symbackprop.core.network import GraphNetwork, NetworkError
from symbackprop.core.sequence_graph import BLOCKS, SequenceGraph
from symbackprop.core.sequence_graph import layer_sup as _sup
from symbackprop.registry import (
    ACTIVATIONS,
    RNN_ACTIVATION,
    AvgPool2d,
    BatchNorm,
    ChannelBias,
    Conv2d,
    Flatten,
    FrobSq,
    LayerNorm,
    LossMean,
    MatVec,
    MaxPool2d,
    TimeStep,
    activation,
    loss,
    real,
)

LayerType = Literal[
    "dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "batchnorm", "layernorm", "dropout", "residual",
    "rnn", "lstm", "gru", "attention", "mean_over_time", "last_step",
]  # fmt: skip
SEQUENCE_TYPES = ("rnn", "lstm", "gru", "attention", "mean_over_time", "last_step")
RECURRENT_TYPES = ("rnn", "lstm", "gru")
LAYER_TYPES = (
    "dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "batchnorm", "layernorm", "dropout", "residual",
    *SEQUENCE_TYPES,
)  # fmt: skip
RETURNS = ("last", "sequence")
# the fields of each layer type (spec keys), the required ones first
LAYER_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dense": (("units",), ("activation", "bias")),
    "conv2d": (("channels", "kernel"), ("stride", "padding", "activation", "bias")),
    "maxpool2d": (("size",), ("stride",)),
    "avgpool2d": (("size",), ("stride",)),
    "flatten": ((), ()),
    "batchnorm": ((), ("eps", "activation")),
    "layernorm": ((), ("eps", "activation")),
    "dropout": (("rate",), ()),
    "residual": (("body",), ("activation",)),
    "rnn": (("units",), ("activation", "return", "learn_initial")),
    "lstm": (("units",), ("return", "learn_initial")),
    "gru": (("units",), ("return", "learn_initial")),
    "attention": (("dim",), ("causal",)),
    "mean_over_time": ((), ()),
    "last_step": ((), ()),
}
DEFAULT_EPS = 1e-5


class LayerError(NetworkError):
    """A layer that does not fit: ``field`` is its spec field (layers[1].kernel), ``problem`` says why."""

    def __init__(self, network: str, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{network}: {field}: {problem}")


@dataclass(frozen=True)
class Layer:
    """One layer: its type and the fields that type has (the others keep their defaults).

    ``stride`` None is the type's default: 1 for a convolution, the window's size for pooling.
    ``returns`` is a recurrent layer's ``return`` ("last" or "sequence"); ``dim`` attention's d_k.
    ``learn_initial`` makes a recurrent layer's h_0 (and an LSTM's c_0) a parameter ``h0<l>``
    (``c0<l>``), the same for every example, starting at 0. An rnn's activation defaults to
    tanh, every other type's to identity."""

    type: str
    units: int = 0
    channels: int = 0
    kernel: int = 0
    stride: int | None = None
    padding: int = 0
    size: int = 0
    activation: str = ""  # "": the type's default (tanh for rnn, identity for the others)
    bias: bool = True
    rate: float = 0.0
    eps: float = DEFAULT_EPS
    body: tuple[Layer, ...] = ()
    returns: str = "last"
    dim: int = 0
    causal: bool = False
    learn_initial: bool = False  # h_0 (and an LSTM's c_0) a parameter, not 0

    def __post_init__(self) -> None:
        if not self.activation:
            object.__setattr__(self, "activation", RNN_ACTIVATION if self.type == "rnn" else "identity")

    @property
    def step(self) -> int:
        """The stride in effect."""
        if self.stride is not None:
            return self.stride
        return self.size if self.type in ("maxpool2d", "avgpool2d") else 1


def _grid(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


def _fits(net: str, field: str, where: str, layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of ``layer`` on an input of ``shape``, or a LayerError naming the field."""

    def fail(key: str, problem: str) -> LayerError:
        return LayerError(net, f"{field}.{key}" if key else field, f"{where}: {problem}")

    kind = layer.type
    if kind not in LAYER_TYPES:
        raise fail("type", f"unknown layer type {kind!r}; known: {', '.join(LAYER_TYPES)}")
    if kind in ("dense", "conv2d", "batchnorm", "layernorm", "residual", "rnn") and layer.activation not in ACTIVATIONS:
        raise fail("activation", f"unknown activation {layer.activation!r}; known: {', '.join(sorted(ACTIVATIONS))}")
    if kind in SEQUENCE_TYPES:
        return _sequence_fits(fail, layer, shape)
    if len(shape) == 2:
        raise fail(
            "", f"{kind} does not take a sequence ({_grid(shape)}); reduce it first (mean_over_time or last_step)"
        )
    if kind == "dense":
        if len(shape) != 1:
            raise fail("", f"a dense layer needs a vector input, got {_grid(shape)} (add a flatten layer before it)")
        return (layer.units,)
    if kind == "flatten":
        if len(shape) != 3:
            raise fail("", f"flatten needs a (channels, height, width) input, got {_grid(shape)}")
        return (math.prod(shape),)
    if kind in ("batchnorm", "layernorm", "dropout"):
        return shape
    if kind == "residual":
        return shape  # the body is checked by the caller, layer by layer
    if len(shape) != 3:
        raise fail("", f"{kind} needs a (channels, height, width) input, got {_grid(shape)}")
    c, h, w = shape
    if kind == "conv2d":
        k, s, p = layer.kernel, layer.step, layer.padding
        if k > h + 2 * p or k > w + 2 * p:
            raise fail("kernel", f"kernel {k} is larger than its input {h} x {w} (padding {p})")
        return (layer.channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    size, s = layer.size, layer.step
    if size > h or size > w:
        raise fail("size", f"window {size} is larger than its input {h} x {w}")
    if (h - size) % s or (w - size) % s:
        raise fail(
            "stride" if layer.stride is not None else "size",
            f"windows of {size} every {s} do not tile the input {h} x {w} ((side - size) must divide by the stride)",
        )
    return (c, (h - size) // s + 1, (w - size) // s + 1)


def _sequence_fits(fail, layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of a sequence layer on a (T, D) input."""
    kind = layer.type
    if len(shape) != 2:
        raise fail("", f"{kind} needs a sequence input (time steps, features), got {_grid(shape)}")
    steps, _ = shape
    if kind in RECURRENT_TYPES:
        if layer.units < 1:
            raise fail("units", "expected a whole number of units, at least 1")
        if layer.returns not in RETURNS:
            raise fail("return", f"expected one of {', '.join(map(repr, RETURNS))}, got {layer.returns!r}")
        return (layer.units,) if layer.returns == "last" else (steps, layer.units)
    if kind == "attention":
        if layer.dim < 1:
            raise fail("dim", "expected a whole number, at least 1")
        return (steps, layer.dim)
    return shape[1:]  # mean_over_time, last_step


@dataclass
class SequentialNetwork:
    """A network given as a list of layers (see the module docstring)."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    loss: str
    weight_decay: float = 0.0
    learning_rate: float = 0.1
    epochs: int = 20
    seed: int = 0
    init_scale: float = 1.0  # weights: normal(0, init_scale / sqrt(fan_in))
    clip_norm: float = 0.0  # step clips the gradient to this global norm (0: no clipping)
    loss_per_step: bool = False  # a sequence out, targets (m, T, outputs), the loss summed over the steps
    notation: Literal["layer"] = "layer"
    example: dict[str, list] = field(default_factory=dict)
    title: str = ""
    title_zh: str = ""

    def __post_init__(self) -> None:
        self.input_shape = tuple(self.input_shape)
        self.layers = tuple(self.layers)
        if not self.layers:
            raise LayerError(self.name, "layers", "no layers")
        self.shapes = self._infer()
        out = self.output_shape
        if self.loss_per_step and len(out) != 2:
            raise LayerError(
                self.name,
                f"layers[{len(self.layers) - 1}]",
                f"a per-step loss needs a sequence out (time steps, outputs), got {_grid(out)}"
                ' (no mean_over_time or last_step; a recurrent layer\'s return = "sequence")',
            )
        if len(out) != 1 and not self.loss_per_step:
            raise LayerError(
                self.name,
                f"layers[{len(self.layers) - 1}]",
                f"the last layer's output must be a vector for the loss, got {_grid(out)} (end with flatten and dense)",
            )
        for key, shape in (("x", self.input_shape), ("t", out)):
            rows = self.example.get(key)
            if rows is not None and np.shape(rows)[1:] != shape:
                raise NetworkError(f"{self.name}: example {key} must be one {_grid(shape)} array per example")

    def _infer(self) -> list[tuple[int, ...]]:
        """Each layer's output shape (a residual block's body checked too)."""
        shapes, shape = [], self.input_shape
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            field_, where = f"layers[{i}]", f"layer {i + 1} ({layer.type})"
            self._vector_activation(layer, field_, where, i == last)
            if self.loss_per_step and layer.type == "dense" and len(shape) == 2:
                out = (shape[0], *_fits(self.name, field_, where, layer, shape[1:]))  # each step's
            else:
                out = _fits(self.name, field_, where, layer, shape)
            if layer.type == "residual":
                inner = shape
                for j, part in enumerate(layer.body):
                    if part.type == "residual":
                        raise LayerError(
                            self.name, f"{field_}.body[{j}]", f"{where}: a residual body holds plain layers"
                        )
                    self._vector_activation(part, f"{field_}.body[{j}]", where, False)
                    inner = _fits(
                        self.name, f"{field_}.body[{j}]", f"{where}, body layer {j + 1} ({part.type})", part, inner
                    )
                if inner != shape:
                    raise LayerError(
                        self.name,
                        f"{field_}.body",
                        f"{where}: the body gives {_grid(inner)}, its input is {_grid(shape)}",
                    )
            shapes.append(out)
            shape = out
        return shapes

    def _vector_activation(self, layer: Layer, field_: str, where: str, last: bool) -> None:
        act = ACTIVATIONS.get(layer.activation)
        if act is not None and act.vector and not (last and layer.type == "dense"):
            raise LayerError(
                self.name,
                f"{field_}.activation",
                f"{where}: {layer.activation} is only allowed in the last, dense layer",
            )

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes[-1]

    @property
    def output_activation(self) -> str:
        last = self.layers[-1]
        return last.activation if last.type in ("dense", "batchnorm", "layernorm", "residual") else "identity"

    @property
    def unit_count(self) -> int:
        """Entries of every layer's output of one example, the input's too."""
        return math.prod(self.input_shape) + sum(math.prod(s) for s in self.shapes)

    @property
    def batch_norm(self) -> bool:
        """Whether batch statistics couple the examples of a batch."""
        return any(layer.type == "batchnorm" or any(p.type == "batchnorm" for p in layer.body) for layer in self.layers)

    # --- parameters and masks ---------------------------------------------------------------
    def _walk(self):
        """(tag, layer, input shape, output shape) for every layer, a residual body's after its block's input."""
        shape = self.input_shape
        for i, layer in enumerate(self.layers):
            tag = str(i + 1)
            if layer.type == "residual":
                inner = shape
                for j, part in enumerate(layer.body):
                    out = _fits(self.name, "", "", part, inner)
                    yield f"{tag}_{j + 1}", part, inner, out
                    inner = out
            yield tag, layer, shape, self.shapes[i]
            shape = self.shapes[i]

    def parameter_shapes(self) -> Mapping[str, tuple[int, ...]]:
        """W<l>, b<l>, gamma<l>, beta<l> in layer order, in PyTorch's layouts."""
        shapes: dict[str, tuple[int, ...]] = {}
        for tag, layer, before, _ in self._walk():
            if layer.type == "dense":  # before[-1]: each step's features under a per-step loss
                shapes[f"W{tag}"] = (layer.units, before[-1])
                if layer.bias:
                    shapes[f"b{tag}"] = (layer.units,)
            elif layer.type == "conv2d":
                shapes[f"W{tag}"] = (layer.channels, before[0], layer.kernel, layer.kernel)
                if layer.bias:
                    shapes[f"b{tag}"] = (layer.channels,)
            elif layer.type in ("batchnorm", "layernorm"):
                shape = before if layer.type == "layernorm" else before[:1]
                shapes[f"gamma{tag}"] = shape
                shapes[f"beta{tag}"] = shape
            elif layer.type == "rnn":
                h = layer.units
                shapes.update({f"W_xh{tag}": (h, before[1]), f"W_hh{tag}": (h, h), f"b_h{tag}": (h,)})
                if layer.learn_initial:
                    shapes[f"h0{tag}"] = (h,)
            elif layer.type in BLOCKS:
                h, n = layer.units, BLOCKS[layer.type]
                shapes.update({f"W_ih{tag}": (n * h, before[1]), f"W_hh{tag}": (n * h, h), f"b{tag}": (n * h,)})
                if layer.learn_initial:
                    shapes.update({f"h0{tag}": (h,), **({f"c0{tag}": (h,)} if layer.type == "lstm" else {})})
            elif layer.type == "attention":
                for part in "qkv":
                    shapes[f"W_{part}{tag}"] = (before[1], layer.dim)
        return shapes

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.parameter_shapes())

    def weights(self) -> tuple[str, ...]:
        """The kernels and weight matrices: what weight decay shrinks."""
        return tuple(n for n in self.parameter_shapes() if n.startswith("W"))

    def masks(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """mask<l> -> (one example's shape, drop rate p) for every dropout layer."""
        return {f"mask{tag}": (before, layer.rate) for tag, layer, before, _ in self._walk() if layer.type == "dropout"}

    def initial_scale(self, name: str) -> float | None:
        """The standard deviation a weight is drawn with (init_scale / sqrt(fan_in)); None for b,
        gamma, beta (0, 1, 0, as PyTorch starts batch norm)."""
        if not name.startswith("W"):
            return None
        return self.init_scale / math.sqrt(self.fan_in(name))

    def fan_in(self, name: str) -> int:
        """The inputs of each unit a weight feeds: its rows' length (W (out, in) or (F, C, k, k)),
        but attention's W_q, W_k, W_v (D, dim) multiply from the right: D."""
        shape = self.parameter_shapes()[name]
        return shape[0] if name[:3] in ("W_q", "W_k", "W_v") else math.prod(shape[1:])

    def initial_parameters(self, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """The parameters from the spec's seed (the generated code draws the same ones); ``rng``:
        a generator to draw them from, which goes on to draw what follows (dropout masks)."""
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        values = {}
        for name, shape in self.parameter_shapes().items():
            scale = self.initial_scale(name)
            if scale is not None:
                values[name] = rng.normal(0.0, scale, shape)
            else:
                values[name] = np.ones(shape) if name.startswith("gamma") else np.zeros(shape)
        return values

    def graph(self) -> GraphNetwork:
        """The tensor graph (see the module docstring)."""
        return graph_and_names(self)[0]


@dataclass
class _GraphBuilder(SequenceGraph):
    """Symbols, LaTeX names, shapes and nodes of a sequential network's tensor graph."""

    net: SequentialNetwork
    nodes: dict[Symbol, sympy.Expr] = field(default_factory=dict)
    shapes: dict[Symbol, tuple[int, ...]] = field(default_factory=dict)
    latex: dict[Symbol, str] = field(default_factory=dict)
    parameters: dict[Symbol, float] = field(default_factory=dict)
    masks: list[Symbol] = field(default_factory=list)
    delta_names: dict[Symbol, Symbol] = field(default_factory=dict)
    layer_of: dict[Symbol, int] = field(default_factory=dict)

    def sym(self, ident: str, latex: str, shape: tuple[int, ...], layer: int | None = None) -> Symbol:
        s = real(ident)
        self.latex[s] = latex
        self.shapes[s] = shape
        if layer is not None:
            self.layer_of[s] = layer
        return s

    def param(self, ident: str, latex: str, shape: tuple[int, ...], layer: int) -> Symbol:
        p = self.sym(ident, latex, shape, layer)
        self.parameters[p] = 0.0
        return p

    def node(self, s: Symbol, expr: sympy.Expr) -> Symbol:
        self.nodes[s] = expr
        return s

    def pre_activation(self, tag: str, expr: sympy.Expr, shape, layer: int, act: str) -> Symbol:
        """z = expr (its error term delta), then a = f(z)."""
        z = self.node(self.sym(f"z{tag}", f"z{_sup(tag)}", shape, layer), expr)
        self.delta_names[z] = self.sym(f"delta{tag}", rf"\delta{_sup(tag)}", shape, layer)
        return self.node(self.sym(f"a{tag}", f"a{_sup(tag)}", shape, layer), activation(act).apply(z))

    def layer(self, tag: str, layer: Layer, a: Symbol, before, after, number: int) -> Symbol:
        sup = _sup(tag)
        kind = layer.type
        if kind == "dense" and len(before) == 2:
            return self.dense_steps(tag, layer, a, before, number)
        if kind in RECURRENT_TYPES:
            return self.recurrent(tag, layer, a, before, number)
        if kind == "attention":
            return self.attention(tag, layer, a, before, number)
        if kind in ("mean_over_time", "last_step"):
            return self.reduce(tag, layer, a, before, after, number)
        if kind == "dense":
            W = self.param(f"W{tag}", f"W{sup}", (layer.units, before[0]), number)
            expr = MatVec(W, a)
            if layer.bias:
                b = self.param(f"b{tag}", f"b{sup}", (layer.units,), number)
                expr = sympy.Add(expr, b, evaluate=False)
            return self.pre_activation(tag, expr, after, number, layer.activation)
        if kind == "conv2d":
            k, c, h, w = layer.kernel, *before
            W = self.param(f"W{tag}", f"W{sup}", (layer.channels, c, k, k), number)
            expr = Conv2d(W, a, *map(Integer, (k, layer.step, layer.padding, h, w)))
            if layer.bias:
                b = self.param(f"b{tag}", f"b{sup}", (layer.channels,), number)
                expr = sympy.Add(expr, ChannelBias(b), evaluate=False)
            return self.pre_activation(tag, expr, after, number, layer.activation)
        if kind in ("maxpool2d", "avgpool2d"):
            op = MaxPool2d if kind == "maxpool2d" else AvgPool2d
            out = self.sym(f"a{tag}", f"a{sup}", after, number)
            return self.node(out, op(a, *map(Integer, (layer.size, layer.step, before[1], before[2]))))
        if kind == "flatten":
            return self.node(self.sym(f"a{tag}", f"a{sup}", after, number), Flatten(a, *map(Integer, before)))
        if kind == "dropout":
            mask = self.sym(f"mask{tag}", f"r{sup}", before, number)
            self.masks.append(mask)
            keep = Fraction(layer.rate).limit_denominator(10**6)
            scale = sympy.Rational(keep.denominator, keep.denominator - keep.numerator)
            return self.node(self.sym(f"a{tag}", f"a{sup}", after, number), sympy.Mul(scale, mask, a))
        if kind in ("batchnorm", "layernorm"):
            op = BatchNorm if kind == "batchnorm" else LayerNorm
            xhat = self.node(self.sym(f"xhat{tag}", rf"\hat{{x}}{sup}", before, number), op(a, sympy.Float(layer.eps)))
            per_channel = kind == "batchnorm" and len(before) == 3
            shape = before[:1] if kind == "batchnorm" else before
            gamma = self.param(f"gamma{tag}", rf"\gamma{sup}", shape, number)
            beta = self.param(f"beta{tag}", rf"\beta{sup}", shape, number)
            scale, shift = (ChannelBias(gamma), ChannelBias(beta)) if per_channel else (gamma, beta)
            expr = sympy.Add(sympy.Mul(scale, xhat, evaluate=False), shift, evaluate=False)
            return self.pre_activation(tag, expr, after, number, layer.activation)
        # residual: the body, then the sum with the block's input
        inner, shape = a, before
        for j, part in enumerate(layer.body):
            out_shape = _fits(self.net.name, "", "", part, shape)
            inner = self.layer(f"{tag}_{j + 1}", part, inner, shape, out_shape, number)
            shape = out_shape
        return self.pre_activation(tag, sympy.Add(a, inner, evaluate=False), after, number, layer.activation)

    def build(self) -> GraphNetwork:
        net = self.net
        x = self.sym("x", "x", net.input_shape, 0)
        a = x
        shape = net.input_shape
        for i, layer in enumerate(net.layers):
            a = self.layer(str(i + 1), layer, a, shape, net.shapes[i], i + 1)
            shape = net.shapes[i]
        t = self.sym("t", "y", net.output_shape, len(net.layers))
        if isinstance(a, list):  # a per-step loss: y_t, row t of the targets, against each step's output
            steps = net.output_shape[0]
            targets = [TimeStep(t, Integer(s), Integer(steps)) for s in range(steps)]
            data = sympy.Add(*(LossMean(loss(net.loss).term(a_t, y_t)) for a_t, y_t in zip(a, targets)))
            groups = tuple((y_t,) for y_t in targets)
        else:
            data = LossMean(loss(net.loss).term(a, t))
            groups = ((t,),)
        objective = self.sym("J", "J", ())
        lam = self.sym("lambda", r"\lambda", ())
        weights = [p for p in self.parameters if p.name.startswith("W")]
        if net.weight_decay:  # J = L + s, the regularisation term its own node
            mean, reg = self.sym("L", "L", ()), self.sym("s", "s", ())
            self.nodes[mean] = data
            self.nodes[reg] = lam / 2 * sympy.Add(*(FrobSq(W) for W in weights))
            self.nodes[objective] = sympy.Add(mean, reg, evaluate=False)
        else:
            self.nodes[objective] = data
        rate = self.sym("alpha", r"\alpha", ())
        self.sym("m", "m", ())
        return GraphNetwork(
            name=net.name,
            title=net.title,
            title_zh=net.title_zh,
            inputs=(x, *self.masks),
            targets=(t,),
            parameters=self.parameters,
            nodes=self.nodes,
            objective=objective,
            learning_rate=net.learning_rate,
            epochs=net.epochs,
            notation="layer",
            latex_names=self.latex,
            delta_names=self.delta_names,
            target_groups=groups if loss(net.loss).targets_sum_to_one else (),
            learning_rate_symbol=rate,
            constants={lam: net.weight_decay} if net.weight_decay else {},
            shapes={
                s: v
                for s, v in self.shapes.items()
                if s in self.nodes or s in self.parameters or s in (x, t, *self.masks)
            },
        )

    @property
    def vectors(self) -> frozenset[Symbol]:
        """The tensors of the graph (products of two of them are elementwise: printed with odot)."""
        return frozenset(s for s, shape in self.shapes.items() if shape)


def graph_and_names(
    net: SequentialNetwork,
) -> tuple[GraphNetwork, dict[Symbol, str], frozenset[Symbol], dict[Symbol, int]]:
    """The tensor graph, the LaTeX of every symbol (delta's included), the tensors, each symbol's layer."""
    builder = _GraphBuilder(net)
    graph = builder.build()
    return graph, dict(builder.latex), builder.vectors, dict(builder.layer_of)


CHECK_ENTRIES = 400  # entries of one example's tensors up to which a network is checked as it is


def entries(net: SequentialNetwork) -> int:
    """How many scalars one example's input and layer outputs hold."""
    return math.prod(net.input_shape) + sum(math.prod(s) for s in net.shapes)


def small_instance(net: SequentialNetwork, limit: int = CHECK_ENTRIES) -> SequentialNetwork:
    """The network itself if it is small, else a smaller one with the same layers for the
    per-unit check: at most 2 channels a convolution and 3 units a hidden dense layer, and the
    smallest input side the layers accept (the tensor equations do not depend on the sizes).
    Without data: the check draws its own points."""
    if entries(net) <= limit:
        return net

    def narrow(layer: Layer, last: bool) -> Layer:
        body = tuple(narrow(b, False) for b in layer.body)
        if layer.type == "conv2d":
            return replace(layer, channels=min(layer.channels, 2), body=body)
        if layer.type == "dense" and not last:
            return replace(layer, units=min(layer.units, 3), body=body)
        if layer.type in RECURRENT_TYPES:
            return replace(layer, units=min(layer.units, 2))
        if layer.type == "attention":
            return replace(layer, dim=min(layer.dim, 2))
        return replace(layer, body=body)

    layers = tuple(narrow(layer, i == len(net.layers) - 1) for i, layer in enumerate(net.layers))
    if len(net.input_shape) == 2:  # a sequence: fewer features; its steps kept where a layer unrolls them
        steps, width = net.input_shape
        unrolled = any(layer.type in RECURRENT_TYPES for layer in net.layers) or net.loss_per_step
        shape = (steps if unrolled else min(steps, 3), min(width, 2))
        return replace(net, input_shape=shape, layers=layers, example={})
    channels = net.input_shape[:1] if len(net.input_shape) == 1 else (min(net.input_shape[0], 2),)
    sides = [()] if len(net.input_shape) == 1 else [(s, s) for s in range(1, max(net.input_shape[1:]) + 1)]
    for side in sides:
        shape = channels if not side else (*channels, *side)
        try:
            small = replace(net, input_shape=shape, layers=layers, example={})
        except LayerError:
            continue
        return small  # the smallest side the layers accept
    return replace(net, layers=layers, example={})
