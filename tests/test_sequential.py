"""Networks of layers ([[layers]] specs): the spec form, the derivation, the generated train.py.

* the spec form: the four built-in examples load by name and are listed (``example_names()``),
  and every bad spec is one line naming the layer's field and the layer, exit status 2;
* the derivation is in tensor form: conv's input gradient the full convolution with the rotated
  kernel, its kernel gradient a batch reduction, ...;
* the generated module: finite differences over every layer type (``check``), the same numbers
  under array-api-strict and PyTorch, float32 kept, finite at pre-activations of 1000, weight
  decay on conv kernels folded into the update, fresh dropout masks each training step, ruff's
  layout, no Python loop but over a window's offsets, every computing line citing its equation.
"""

from __future__ import annotations

import ast
import functools
import itertools
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

from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import check_derivation, import_source, random_values
from symbackprop.cli import main
from symbackprop.core.examples import example_names
from symbackprop.core.sequential import Layer, SequentialNetwork
from symbackprop.registry.layers import Conv2dInput, Conv2dWeight, MaxPool2dInput

EXAMPLES = ["bn-mlp", "dropout-mlp", "lenet-tiny", "resnet-block"]
SequentialNetwork.__hash__ = object.__hash__  # cache modules by network identity
_ids = itertools.count()


@functools.lru_cache(maxsize=None)
def derivation(net):
    return derive(load_spec(net) if isinstance(net, str) else net)


@functools.lru_cache(maxsize=None)
def module(net):
    return import_source(derivation(net).to_numpy(), name=f"train_seq_{next(_ids)}")


# networks that between them use every layer type, stride, padding and both kinds of pooling
CONV = SequentialNetwork(
    "conv-strided",
    (2, 7, 6),
    (
        Layer("conv2d", channels=3, kernel=3, stride=2, padding=1, activation="tanh"),
        Layer("batchnorm", activation="relu"),
        Layer("avgpool2d", size=2, stride=1),
        Layer("conv2d", channels=2, kernel=2, activation="sigmoid", bias=False),
        Layer("layernorm"),
        Layer("flatten"),
        Layer("dense", units=3, activation="softmax"),
    ),
    "cross_entropy",
    weight_decay=0.05,
)
RESIDUAL_CONV = SequentialNetwork(
    "conv-residual",
    (2, 5, 5),
    (
        Layer(
            "residual",
            body=(Layer("conv2d", channels=2, kernel=3, padding=1, activation="relu"), Layer("dropout", rate=0.5)),
            activation="relu",
        ),
        Layer("maxpool2d", size=3, stride=2),
        Layer("flatten"),
        Layer("dropout", rate=0.25),
        Layer("dense", units=2, activation="sigmoid"),
    ),
    "binary_cross_entropy",
)
NETWORKS = [CONV, RESIDUAL_CONV]


SEQUENCE_EXAMPLES = ["attention-tiny", "gru-tiny", "lstm-tiny", "rnn-tiny"]  # tests/test_sequence_models.py


def test_the_layer_examples_load_by_name_and_are_listed():
    assert set(SEQUENCE_EXAMPLES) <= set(example_names())
    assert set(EXAMPLES) <= set(example_names())
    net = load_spec("lenet-tiny")
    assert isinstance(net, SequentialNetwork)
    assert net.shapes == [(2, 4, 4), (2, 2, 2), (8,), (3,)]
    assert dict(net.parameter_shapes()) == {"W1": (2, 1, 3, 3), "b1": (2,), "W4": (3, 8), "b4": (3,)}
    assert len(net.example["x"]) == 2 and np.shape(net.example["x"]) == (2, 1, 6, 6)
    assert load_spec("dropout-mlp").masks() == {"mask2": ((5,), 0.5)}
    assert set(load_spec("bn-mlp").parameter_shapes()) == {"W1", "gamma2", "beta2", "W3", "b3"}
    assert set(load_spec("resnet-block").parameter_shapes()) == {"W1_1", "b1_1", "W1_2", "b1_2", "W2", "b2"}


def test_the_derivation_is_in_tensor_form():
    d = derivation("lenet-tiny")
    assert d.deltas["z4"] == sympy_symbol("a4") - sympy_symbol("t")  # a - y
    assert isinstance(d.gradients["W1"], Conv2dWeight)  # the batch sum of conv(a, delta)
    x_gradient = d.gradients["x"].as_coeff_Mul()[1].args  # conv_full(delta, rot180(W)) / m
    assert any(isinstance(a, Conv2dInput) for a in x_gradient)
    assert d.deltas["z1"].has(MaxPool2dInput)  # max pooling routes delta to the arg-max
    assert set(d.updates) == {"W1", "b1", "W4", "b4"}
    tex = {eq.number: eq for eq in d.equations}
    assert [eq.kind for eq in tex.values()].count("delta") == 4
    bn = derivation("bn-mlp")
    assert "BatchNormInput" in str(bn.deltas["z1"])  # the batch statistics differentiated too


def sympy_symbol(name):
    from symbackprop.registry import real

    return real(name)


@pytest.mark.parametrize("net", EXAMPLES + NETWORKS, ids=lambda n: n if isinstance(n, str) else n.name)
def test_finite_differences_agree_over_every_layer_type(net):
    report = check_derivation(derivation(net).inner, module(net), points=3, seed=1)
    assert report.passed and report.worst < 1e-7, report.table()


def test_check_command_passes_on_lenet_tiny(capsys):
    assert main(["check", "lenet-tiny"]) == 0
    out = capsys.readouterr().out
    assert "PASS: worst relative error" in out


def test_the_check_catches_a_wrong_conv_gradient():
    broken = import_source(derivation("lenet-tiny").to_numpy(), name="train_seq_broken")
    original = broken.backward

    def wrong(values, inputs=False):
        grads = dict(original(values, inputs))
        grads["W1"] = grads["W1"] * (1 + 1e-5)
        return grads

    broken.backward = wrong
    report = check_derivation(derivation("lenet-tiny").inner, broken, points=1)
    assert not report.passed and {r.leaf for r in report.rows if r.numeric > 1e-7} == {"W1"}


# --- array libraries, dtypes, stability ----------------------------------------------------------
def _numpy(v):
    return np.asarray(v)


BACKENDS = {"array-api-strict": array_api_strict.asarray, "torch": torch.asarray}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("net", EXAMPLES + NETWORKS, ids=lambda n: n if isinstance(n, str) else n.name)
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


@pytest.mark.parametrize("to", ["numpy", "torch"])
@pytest.mark.parametrize("net", ["lenet-tiny", "bn-mlp", "dropout-mlp", CONV], ids=lambda n: getattr(n, "name", n))
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
    masks = m.dropout_masks(single["x"], np.random.default_rng(0)) if hasattr(m, "dropout_masks") else {}
    assert all(v.dtype == kind for v in masks.values())


@pytest.mark.parametrize("net", EXAMPLES + NETWORKS, ids=lambda n: n if isinstance(n, str) else n.name)
def test_pre_activations_of_a_thousand_stay_finite(net):
    m = module(net)
    network = derivation(net).network
    values = random_values(network, np.random.default_rng(7), batch=4)
    values = {k: v * 1000.0 if k.startswith("W") else v for k, v in values.items()}
    forward = m.forward(values)
    largest = max(float(np.max(np.abs(v))) for k, v in forward.items() if k.startswith("z"))
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


# --- the training step -----------------------------------------------------------------------------
def test_weight_decay_on_conv_kernels_is_in_the_gradient_and_folded_into_the_update():
    decayed = CONV
    plain = SequentialNetwork(CONV.name, CONV.input_shape, CONV.layers, CONV.loss, weight_decay=0.0)
    values = random_values(decayed, np.random.default_rng(5), batch=3)
    with_decay, without = module(decayed).backward(values), module(plain).backward(values)
    for name in ("W1", "W4", "W7"):
        np.testing.assert_allclose(with_decay[name], without[name] + 0.05 * values[name], rtol=1e-12, atol=1e-15)
    for name in ("b1", "gamma2", "beta2", "gamma5", "b7"):
        np.testing.assert_allclose(with_decay[name], without[name], rtol=1e-12, atol=1e-15)  # no decay
    stepped = module(decayed).step(values, lr=0.3)
    for name in module(decayed).PARAMETERS:
        np.testing.assert_allclose(stepped[name], values[name] - 0.3 * with_decay[name], rtol=1e-12, atol=1e-14)
    assert stepped["J"] == pytest.approx(module(decayed).loss(values), rel=1e-14)


def test_dropout_masks_are_inputs_and_training_draws_fresh_ones():
    m = module("dropout-mlp")
    assert m.INPUTS == ("x", "mask2")
    values = m.initial_values()
    assert set(np.unique(values["mask2"])) <= {0.0, 1.0} and values["mask2"].shape == (3, 5)
    same = m.backward(values)
    assert all(np.array_equal(same[k], v) for k, v in m.backward(values).items())  # reproducible
    seen = []
    original = m.step

    def spy(values, lr=None):
        seen.append(np.array(values["mask2"]))
        return original(values, lr)

    m.step = spy
    try:
        _, losses = m.train(values, epochs=6)
    finally:
        m.step = original
    assert len(losses) == 6 and len({mask.tobytes() for mask in seen}) > 1


def test_script_mode_trains_lenet_tiny(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(derivation("lenet-tiny").to_numpy())
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True).stdout
    losses = [float(line.split()[-1]) for line in out.splitlines()]
    assert len(losses) == 20 and losses[-1] < losses[0]


def test_initial_values_are_the_networks_initial_parameters():
    for name in EXAMPLES:
        net, values = load_spec(name), module(name).initial_values()
        for key, value in net.initial_parameters().items():
            np.testing.assert_array_equal(values[key], value)
        np.testing.assert_array_equal(values["x"], np.asarray(net.example["x"]))


# --- the generated text ------------------------------------------------------------------------------
@pytest.mark.parametrize("net", EXAMPLES + NETWORKS, ids=lambda n: n if isinstance(n, str) else n.name)
def test_generated_code_is_ruff_formatted(net):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    source = derivation(net).to_numpy()
    result = subprocess.run([ruff, "format", "--diff", "--isolated", "-"], input=source, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# what the loops of a generated module may run over: a window's offsets, epochs, arguments
ALLOWED_LOOPS = {"range(size)", "range(k)", "offsets", "range(epochs)", "enumerate(losses, start=1)", "arrays"}


@pytest.mark.parametrize("net", EXAMPLES + NETWORKS, ids=lambda n: n if isinstance(n, str) else n.name)
def test_no_python_loop_over_pixels_units_or_examples(net):
    """The only loops (and comprehensions) run over a window's k*k offsets and the training epochs."""
    tree = ast.parse(derivation(net).to_numpy())
    loops = {ast.unparse(n.iter) for n in ast.walk(tree) if isinstance(n, (ast.For, ast.comprehension))}
    assert loops <= ALLOWED_LOOPS, loops - ALLOWED_LOOPS


@pytest.mark.parametrize("net", EXAMPLES + NETWORKS, ids=lambda n: n if isinstance(n, str) else n.name)
def test_every_equation_is_computed_and_cited(net):
    d = derivation(net)
    code = d.to_numpy()
    cited = {int(n) for n in re.findall(r"# eq\. \((\d+)\)", code)}
    assert cited == {eq.number for eq in d.equations} == set(d.module().locations)
    bodies = code.split("def forward(")[1].split("def loss(")[0] + code.split("def step(")[1].split("def train(")[0]
    previous = ""
    for line in bodies.splitlines():  # every statement that computes maths cites its equation
        bookkeeping = re.match(
            r"\s+(\w+ = (values\[|array_namespace|x\.shape|dict\(|LEARNING_RATE|\{$)|new\[|return|\"|def |if )", line
        )
        if re.match(r"\s+[\w\[\]\"]+ [-+*/]?= ", line) and not bookkeeping:
            assert "# eq. (" in line or previous.strip().startswith("# eq. ("), line
        previous = line


# --- bad specs: exit 2, one line naming the layer's field ------------------------------------------
CONV_SPEC = """
[network]
input = {input}
loss = "{loss}"
{network}
[[layers]]
{first}
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 2
activation = "{output}"
{tail}
"""


def conv_spec(first='type = "conv2d"\nchannels = 2\nkernel = 3', input="[1, 6, 6]", loss="cross_entropy",
              output="softmax", network="", tail=""):  # fmt: skip
    return CONV_SPEC.format(first=first, input=input, loss=loss, output=output, network=network, tail=tail)


VECTOR_SPEC = (
    '[network]\ninput = [4]\nloss = "squared_error"\n[[layers]]\n{first}\n[[layers]]\ntype = "dense"\nunits = 2\n{tail}'
)

BAD = [
    (
        "kernel-too-large",
        conv_spec('type = "conv2d"\nchannels = 2\nkernel = 7'),
        "layers[0].kernel",
        r"layer 1 \(conv2d\): kernel 7 is larger than its input 6 x 6",
    ),
    (
        "dense-on-a-map",
        conv_spec('type = "dense"\nunits = 3'),
        "layers[0]",
        r"layer 1 \(dense\).*vector input.*flatten",
    ),
    (
        "pool-does-not-divide",
        conv_spec('type = "maxpool2d"\nsize = 4', input="[1, 5, 5]"),
        "layers[0].size",
        r"layer 1 \(maxpool2d\).*do not tile",
    ),
    (
        "pool-stride-does-not-divide",
        conv_spec('type = "avgpool2d"\nsize = 3\nstride = 2'),
        "layers[0].stride",
        r"do not tile the input 6 x 6",
    ),
    ("window-too-large", conv_spec('type = "maxpool2d"\nsize = 7'), "layers[0].size", r"window 7 is larger"),
    (
        "unknown-type",
        conv_spec('type = "conv3d"'),
        "layers[0].type",
        r"layer 1: unknown layer type 'conv3d'; known: dense, conv2d",
    ),
    ("missing-type", conv_spec("channels = 2"), "layers[0].type", r"missing"),
    (
        "unknown-field",
        conv_spec('type = "conv2d"\nchannels = 2\nkernel = 3\nfilters = 4'),
        "layers[0].filters",
        r"layer 1 \(conv2d\): unknown field",
    ),
    ("missing-field", conv_spec('type = "conv2d"\nchannels = 2'), "layers[0].kernel", r"layer 1 \(conv2d\): missing"),
    ("kernel-not-whole", conv_spec('type = "conv2d"\nchannels = 2\nkernel = 2.5'), "layers[0].kernel", r"whole number"),
    ("kernel-bool", conv_spec('type = "conv2d"\nchannels = 2\nkernel = true'), "layers[0].kernel", r"whole number"),
    (
        "negative-padding",
        conv_spec('type = "conv2d"\nchannels = 2\nkernel = 3\npadding = -1'),
        "layers[0].padding",
        r"whole number from 0",
    ),
    (
        "zero-stride",
        conv_spec('type = "conv2d"\nchannels = 2\nkernel = 3\nstride = 0'),
        "layers[0].stride",
        r"whole number from 1",
    ),
    (
        "unknown-activation",
        conv_spec('type = "conv2d"\nchannels = 2\nkernel = 3\nactivation = "swish2"'),
        "layers[0].activation",
        r"unknown activation 'swish2'",
    ),
    (
        "softmax-hidden",
        conv_spec('type = "conv2d"\nchannels = 2\nkernel = 3\nactivation = "softmax"'),
        "layers[0].activation",
        r"only allowed in the last, dense layer",
    ),
    (
        "flatten-a-vector",
        VECTOR_SPEC.format(first='type = "flatten"', tail=""),
        "layers[0]",
        r"layer 1 \(flatten\).*\(channels, height, width\)",
    ),
    (
        "dropout-rate-one",
        VECTOR_SPEC.format(first='type = "dropout"\nrate = 1.0', tail=""),
        "layers[0].rate",
        r"\[0, 1\)",
    ),
    ("eps-zero", VECTOR_SPEC.format(first='type = "batchnorm"\neps = 0.0', tail=""), "layers[0].eps", r"epsilon"),
    (
        "residual-body-shape",
        VECTOR_SPEC.format(first='type = "residual"\nbody = [{type = "dense", units = 3}]', tail=""),
        "layers[0].body",
        r"layer 1 \(residual\): the body gives 3, its input is 4",
    ),
    (
        "residual-nested",
        VECTOR_SPEC.format(
            first='type = "residual"\nbody = [{type = "residual", body = [{type = "dense", units = 4}]}]', tail=""
        ),
        "layers[0].body[0].body",
        r"plain layers",
    ),
    (
        "residual-body-field",
        VECTOR_SPEC.format(first='type = "residual"\nbody = [{type = "dense", unit = 4}]', tail=""),
        "layers[0].body[0].unit",
        r"body layer 1 \(dense\): unknown field",
    ),
    (
        "residual-empty-body",
        VECTOR_SPEC.format(first='type = "residual"\nbody = []', tail=""),
        "layers[0].body",
        r"list of layer tables",
    ),
    (
        "last-not-a-vector",
        '[network]\ninput = [1, 4, 4]\nloss = "squared_error"\n[[layers]]\ntype = "conv2d"\nchannels = 1\nkernel = 3\n',
        "layers[0]",
        r"must be a vector",
    ),
    (
        "input-four-axes",
        conv_spec(input="[1, 6, 6, 2]"),
        "network.input",
        r"\[channels, height, width\], \[time steps, features\] or \[features\]",
    ),
    (
        "conv-on-a-sequence",
        conv_spec(input="[6, 6]"),
        "layers[0]",
        r"layer 1 \(conv2d\): conv2d does not take a sequence",
    ),
    ("input-zero", conv_spec(input="[1, 0, 6]"), "network.input", r"whole numbers"),
    ("unknown-loss", conv_spec(loss="hinge"), "network.loss", r"unknown loss 'hinge'"),
    (
        "loss-needs-unit-interval",
        conv_spec(loss="binary_cross_entropy", output="identity"),
        "network.loss",
        r"needs outputs in \(0, 1\)",
    ),
    ("node-notation", conv_spec(network='notation = "node"'), "network.notation", r"layer notation"),
    ("unknown-network-field", conv_spec(network="depth = 3"), "network.depth", r"unknown field"),
    ("no-layers", 'layers = []\n[network]\ninput = [3]\nloss = "squared_error"\n', "layers", r"no layers"),
    (
        "layers-not-tables",
        'layers = [1, 2]\n[network]\ninput = [3]\nloss = "squared_error"\n',
        "layers[0]",
        r"expected a table",
    ),
    ("no-network-table", '[[layers]]\ntype = "dense"\nunits = 2\n', "network", r"missing"),
    (
        "example-x-shape",
        conv_spec(tail="[example]\nx = [[1.0, 2.0]]\nt = [[1.0, 0.0]]"),
        "example.x",
        r"one 1 x 6 x 6 array per example",
    ),
    (
        "example-t-sum",
        conv_spec(
            tail="[example]\nx = [[[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]]]\nt = [[0.5, 0.0]]",
            input="[1, 1, 6]",
            first='type = "conv2d"\nchannels = 1\nkernel = 1',
        ),
        "example.t[0]",
        r"sum to 1",
    ),
    (
        "example-rows-differ",
        conv_spec(
            tail="[example]\nx = [[[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]]]\nt = [[1.0, 0.0], [0.0, 1.0]]",
            input="[1, 1, 6]",
            first='type = "conv2d"\nchannels = 1\nkernel = 1',
        ),
        "example",
        r"one entry per example",
    ),
    (
        "batchnorm-one-example",
        VECTOR_SPEC.format(first='type = "batchnorm"', tail="[example]\nx = [[1.0, 2.0, 3.0, 4.0]]\nt = [[0.0, 1.0]]"),
        "example.x",
        r"at least two examples",
    ),
]


@pytest.mark.parametrize(("spec", "field", "problem"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_layer_specs_are_one_line_naming_the_field(tmp_path, capsys, spec, field, problem):
    path = tmp_path / "bad.toml"
    path.write_text(spec)
    out = tmp_path / "out"
    assert main(["derive", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"symbackprop: error: {path}: {field}: "), err
    assert re.search(problem, err.split(f"{field}: ", 1)[1]), err
    assert not out.exists()


# --- the document -----------------------------------------------------------------------------------
NEEDS_TEX = {
    "en": pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed"),
    "zh": pytest.mark.skipif(shutil.which("xelatex") is None, reason="xelatex not installed"),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_document_prints_the_tensor_form_with_the_ops_own_latex(name):
    d = derivation(name)
    tex = d.to_latex()
    tagged = {int(n) for n in re.findall(r"\\tag\{(\d+)\}", tex)}
    assert tagged == {eq.number for eq in d.equations}
    cited = {int(n) for n in re.findall(r"# eq\. \((\d+)\)", d.to_numpy())}
    assert cited <= tagged
    for section in ("Forward pass", "The objective", "Backward pass", "Gradients and update rules"):
        assert f"\\section{{{section}}}" in tex
    assert d.to_markdown() and d.to_latex("zh")


def test_lenet_tinys_document_writes_conv_rot180_maxpool_and_vec():
    tex = derivation("lenet-tiny").to_latex()
    assert r"\operatorname{conv}\left(x, W^{(1)}\right) + b^{(1)}" in tex
    assert (
        r"\operatorname{conv}_{\mathrm{full}}\left(\delta^{(1)}, \operatorname{rot180}\left(W^{(1)}\right)\right)"
        in tex
    )
    assert r"\operatorname{maxpool}_{2}\left(a^{(1)}\right)" in tex
    assert r"\left[z^{(1)} > 0\right] \odot \operatorname{route}_{\max}" in tex
    assert r"\operatorname{vec}^{-1}_{2 \times 2 \times 2}" in tex
    bn = derivation("bn-mlp").to_latex()
    assert r"\operatorname{mean}_{B}" in bn and r"\hat{x}^{(2)}" in bn


@pytest.mark.parametrize("lang", [pytest.param(lang, marks=mark) for lang, mark in NEEDS_TEX.items()])
def test_the_documents_compile(lang, tmp_path):
    assert main(["derive", "lenet-tiny", "-o", str(tmp_path), "--pdf", "--lang", lang]) == 0
    name = "derivation.pdf" if lang == "en" else "derivation.zh.pdf"
    assert (tmp_path / name).read_bytes().startswith(b"%PDF")


JAX_SCRIPT = """
import jax
import numpy as np
jax.config.update("jax_enable_x64", True)
from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import import_source, random_values

for name in NAMES:
    net = load_spec(name)
    d = derive(net)
    reference = import_source(d.to_numpy(), name="ref_" + name.replace("-", "_"))
    jitted = import_source(d.to_numpy("jax"), name="jax_" + name.replace("-", "_"))
    values = random_values(net, np.random.default_rng(0), batch=3)
    want = reference.step(values)
    for _ in range(2):  # the second call runs the compiled step
        got = jitted.step({k: jax.numpy.asarray(v) for k, v in values.items()})
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), want[key], rtol=1e-12, atol=1e-13, err_msg=name + key)
print("agree")
"""


def jax_agreement(names: list[str]) -> subprocess.CompletedProcess:
    """The jax target's jit-compiled step against the NumPy one, in a process of its own (JAX
    starts threads); the shared script for the layer and the sequence examples."""
    script = JAX_SCRIPT.replace("NAMES", repr(tuple(names)))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_the_jax_target_jit_compiles_the_layer_steps_and_agrees():
    """In a process of its own (JAX starts threads); JAX's immutable arrays take .at[].add."""
    pytest.importorskip("jax", reason="the jax target is tested where JAX is installed")
    result = jax_agreement(EXAMPLES)
    assert result.returncode == 0 and result.stdout.strip() == "agree", result.stderr[-2000:]
