"""Sequence models (rnn, lstm, gru, attention, mean_over_time, last_step): oracle, finite differences, specs.

* The oracle is PyTorch, independent of symbackprop: ``torch.nn.RNN``, ``LSTM`` and ``GRU`` with
  the network's weights copied in (PyTorch's two biases: b_ih = b, b_hh = 0, which is the merged
  single bias of the spec), a hand-written torch attention (masked_fill of -inf above the
  diagonal when causal), ``mean(dim=1)`` and ``[:, -1]``, then ``F.linear`` and the loss; float64,
  differentiated by ``torch.autograd``. The objective, and every gradient (the input's and each
  parameter's), are compared with the generated ``loss`` and ``backward``; hypothesis draws T, D,
  units, the layer type, causal on or off, return "last" or "sequence", a second sequence layer
  and the reduction.
* Finite differences: ``check_derivation`` (the library code behind ``symbackprop check``) on the
  built-in examples and on drawn networks; a generated module with the path through h_{t+1}
  removed must fail it.
* The generated code: no Python loop over units or examples (time steps and gate blocks only),
  float32 kept, finite at pre-activations of 1000, ruff's layout; ``clip_norm`` clips as
  ``torch.nn.utils.clip_grad_norm_`` does; the documents compile.
* Bad specs: exit 2, one line naming the layer's field.
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import array_api_strict
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sequential import jax_agreement

from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import check_derivation, import_source, random_values
from symbackprop.cli import main
from symbackprop.core.examples import example_names
from symbackprop.core.sequential import Layer, SequentialNetwork
from symbackprop.registry import BatchOuter, MatTVec

EXAMPLES = ["attention-tiny", "gru-tiny", "lstm-tiny", "rnn-tiny"]
SequentialNetwork.__hash__ = object.__hash__  # cache modules by network identity
_ids = itertools.count()
TOLERANCE = 1e-8  # float64 against float64: ten times below the finite-difference check's 1e-7
FLOOR = 1e-6  # an entry is judged at no less than this fraction of the network's largest gradient entry
ABSOLUTE = 1e-6  # ... nor than this


@functools.cache
def derivation(net):
    return derive(load_spec(net) if isinstance(net, str) else net)


@functools.cache
def module(net):
    return import_source(derivation(net).to_numpy(), name=f"train_sequence_{next(_ids)}")


# --- the oracle --------------------------------------------------------------------------------------
TORCH_RECURRENT = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
HIDDEN_DENSE = {"identity": lambda z: z, "tanh": torch.tanh, "relu": torch.relu}
TORCH_ACTIVATIONS = {"identity": lambda z: z, "softmax": lambda z: torch.softmax(z, dim=-1)}


def _recurrent(layer: Layer, tag: str, a: torch.Tensor, p: dict, copies: dict) -> torch.Tensor:
    """PyTorch's own recurrent layer with the network's weights copied in (bias_hh = 0)."""
    extra = {"nonlinearity": layer.activation} if layer.type == "rnn" else {}
    torch_layer = TORCH_RECURRENT[layer.type](a.shape[-1], layer.units, batch_first=True, **extra).double()
    ours = ("W_xh", "W_hh", "b_h") if layer.type == "rnn" else ("W_ih", "W_hh", "b")
    theirs = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0")
    with torch.no_grad():
        for mine, their in zip(ours, theirs):
            getattr(torch_layer, their).copy_(p[f"{mine}{tag}"])
        torch_layer.bias_hh_l0.zero_()
    for mine, their in zip(ours, theirs):
        copies[f"{mine}{tag}"] = getattr(torch_layer, their)
    initial = None
    if layer.learn_initial:  # the one learned h_0 (c_0) of every example, as PyTorch's hx
        shape = (1, a.shape[0], layer.units)
        h0 = p[f"h0{tag}"].expand(shape).contiguous()
        initial = (h0, p[f"c0{tag}"].expand(shape).contiguous()) if layer.type == "lstm" else h0
    out, _ = torch_layer(a, initial)
    return out[:, -1] if layer.returns == "last" else out


def _attention(layer: Layer, tag: str, X: torch.Tensor, p: dict) -> torch.Tensor:
    Q, K, V = (X @ p[f"W_{part}{tag}"] for part in "qkv")
    S = Q @ K.transpose(1, 2) / math.sqrt(layer.dim)
    if layer.causal:
        T = S.shape[-1]
        S = S.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1), float("-inf"))
    return torch.softmax(S, dim=-1) @ V


def oracle(net: SequentialNetwork, values: dict) -> tuple[float, dict[str, np.ndarray]]:
    """The objective and its gradient with respect to x and every parameter, by torch.autograd."""
    leaves = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=k != "t") for k, v in values.items()}
    copies: dict[str, torch.Tensor] = {}
    a = leaves["x"]
    *hidden, last = net.layers
    for i, layer in enumerate(hidden):
        tag = str(i + 1)
        if layer.type in TORCH_RECURRENT:
            a = _recurrent(layer, tag, a, leaves, copies)
        elif layer.type == "attention":
            a = _attention(layer, tag, a, leaves)
        elif layer.type == "mean_over_time":
            a = a.mean(dim=1)
        elif layer.type == "last_step":
            a = a[:, -1]
        elif layer.type == "dense":
            a = HIDDEN_DENSE[layer.activation](F.linear(a, leaves[f"W{tag}"], leaves.get(f"b{tag}")))
        else:
            raise AssertionError(f"the oracle has no {layer.type}")
    assert last.type == "dense"
    tag = str(len(net.layers))
    z = F.linear(a, leaves[f"W{tag}"], leaves.get(f"b{tag}"))
    t = leaves["t"]
    if net.loss == "cross_entropy":
        total = -(t * torch.log_softmax(z, dim=-1)).sum()  # over the steps too with a per-step loss
    else:
        total = 0.5 * ((TORCH_ACTIVATIONS[last.activation](z) - t) ** 2).sum()
    objective = total / leaves["x"].shape[0]
    for name in net.weights():
        objective = objective + 0.5 * net.weight_decay * (leaves[name] ** 2).sum()
    objective.backward()
    grads = {k: v.grad for k, v in leaves.items() if k != "t" and v.grad is not None}
    for name, tensor in copies.items():  # the copied weights: their gradients, plus weight decay's
        decay = net.weight_decay * leaves[name].detach() if name in net.weights() else 0.0
        grads[name] = tensor.grad + decay
    return float(objective.detach()), {k: v.numpy() for k, v in grads.items()}


def relative_error(a, o, largest: float = 0.0) -> float:
    """|a - o| / max(|a|, |o|), an entry judged at no less than FLOOR times the largest gradient
    entry of the network (a saturated softmax leaves gradients of 1e-9 beside ones of 1, and
    their last digits are rounding), and at no less than ABSOLUTE (J is of order 1: where a
    saturated softmax leaves every gradient below 1e-8, what remains is rounding of a - y)."""
    a, o = np.asarray(a, dtype=float), np.asarray(o, dtype=float)
    scale = max(max(float(np.max(np.abs(o), initial=0.0)), largest) * FLOOR, ABSOLUTE)
    return float(np.max(np.abs(a - o) / np.maximum(np.maximum(np.abs(a), np.abs(o)), scale), initial=0.0))


def assert_agrees_with_torch(net: SequentialNetwork, seed: int = 0, batch: int = 3) -> None:
    values = random_values(net, np.random.default_rng(seed), batch=batch)
    m = module(net)
    objective, want = oracle(net, values)
    assert m.loss(values) == pytest.approx(objective, rel=1e-12)
    got = m.backward(values, inputs=True)
    assert set(want) == {"x", *net.parameter_names}
    largest = max(float(np.max(np.abs(g), initial=0.0)) for g in want.values())
    for name, expected in want.items():
        assert got[name].shape == expected.shape, name
        assert relative_error(got[name], expected, largest) < TOLERANCE, (name, got[name], expected)


# --- networks ------------------------------------------------------------------------------------------
def _dense(units: int, loss: str) -> Layer:
    return Layer("dense", units=units, activation="softmax" if loss == "cross_entropy" else "identity")


@st.composite
def sequence_networks(draw) -> SequentialNetwork:
    """A sequence layer (rnn, lstm, gru or attention), maybe a second one, a reduction, dense."""
    steps, width = draw(st.integers(1, 4)), draw(st.integers(1, 3))

    def sequence_layer(returns: tuple[str, ...]) -> Layer:
        kind = draw(st.sampled_from(["rnn", "lstm", "gru", "attention"]))
        if kind == "attention":
            return Layer("attention", dim=draw(st.integers(1, 3)), causal=draw(st.booleans()))
        activation = draw(st.sampled_from(["tanh", "relu"])) if kind == "rnn" else "identity"
        return Layer(
            kind,
            units=draw(st.integers(1, 3)),
            activation=activation,
            returns=draw(st.sampled_from(returns)),
            learn_initial=draw(st.booleans()),
        )

    loss = draw(st.sampled_from(["cross_entropy", "squared_error"]))
    if draw(st.integers(0, 3)) == 0:  # a per-step loss: the sequence kept to the dense layer
        layers = [sequence_layer(("sequence",))]
        if draw(st.booleans()):
            layers.append(sequence_layer(("sequence",)))
        layers.append(_dense(draw(st.integers(1, 3)), loss))
        return SequentialNetwork("drawn", (steps, width), tuple(layers), loss, loss_per_step=True)
    layers = [sequence_layer(("last", "sequence"))]
    if draw(st.booleans()) and layers[0].returns == "sequence" or layers[0].type == "attention":
        if draw(st.booleans()):
            layers.append(sequence_layer(("sequence",)))
        layers.append(Layer(draw(st.sampled_from(["mean_over_time", "last_step"]))))
    elif layers[0].returns == "sequence":
        layers.append(Layer(draw(st.sampled_from(["mean_over_time", "last_step"]))))
    layers.append(_dense(draw(st.integers(1, 3)), loss))
    decay = draw(st.sampled_from([0.0, 0.01]))
    return SequentialNetwork("drawn", (steps, width), tuple(layers), loss, weight_decay=decay)


RNN_STACK = SequentialNetwork(
    "rnn-stack",
    (4, 3),
    (
        Layer("rnn", units=3, activation="tanh", returns="sequence"),
        Layer("gru", units=2, returns="sequence"),
        Layer("attention", dim=2, causal=True),
        Layer("last_step"),
        Layer("dense", units=2, activation="softmax"),
    ),
    "cross_entropy",
    weight_decay=0.02,
)
LSTM_MEAN = SequentialNetwork(
    "lstm-mean",
    (3, 2),
    (Layer("lstm", units=3, returns="sequence"), Layer("mean_over_time"), Layer("dense", units=2)),
    "squared_error",
)
LEARNED_INITIAL = SequentialNetwork(
    "learned-initial",
    (3, 2),
    (
        Layer("rnn", units=2, activation="tanh", returns="sequence", learn_initial=True),
        Layer("lstm", units=2, returns="sequence", learn_initial=True),
        Layer("gru", units=2, learn_initial=True),
        Layer("dense", units=2, activation="softmax"),
    ),
    "cross_entropy",
    weight_decay=0.01,
)
PER_STEP = SequentialNetwork(
    "per-step",
    (4, 2),
    (
        Layer("lstm", units=3, returns="sequence"),
        Layer("attention", dim=2, causal=True),
        Layer("dense", units=3, activation="softmax"),
    ),
    "cross_entropy",
    loss_per_step=True,
)
INPUT_MEAN = SequentialNetwork(  # the input itself reduced: x's gradient spread over the steps
    "input-mean",
    (3, 2),
    (Layer("mean_over_time"), Layer("dense", units=2, activation="tanh"), Layer("dense", units=2)),
    "squared_error",
)
CLIPPED = SequentialNetwork(
    "clipped",
    (3, 2),
    (Layer("gru", units=2), Layer("dense", units=2, activation="softmax")),
    "cross_entropy",
    weight_decay=0.01,
    clip_norm=0.1,
)
NETWORKS = [RNN_STACK, LSTM_MEAN, LEARNED_INITIAL, PER_STEP, INPUT_MEAN, CLIPPED]
ALL = EXAMPLES + NETWORKS


def ids(n) -> str:
    return n if isinstance(n, str) else n.name


# --- the examples -------------------------------------------------------------------------------------
def test_the_sequence_examples_load_by_name_and_are_listed():
    assert set(EXAMPLES) <= set(example_names())
    rnn = load_spec("rnn-tiny")
    assert rnn.input_shape == (3, 2) and rnn.layers[0].activation == "tanh"  # the spec's default
    assert Layer("rnn", units=2).activation == "tanh" and Layer("gru", units=2).activation == "identity"
    assert dict(rnn.parameter_shapes()) == {"W_xh1": (2, 2), "W_hh1": (2, 2), "b_h1": (2,), "W2": (2, 2), "b2": (2,)}
    assert dict(load_spec("lstm-tiny").parameter_shapes())["W_ih1"] == (8, 2)  # PyTorch's (4H, D)
    assert dict(load_spec("gru-tiny").parameter_shapes())["W_hh1"] == (6, 2)  # (3H, H)
    attention = load_spec("attention-tiny")
    assert {k: v for k, v in attention.parameter_shapes().items() if k.startswith("W_")} == {
        "W_q1": (2, 2),
        "W_k1": (2, 2),
        "W_v1": (2, 2),
    }
    assert attention.shapes == [(3, 2), (2,), (2,)]


def test_backpropagation_through_time_is_the_total_derivative_over_the_steps():
    """delta_t gets W_hh^T delta_{t+1} (the path through h_{t+1}); W_hh's gradient sums T - 1 steps."""
    d = derivation("rnn-tiny").inner
    eqs = {eq.lhs.name: eq.rhs for eq in d.equations if eq.kind in ("delta", "gradient")}
    W_hh = next(p for p in d.graph.parameters if p.name == "W_hh1")
    delta = {s.name: s for s in d.tensor.delta_symbols.values()}
    assert eqs["delta1_1"].has(MatTVec(W_hh, delta["delta1_2"]))
    assert eqs["delta1_2"].has(MatTVec(W_hh, delta["delta1_3"]))
    assert not eqs["delta1_3"].has(W_hh)  # the last step's only path is the direct one
    h = {s.name: s for s in d.graph.nodes}
    terms = set(eqs["grad_W_hh1"].args)
    want = {BatchOuter(delta["delta1_2"], h["h1_1"]), BatchOuter(delta["delta1_3"], h["h1_2"])}
    assert terms == want  # the sum over steps 2 and 3 (h_0 = 0 contributes nothing)
    lstm = {eq.lhs.name: eq.rhs for eq in derivation("lstm-tiny").equations if eq.kind == "delta"}
    cell = [s for s in lstm["delta_c1_2"].free_symbols if s.name.startswith("delta_c1_3")]
    assert cell, "the cell state carries the gradient from c_3 to c_2"


# --- the oracle ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("net", ALL, ids=ids)
def test_forward_and_every_gradient_agree_with_torch(net):
    assert_agrees_with_torch(derivation(net).network, seed=1, batch=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=sequence_networks(), seed=st.integers(0, 2**16), batch=st.integers(1, 3))
def test_drawn_networks_agree_with_torch(net, seed, batch):
    assert_agrees_with_torch(net, seed=seed, batch=batch)


def test_a_wrong_gradient_disagrees_with_torch():
    """The comparison can fail: drop the path through h_{t+1} from delta_1 and it does."""
    source = derivation("rnn-tiny").to_numpy()
    broken = source.replace("delta1_1 = (1 - h1_1**2) * (delta1_2 @ W_hh1)", "delta1_1 = (1 - h1_1**2) * 0.0")
    assert broken != source
    m = import_source(broken, name=f"broken_{next(_ids)}")
    net = load_spec("rnn-tiny")
    values = random_values(net, np.random.default_rng(0), batch=3)
    _, want = oracle(net, values)
    assert relative_error(m.backward(values)["W_xh1"], want["W_xh1"]) > 1e-3
    report = check_derivation(derivation("rnn-tiny").inner, m, points=1)
    assert not report.passed


# --- the per-unit derivation ------------------------------------------------------------------------
@pytest.mark.parametrize("net", [*EXAMPLES, RNN_STACK, LEARNED_INITIAL, PER_STEP], ids=ids)
def test_the_tensor_equations_agree_with_the_per_unit_derivation(net):
    """Every entry of every value, error term and gradient against the network written out one
    unit at a time (every step of every example) and derived by the scalar engine."""
    from symbackprop.analysis.consistency import check_sequential

    d = derivation(net)
    result = check_sequential(d.inner, module(net))
    assert result.comparisons > 0


# --- finite differences --------------------------------------------------------------------------------
@pytest.mark.parametrize("net", ALL, ids=ids)
def test_finite_differences_agree(net):
    report = check_derivation(derivation(net).inner, module(net), points=2, seed=3)
    assert report.passed, report.table()
    assert report.worst < 1e-7


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=sequence_networks(), seed=st.integers(0, 2**16))
def test_drawn_networks_pass_finite_differences(net, seed):
    d = derive(net)
    report = check_derivation(d.inner, import_source(d.to_numpy(), name=f"fd_{next(_ids)}"), 1, seed)
    assert report.passed, report.table()


@pytest.mark.parametrize("name", EXAMPLES)
def test_script_mode_trains_the_examples(name, tmp_path):
    path = tmp_path / "train.py"
    path.write_text(derivation(name).to_numpy())
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True).stdout
    losses = [float(line.split()[-1]) for line in out.splitlines()]
    assert len(losses) == 20 and losses[-1] < losses[0]


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_check_command_passes(name, capsys):
    assert main(["check", name]) == 0
    assert "PASS" in capsys.readouterr().out


# --- the generated code --------------------------------------------------------------------------------
# a kernel's comprehensions run over time steps and gate blocks; the module's over epochs and arrays
ALLOWED_LOOPS = {"range(steps)", "range(blocks)", "range(epochs)", "enumerate(losses, start=1)", "arrays"}


@pytest.mark.parametrize("net", ALL, ids=ids)
def test_no_python_loop_over_units_or_examples(net):
    tree = ast.parse(derivation(net).to_numpy())
    loops = {ast.unparse(n.iter) for n in ast.walk(tree) if isinstance(n, (ast.For, ast.comprehension))}
    assert loops <= ALLOWED_LOOPS, loops - ALLOWED_LOOPS


@pytest.mark.parametrize("net", ALL, ids=ids)
def test_generated_code_is_ruff_formatted_and_cites_every_equation(net):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    d = derivation(net)
    source = d.to_numpy()
    result = subprocess.run([ruff, "format", "--diff", "--isolated", "-"], input=source, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    cited = {int(n) for n in re.findall(r"# eq\. \((\d+)\)", source)}
    assert cited == {eq.number for eq in d.equations} == set(d.module().locations)
    bodies = source.split("def forward(")[1].split("def loss(")[0] + source.split("def step(")[1].split("def train(")[0]
    previous = ""
    for line in bodies.splitlines():  # every statement that computes maths cites its equation
        bookkeeping = re.match(
            r"\s+(\w+ = (values\[|array_namespace|x\.shape|dict\(|LEARNING_RATE|\{$)|new\[|return|\"|def |if )", line
        )
        if re.match(r"\s+[\w\[\]\"]+ [-+*/]?= ", line) and not bookkeeping:
            assert "# eq. (" in line or previous.strip().startswith("# eq. ("), line
        previous = line


BACKENDS = {"array-api-strict": array_api_strict.asarray, "torch": torch.asarray}


def _numpy(value):
    return np.asarray(value.cpu() if hasattr(value, "cpu") else value)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("net", ALL, ids=ids)
def test_the_module_runs_on_array_api_strict_and_torch(net, backend):
    m = module(net)
    values = random_values(derivation(net).network, np.random.default_rng(3), batch=4)
    converted = {k: BACKENDS[backend](np.asarray(v, dtype=float)) for k, v in values.items()}
    for name, got, want in (
        ("forward", m.forward(converted), m.forward(values)),
        ("backward", m.backward(converted, inputs=True), m.backward(values, inputs=True)),
        ("step", m.step(converted), m.step(values)),
    ):
        assert set(got) == set(want), name
        for key in want:
            np.testing.assert_allclose(_numpy(got[key]), want[key], rtol=1e-12, atol=1e-13, err_msg=f"{name}[{key}]")


def test_the_jax_target_jit_compiles_the_sequence_steps_and_agrees():
    """In a process of its own (JAX starts threads)."""
    result = jax_agreement(EXAMPLES)
    assert result.returncode == 0 and result.stdout.strip() == "agree", result.stderr[-2000:]


@pytest.mark.parametrize("to", ["numpy", "torch"])
@pytest.mark.parametrize("net", ALL, ids=ids)
def test_float32_stays_float32(net, to):
    m = module(net)
    values = random_values(derivation(net).network, np.random.default_rng(4), batch=3)
    single = {k: np.asarray(v, dtype=np.float32) for k, v in values.items()}
    if to == "torch":
        single = {k: torch.asarray(v) for k, v in single.items()}
    kind = np.float32 if to == "numpy" else torch.float32
    for table in (m.forward(single), m.backward(single, inputs=True), m.step(single)):
        for key, value in table.items():
            assert value.dtype == kind, (key, value.dtype)


@pytest.mark.parametrize("net", ALL, ids=ids)
def test_pre_activations_of_a_thousand_stay_finite(net):
    m = module(net)
    values = random_values(derivation(net).network, np.random.default_rng(7), batch=4)
    values = {k: v * 1000.0 if k.startswith("W") else v for k, v in values.items()}
    forward = m.forward(values)
    largest = max(float(np.max(np.abs(v))) for k, v in forward.items() if re.match(r"(z|s|S|u|v)", k))
    assert largest > 500  # really out there
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            value = m.loss(values)
            grads = m.backward(values, inputs=True)
            stepped = m.step(values)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert all(np.all(np.isfinite(stepped[p])) for p in m.PARAMETERS)


def test_the_causal_mask_gives_exact_zeros_above_the_diagonal():
    net = SequentialNetwork(
        "causal",
        (4, 2),
        (Layer("attention", dim=2, causal=True), Layer("last_step"), Layer("dense", units=2)),
        "squared_error",
    )
    values = random_values(net, np.random.default_rng(2), batch=2)
    forward = module(net).forward(values)
    A = forward["A1"]
    assert np.all(A[:, np.triu_indices(4, 1)[0], np.triu_indices(4, 1)[1]] == 0.0)
    np.testing.assert_allclose(A.sum(axis=-1), 1.0, rtol=1e-14)
    # the last step attends to every step; the first only to itself
    np.testing.assert_allclose(A[:, 0, 0], 1.0)


# --- clip_norm ------------------------------------------------------------------------------------------
def _clipped(net: SequentialNetwork, clip: float) -> SequentialNetwork:
    return SequentialNetwork(
        net.name, net.input_shape, net.layers, net.loss, weight_decay=net.weight_decay, clip_norm=clip
    )


@pytest.mark.parametrize("clip", [1e-3, 1e3])
def test_clip_norm_clips_the_step_as_torch_does(clip):
    plain = RNN_STACK
    clipped = _clipped(plain, clip)
    values = random_values(plain, np.random.default_rng(9), batch=3)
    _, grads = oracle(plain, values)
    tensors = [torch.tensor(grads[name]) for name in plain.parameter_names]
    for tensor in tensors:
        tensor.grad = tensor.clone()
    torch.nn.utils.clip_grad_norm_(tensors, clip)
    stepped = module(clipped).step(values, lr=0.5)
    norm = math.sqrt(sum(float(np.sum(g**2)) for name, g in grads.items() if name != "x"))
    assert (norm > clip) == (clip == 1e-3)  # one case clips, the other does not
    for name, tensor in zip(plain.parameter_names, tensors):
        np.testing.assert_allclose(stepped[name], values[name] - 0.5 * tensor.grad.numpy(), rtol=1e-10, atol=1e-14)
    moved = math.sqrt(sum(float(np.sum((stepped[n] - values[n]) ** 2)) for n in plain.parameter_names))
    assert moved == pytest.approx(0.5 * min(norm, clip), rel=1e-4)


def test_a_per_step_loss_sums_over_the_steps(tmp_path):
    """loss_per_step: targets (m, T, outputs), delta_t = a_t - y_t at every step, J summed over them."""
    text = load_spec_text("gru-tiny")
    text = text.replace('loss = "cross_entropy"', 'loss = "cross_entropy"\nloss_per_step = true')
    text = text.replace('return = "last"', 'return = "sequence"')
    text = text.replace(
        "t = [[1.0, 0.0], [0.0, 1.0]]",
        "t = [[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]]",
    )
    path = tmp_path / "tagger.toml"
    path.write_text(text)
    net = load_spec(path)
    assert net.output_shape == (3, 2) and np.shape(net.example["t"]) == (2, 3, 2)
    d = derive(net)
    source = d.to_numpy()
    for t in range(3):
        assert f"delta2_{t + 1} = a2_{t + 1} - t[:, {t}, :]" in source
    m = import_source(source, name=f"per_step_{next(_ids)}")
    values = m.initial_values()
    assert_agrees_with_torch(net)
    assert m.loss(values) == pytest.approx(oracle(net, values)[0], rel=1e-12)
    assert check_derivation(d.inner, m, points=1).passed


def test_clip_norm_from_the_spec(tmp_path):
    text = load_spec_text("rnn-tiny").replace("weight_decay = 0.0", "weight_decay = 0.0\nclip_norm = 0.5")
    path = tmp_path / "clipped.toml"
    path.write_text(text)
    net = load_spec(path)
    assert net.clip_norm == 0.5
    assert "CLIP_NORM = 0.5" in derive(net).to_numpy()


def load_spec_text(name: str) -> str:
    from symbackprop.core.examples import example_text

    return example_text(name)


# --- bad specs ------------------------------------------------------------------------------------------
SPEC = """
[network]
input = {input}
loss = "cross_entropy"
{network}
[[layers]]
{first}
{middle}
[[layers]]
type = "dense"
units = 2
activation = "softmax"
"""


def spec(first='type = "rnn"\nunits = 2', input="[3, 2]", network="", middle=""):
    return SPEC.format(first=first, input=input, network=network, middle=middle)


BAD = [
    ("rnn-on-a-vector", spec(input="[4]"), "layers[0]", r"layer 1 \(rnn\): rnn needs a sequence input"),
    ("return-unknown", spec('type = "rnn"\nunits = 2\nreturn = "all"'), "layers[0].return", r'"last" or "sequence"'),
    ("units-missing", spec('type = "lstm"'), "layers[0].units", r"layer 1 \(lstm\): missing"),
    ("units-zero", spec('type = "gru"\nunits = 0'), "layers[0].units", r"whole number from 1"),
    ("dim-missing", spec('type = "attention"'), "layers[0].dim", r"layer 1 \(attention\): missing"),
    ("causal-not-bool", spec('type = "attention"\ndim = 2\ncausal = 1'), "layers[0].causal", r"true or false"),
    (
        "lstm-activation",
        spec('type = "lstm"\nunits = 2\nactivation = "relu"'),
        "layers[0].activation",
        r"unknown field",
    ),
    (
        "rnn-activation",
        spec('type = "rnn"\nunits = 2\nactivation = "swish9"'),
        "layers[0].activation",
        r"unknown activation",
    ),
    (
        "rnn-softmax",
        spec('type = "rnn"\nunits = 2\nactivation = "softmax"'),
        "layers[0].activation",
        r"only allowed in the last, dense layer",
    ),
    (
        "dense-on-a-sequence",
        spec('type = "rnn"\nunits = 2\nreturn = "sequence"'),
        "layers[1]",
        r"layer 2 \(dense\): dense does not take a sequence",
    ),
    ("attention-then-dense", spec('type = "attention"\ndim = 2'), "layers[1]", r"does not take a sequence"),
    (
        "mean-on-a-vector",
        spec(middle='[[layers]]\ntype = "mean_over_time"'),
        "layers[1]",
        r"layer 2 \(mean_over_time\): mean_over_time needs a sequence input",
    ),
    (
        "learn-initial-not-bool",
        spec('type = "rnn"\nunits = 2\nlearn_initial = "yes"'),
        "layers[0].learn_initial",
        r"true or false",
    ),
    (
        "learn-initial-on-attention",
        spec('type = "attention"\ndim = 2\nlearn_initial = true'),
        "layers[0].learn_initial",
        r"unknown field",
    ),
    ("per-step-loss-not-bool", spec(network="loss_per_step = 1"), "network.loss_per_step", r"true or false"),
    (
        "per-step-loss-on-a-vector",
        spec(network="loss_per_step = true"),
        "layers[1]",
        r"a per-step loss needs a sequence out",
    ),
    ("clip-negative", spec(network="clip_norm = -1.0"), "network.clip_norm", r"must be positive"),
    (
        "example-wrong-shape",
        spec() + "[example]\nx = [[1.0, 2.0, 3.0]]\nt = [[1.0, 0.0]]\n",
        "example.x",
        r"one 3 x 2 array per example",
    ),
]


@pytest.mark.parametrize(("text", "field", "problem"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_sequence_specs_are_one_line_naming_the_field(tmp_path, capsys, text, field, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["derive", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"symbackprop: error: {path}: {field}: "), err
    assert re.search(problem, err.split(f"{field}: ", 1)[1]), err
    assert not out.exists()


# --- the documents ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_documents_tag_every_equation(name):
    d = derivation(name)
    tex = d.to_latex()
    assert {int(n) for n in re.findall(r"\\tag\{(\d+)\}", tex)} == {eq.number for eq in d.equations}
    assert d.to_latex("zh") and d.to_markdown()


def test_the_documents_write_the_time_steps_the_gates_and_the_softmax_jacobian():
    rnn = derivation("rnn-tiny").to_latex()
    assert r"z^{(1)}_{2} &= W_{xh}^{(1)} {x}_{2} + W_{hh}^{(1)} h^{(1)}_{1} + b_{h}^{(1)}" in rnn
    assert r"\left(W_{hh}^{(1)}\right)^{\top} \delta^{(1)}_{3}" in rnn  # the path through h_3
    lstm = derivation("lstm-tiny").to_latex()
    assert (
        r"\begin{bmatrix} \delta^{(1)}_{i,1} \\ \mathbf{0} \\ \delta^{(1)}_{g,1} \\ \delta^{(1)}_{o,1} \end{bmatrix}"
        in lstm
    )
    attention = derivation("attention-tiny").to_latex()
    assert r"\frac{Q^{(1)} \left(K^{(1)}\right)^{\top}}{\sqrt{2}}" in attention
    assert r"\mathbf{1} \mathbf{1}^{\top}" in attention  # the row sums of the softmax Jacobian


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("xelatex") is None, reason="TeX Live")
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_documents_compile(name, tmp_path):
    for lang, pdf in (("en", "derivation.pdf"), ("zh", "derivation.zh.pdf")):
        assert main(["derive", name, "-o", str(tmp_path), "--pdf", "--lang", lang]) == 0
        assert (tmp_path / pdf).read_bytes().startswith(b"%PDF")
