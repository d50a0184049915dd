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
unrolled through time: one node per step, the steps sharing their weights (see
:mod:`symbackprop.registry.sequence`), h_0 = 0 and c_0 = 0:

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
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np
import sympy
from sympy import Integer, Symbol

from symbackprop.core.network import GraphNetwork, NetworkError
from symbackprop.registry import (
    ACTIVATIONS,
    CELL_ACTIVATION,
    GATES,
    AvgPool2d,
    Block,
    BatchNorm,
    ChannelBias,
    Conv2d,
    Flatten,
    FrobSq,
    InitialMatVec,
    LayerNorm,
    LossMean,
    MatVec,
    MatMul,
    MaxPool2d,
    RowSoftmax,
    Scores,
    SeqLinear,
    TimeMean,
    TimeStack,
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
BLOCKS = {kind: len(gates) for kind, gates in GATES.items()}  # stacked in W_ih, W_hh, b (i, f, g, o; r, z, n)
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
    (``c0<l>``), the same for every example, starting at 0. A spec's rnn defaults to tanh; a
    Layer built in Python names its activation."""

    type: str
    units: int = 0
    channels: int = 0
    kernel: int = 0
    stride: int | None = None
    padding: int = 0
    size: int = 0
    activation: str = "identity"
    bias: bool = True
    rate: float = 0.0
    eps: float = DEFAULT_EPS
    body: tuple[Layer, ...] = ()
    returns: str = "last"
    dim: int = 0
    causal: bool = False
    learn_initial: bool = False  # h_0 (and an LSTM's c_0) a parameter, not 0

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

    def initial_parameters(self) -> dict[str, np.ndarray]:
        """The parameters from the spec's seed (the generated code draws the same ones)."""
        rng = np.random.default_rng(self.seed)
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


def _sup(tag: str) -> str:
    return "^{(%s)}" % tag.replace("_", ",")


@dataclass
class _GraphBuilder:
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

    # --- sequences: a list of steps (a recurrent layer's h_1 .. h_T) or one (T, d) matrix ---------
    def steps(self, a, steps: int) -> list:
        """A sequence as its steps: a recurrent layer's own, or the rows x_t of a matrix."""
        if isinstance(a, list):
            return a
        return [TimeStep(a, Integer(t), Integer(steps)) for t in range(steps)]

    def matrix(self, a, tag: str, shape, number: int) -> Symbol:
        """A sequence as one (T, d) matrix: the steps of a recurrent layer stacked (H^(l))."""
        if not isinstance(a, list):
            return a
        return self.node(self.sym(f"hs{tag}", f"H{_sup(tag)}", shape, number), TimeStack(*a))

    def step_node(self, ident: str, latex: str, shape, number: int, expr, delta: str | None = None) -> Symbol:
        """A per-step node (h_t, c_t, a gate), with its error term's name if it has one."""
        s = self.node(self.sym(ident, latex, shape, number), expr)
        if delta is not None:
            self.delta_names[s] = self.sym(f"delta_{ident}", delta, shape, number)
        return s

    def recurrent(self, tag: str, layer: Layer, a, before, number: int):
        """An rnn, lstm or gru unrolled over the steps; h_T, or the list h_1 .. h_T."""
        sup, (steps, width), h = _sup(tag), before, layer.units
        xs = self.steps(a, steps)
        blocks = BLOCKS.get(layer.type, 1)
        if layer.type == "rnn":
            W_x = self.param(f"W_xh{tag}", f"W_{{xh}}{sup}", (h, width), number)
            b = self.param(f"b_h{tag}", f"b_{{h}}{sup}", (h,), number)
        else:
            W_x = self.param(f"W_ih{tag}", f"W_{{ih}}{sup}", (blocks * h, width), number)
        W_h = self.param(f"W_hh{tag}", f"W_{{hh}}{sup}", (blocks * h, h), number)
        if layer.type != "rnn":
            b = self.param(f"b{tag}", f"b{sup}", (blocks * h,), number)
        step = {"rnn": self.rnn_step, "lstm": self.lstm_step, "gru": self.gru_step}[layer.type]
        hs, state, h0 = [], None, None
        if layer.learn_initial:  # h_0 (and c_0) parameters, in the order parameter_shapes lists them
            h0 = self.param(f"h0{tag}", f"h{sup}_{{0}}", (h,), number)
            if layer.type == "lstm":
                state = self.param(f"c0{tag}", f"c{sup}_{{0}}", (h,), number)
        for t in range(steps):
            inputs = sympy.Add(MatVec(W_x, xs[t]), b, evaluate=False)
            if hs:
                recur, h_prev = MatVec(W_h, hs[-1]), hs[-1]
            else:
                recur, h_prev = (InitialMatVec(W_h, h0), h0) if h0 is not None else (None, None)
            h_t, state = step(tag, t + 1, layer, inputs, recur, h_prev, state, number)
            hs.append(h_t)
        return hs[-1] if layer.returns == "last" else hs

    def rnn_step(self, tag, t, layer, inputs, recur, h_prev, state, number):
        """z_t = W_xh x_t + W_hh h_{t-1} + b_h, h_t = f(z_t): h_t an activation output, delta_t of z_t."""
        sup, h = _sup(tag), (layer.units,)
        W_x_x, b = inputs.args
        expr = sympy.Add(W_x_x, recur, b, evaluate=False) if recur is not None else inputs
        z = self.node(self.sym(f"z{tag}_{t}", f"z{sup}_{{{t}}}", h, number), expr)
        self.delta_names[z] = self.sym(f"delta{tag}_{t}", rf"\delta{sup}_{{{t}}}", h, number)
        out = self.node(self.sym(f"h{tag}_{t}", f"h{sup}_{{{t}}}", h, number), activation(layer.activation).apply(z))
        return out, None

    def lstm_step(self, tag, t, layer, inputs, recur, h_prev, c_prev, number):
        """z_t stacked (4H), the gates i, f, g, o, c_t = f c_{t-1} + i g, h_t = o tanh(c_t)."""
        sup, n = _sup(tag), layer.units
        W_x_x, b = inputs.args
        expr = sympy.Add(W_x_x, recur, b, evaluate=False) if recur is not None else inputs
        z = self.step_node(f"z{tag}_{t}", f"z{sup}_{{{t}}}", (4 * n,), number, expr, rf"\delta{sup}_{{{t}}}")
        gates = {}
        for k, (name, act) in enumerate(GATES["lstm"]):
            if name == "f" and c_prev is None:
                continue  # c_0 = 0: the first step has nothing to forget (its block's error term is 0)
            gates[name] = self.gate(tag, t, name, act, Block(z, Integer(k), Integer(4), Integer(n)), n, number)
        i, f, g, o = (gates.get(name) for name in "ifgo")
        keep = sympy.Mul(i, g, evaluate=False)
        cell = sympy.Add(sympy.Mul(f, c_prev, evaluate=False), keep, evaluate=False) if c_prev is not None else keep
        c = self.step_node(f"c{tag}_{t}", f"c{sup}_{{{t}}}", (n,), number, cell, rf"\delta{sup}_{{c,{t}}}")
        out = sympy.Mul(o, activation(CELL_ACTIVATION).apply(c), evaluate=False)
        h = self.step_node(f"h{tag}_{t}", f"h{sup}_{{{t}}}", (n,), number, out, rf"\delta{sup}_{{h,{t}}}")
        return h, c

    def gate(self, tag, t, name, act, pre, n, number) -> Symbol:
        """s_{g,t} = pre (its error term delta_{g,t}), then the gate g_t = act(s_{g,t})."""
        sup = _sup(tag)
        s = self.step_node(
            f"s{name}{tag}_{t}", f"s{sup}_{{{name},{t}}}", (n,), number, pre, rf"\delta{sup}_{{{name},{t}}}"
        )
        return self.step_node(f"{name}{tag}_{t}", f"{name}{sup}_{{{t}}}", (n,), number, activation(act).apply(s))

    def gru_step(self, tag, t, layer, inputs, recur, h_prev, state, number):
        """u_t = W_ih x_t + b, v_t = W_hh h_{t-1} (3H each: r, z, n), the gates, h_t."""
        sup, n = _sup(tag), layer.units
        three, size = Integer(3), Integer(n)
        u = self.step_node(f"u{tag}_{t}", f"u{sup}_{{{t}}}", (3 * n,), number, inputs, rf"\delta{sup}_{{u,{t}}}")
        v = recur  # a learned h_0's W_hh h_0 stays inline: it is the same for every example
        if recur is not None and not isinstance(recur, InitialMatVec):
            v = self.step_node(f"v{tag}_{t}", f"v{sup}_{{{t}}}", (3 * n,), number, recur, rf"\delta{sup}_{{v,{t}}}")

        def pre(k: int, scale=None):
            part = Block(u, Integer(k), three, size)
            if v is None:
                return part
            other = Block(v, Integer(k), three, size)
            return sympy.Add(part, other if scale is None else sympy.Mul(scale, other, evaluate=False), evaluate=False)

        # h_0 = 0: the first step has no v_1 and no reset gate (r_1 would multiply zeros)
        (r_name, r_act), (z_name, z_act), (n_name, n_act) = GATES["gru"]
        r = self.gate(tag, t, r_name, r_act, pre(0), n, number) if v is not None else None
        z = self.gate(tag, t, z_name, z_act, pre(1), n, number)
        g = self.gate(tag, t, n_name, n_act, pre(2, r), n, number)
        new = sympy.Mul(sympy.Add(1, -z, evaluate=False), g, evaluate=False)
        if h_prev is not None:
            new = sympy.Add(new, sympy.Mul(z, h_prev, evaluate=False), evaluate=False)
        h = self.step_node(f"h{tag}_{t}", f"h{sup}_{{{t}}}", (n,), number, new, rf"\delta{sup}_{{h,{t}}}")
        return h, None

    def attention(self, tag, layer: Layer, a, before, number: int) -> Symbol:
        """Q, K, V = X W_q, X W_k, X W_v; S = Q K^T / sqrt(d_k); A = softmax(S) row-wise; O = A V."""
        sup, (steps, width), d = _sup(tag), before, layer.dim
        X = self.matrix(a, f"{number - 1}", (steps, width), number - 1)
        mats = {}
        for part in "qkv":
            W = self.param(f"W_{part}{tag}", f"W_{{{part}}}{sup}", (width, d), number)
            name = part.upper()
            mats[name] = self.node(self.sym(f"{name}{tag}", f"{name}{sup}", (steps, d), number), SeqLinear(X, W))
        S = self.node(self.sym(f"S{tag}", f"S{sup}", (steps, steps), number), Scores(mats["Q"], mats["K"], Integer(d)))
        A = self.node(self.sym(f"A{tag}", f"A{sup}", (steps, steps), number), RowSoftmax(S, Integer(int(layer.causal))))
        return self.node(self.sym(f"O{tag}", f"O{sup}", (steps, d), number), MatMul(A, mats["V"]))

    def reduce(self, tag, layer: Layer, a, before, after, number: int) -> Symbol:
        """mean_over_time (1/T) sum_t x_t, or last_step x_T."""
        steps = before[0]
        out = self.sym(f"a{tag}", f"a{_sup(tag)}", after, number)
        if isinstance(a, list):
            if layer.type == "last_step":
                return a[-1]
            return self.node(out, sympy.Rational(1, steps) * sympy.Add(*a, evaluate=False))
        if layer.type == "last_step":
            return self.node(out, TimeStep(a, Integer(steps - 1), Integer(steps)))
        return self.node(out, TimeMean(a, Integer(steps)))

    def dense_steps(self, tag: str, layer: Layer, a, before, number: int) -> list[Symbol]:
        """A dense layer applied to every step (a per-step loss): z_t = W a_t + b, a_t = f(z_t)."""
        sup, (steps, width) = _sup(tag), before
        W = self.param(f"W{tag}", f"W{sup}", (layer.units, width), number)
        b = self.param(f"b{tag}", f"b{sup}", (layer.units,), number) if layer.bias else None
        outs = []
        for t, a_t in enumerate(self.steps(a, steps), start=1):
            expr = sympy.Add(MatVec(W, a_t), b, evaluate=False) if b is not None else MatVec(W, a_t)
            z = self.node(self.sym(f"z{tag}_{t}", f"z{sup}_{{{t}}}", (layer.units,), number), expr)
            self.delta_names[z] = self.sym(f"delta{tag}_{t}", rf"\delta{sup}_{{{t}}}", (layer.units,), number)
            act = activation(layer.activation).apply(z)
            outs.append(self.node(self.sym(f"a{tag}_{t}", f"a{sup}_{{{t}}}", (layer.units,), number), act))
        return outs

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
