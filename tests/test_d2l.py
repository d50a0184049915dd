"""d2l notation (issue 9, item 4): the names, the refusals, d2l's backward pass in its order, its
computational graph, the memory count, the document in both languages, verify on d2l answers,
and the generated code's gradients."""

from __future__ import annotations

import re

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symbackprop.analysis.memory import memory_use
from symbackprop.api import derive
from symbackprop.backends.d2l_graph import VARIABLES, d2l_graph
from symbackprop.calculus.d2l import d2l_backward
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.cli import main
from symbackprop.core.network import LayeredNetwork, NetworkError
from symbackprop.core.spec import SpecError, load_spec, load_spec_text
from symbackprop.registry import MatTVec
from symbackprop.verify.check import verify_answer


@pytest.fixture(scope="module")
def derivation() -> LayeredDerivation:
    return LayeredDerivation(load_spec("d2l-mlp"))


# --- names and refusals -------------------------------------------------------------------------
def test_d2l_names_the_layers_x_z_h_o_and_yhat(derivation):
    names = derivation.names
    assert [names.latex[s] for s in (names.out_vec(1), names.net_vec(2), names.out_vec(2), names.net_vec(3))] == [
        "x",
        "z",
        "h",
        "o",
    ]
    assert names.latex[names.out_vec(3)] == r"\hat{y}"
    assert names.latex[names.delta_vec(2)] == r"\frac{\partial J}{\partial z}"
    assert names.latex[names.net(3, 1)] == "o_{2}" and names.latex[names.out(2, 0)] == "h_{1}"
    assert names.learning_rate().name == "eta" and names.objective().name == "J"
    assert not derivation.network.bias and derivation.graph.parameters.keys() == {names.matrix(1), names.matrix(2)}


def test_bias_is_false_by_default_in_d2l_notation():
    text = '[mlp]\nsizes = [2, 3, 1]\nactivations = ["relu", "sigmoid"]\nloss = "squared_error"\nnotation = "d2l"'
    assert load_spec_text(text).bias is False


@pytest.mark.parametrize(
    ("sizes", "acts", "extra"),
    [
        ("[2, 3, 3, 1]", '["relu", "relu", "sigmoid"]', ""),
        ("[2, 1]", '["sigmoid"]', ""),
        ("[2, 3, 1]", '["relu", "sigmoid"]', "bias = true"),
    ],
)
def test_d2l_notation_refuses_other_shapes(sizes, acts, extra):
    text = f'[mlp]\nsizes = {sizes}\nactivations = {acts}\nloss = "squared_error"\nnotation = "d2l"\n{extra}'
    with pytest.raises(SpecError, match="one hidden layer without biases"):
        load_spec_text(text)


def test_switching_a_biased_network_to_d2l_is_refused_with_one_line(capsys):
    with pytest.raises(NetworkError, match="one hidden layer without biases"):
        LayeredNetwork("n", (3, 3, 1), ("sigmoid", "sigmoid"), "squared_error", bias=True, notation="d2l")
    assert main(["derive", "ufldl-3-3-1", "--notation", "d2l", "-o", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "one hidden layer without biases" in err


# --- the backward pass in d2l's order -----------------------------------------------------------
def test_backward_pass_follows_d2l_order_with_prod(derivation):
    backward = d2l_backward(derivation)
    printed = [backward.latex.get(s.lhs, derivation.names.latex.get(s.lhs)) for s in backward.steps]
    assert printed == [
        r"\frac{\partial J}{\partial L}",
        r"\frac{\partial J}{\partial s}",
        r"\frac{\partial J}{\partial o}",
        r"\frac{\partial s}{\partial W^{(1)}}",
        r"\frac{\partial s}{\partial W^{(2)}}",
        r"\frac{\partial J}{\partial W^{(2)}}",
        r"\frac{\partial J}{\partial h}",
        r"\frac{\partial J}{\partial z}",
        r"\frac{\partial J}{\partial W^{(1)}}",
    ]
    prods = [len(s.prods) for s in backward.steps]
    assert prods == [0, 0, 1, 0, 0, 2, 1, 1, 2]  # two paths reach each W: the loss and s


def test_backward_results_are_the_engines(derivation):
    names = derivation.names
    steps = {s.lhs.name: s for s in d2l_backward(derivation).steps}
    tensor = {(eq.kind, eq.target): eq.rhs for eq in derivation.tensor_equations}
    W1, W2, lam = names.matrix(1), names.matrix(2), names.weight_decay()
    assert steps["d_J_d_L"].rhs == 1 and steps["d_J_d_s"].rhs == 1
    assert steps["grad_o"].rhs == names.out_vec(3) - names.target_vec()  # softmax + cross-entropy: yhat - y
    assert steps["d_s_d_W1"].rhs == lam * W1 and steps["d_s_d_W2"].rhs == lam * W2
    assert steps["grad_W2"].rhs == tensor["gradient", W2] and steps["grad_W1"].rhs == tensor["gradient", W1]
    assert steps["d_J_d_h"].rhs == MatTVec(W2, names.delta_vec(3))
    dJdh = steps["d_J_d_h"].lhs
    z = names.net_vec(2)
    assert steps["grad_z"].rhs == dJdh * sympy.Heaviside(z, 0)  # dJ/dh (.) relu'(z)
    assert steps["grad_z"].rhs.xreplace({dJdh: MatTVec(W2, names.delta_vec(3))}) == tensor["delta", z]


# --- the computational graph --------------------------------------------------------------------
def test_graph_draws_variables_as_boxes_operators_as_circles_and_J_top_right(derivation):
    labels = {k: k for k in VARIABLES} | {"phi": r"\phi", "loss": r"\ell"}
    tikz = d2l_graph(labels)
    nodes = re.findall(r"\\node\[(var|op)\] \((\w+)\) at \(([-\d.]+), ([-\d.]+)\) \{\$(.*?)\$\};", tikz)
    shapes = {name: shape for shape, name, _, _, _ in nodes}
    assert {n for n, s in shapes.items() if s == "var"} == set(VARIABLES)
    assert {n for n, s in shapes.items() if s == "op"} == {"mul1", "mul2", "phi", "loss", "norm", "plus"}
    at = {name: (float(x), float(y)) for _, name, x, y, _ in nodes}
    assert at["J"][0] == max(x for x, _ in at.values()) and at["J"][1] == max(y for _, y in at.values())
    assert at["x"] == (min(x for x, _ in at.values()), min(y for _, y in at.values()))
    assert len(set(at.values())) == len(at)  # no two nodes on one spot
    with pytest.raises(ValueError, match="no label for J"):
        d2l_graph({k: v for k, v in labels.items() if k != "J"})


# --- memory -------------------------------------------------------------------------------------
def test_memory_count_of_d2l_mlp(derivation):
    """3-4-3, softmax cross-entropy, a batch of 2: the backward pass reads x (3), y (3), z (4),
    h (4), yhat (3) per example and W1, W2 (12 + 12); prediction holds z and h at most."""
    memory = memory_use(derivation)
    read = {s.symbol.name: (s.role, s.floats) for s in memory.stored}
    assert read == {
        "x": ("input", 3),
        "t": ("label", 3),
        "z": ("intermediate", 4),
        "h": ("intermediate", 4),
        "yhat": ("intermediate", 3),
        "W1": ("parameter", 12),
        "W2": ("parameter", 12),
    }
    assert "o" not in read  # the softmax cross-entropy's gradient reads yhat, not o
    assert (memory.per_example, memory.intermediates, memory.parameters, memory.batch) == (17, 11, 24, 2)
    assert (memory.batch_bytes("float32"), memory.batch_bytes("float64")) == (136, 272)
    assert (memory.parameter_bytes("float32"), memory.parameter_bytes("float64")) == (96, 192)
    assert memory.prediction_peak == 8 and [s.name for s in memory.peak_values] == ["z", "h"]
    assert memory.prediction_bytes("float32") == 64


ELEMENTWISE = ["sigmoid", "tanh", "relu", "softplus"]


@settings(max_examples=12, deadline=None)
@given(
    d=st.integers(1, 6),
    hidden=st.integers(1, 6),
    q=st.integers(1, 6),
    act=st.sampled_from(ELEMENTWISE),
)
def test_prediction_peak_is_the_largest_neighbouring_pair(d, hidden, q, act):
    """The forward pass is a chain x, z, h, o, yhat: each value is read by the next step only, so
    a prediction holds two neighbours at a time; training keeps at least x and the hidden layer."""
    net = LayeredNetwork(
        "n", (d, hidden, q), (act, "identity"), "squared_error", bias=False, weight_decay=0.1, notation="d2l"
    )
    memory = memory_use(LayeredDerivation(net))
    assert memory.prediction_peak == max(d + hidden, 2 * hidden, hidden + q, 2 * q)
    read = {s.symbol.name for s in memory.stored}
    assert {"x", "W1", "W2"} <= read and read & {"z", "h"}
    assert memory.parameters == hidden * d + q * hidden
    assert memory.per_example >= d + hidden


# --- the document -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def documents():
    d = derive(load_spec("d2l-mlp"))
    return {lang: d.to_latex(lang) for lang in ("en", "zh")}


def test_document_has_the_graph_the_backward_pass_and_the_memory_section(documents):
    en = documents["en"]
    assert r"\section{Forward propagation, backward propagation and computational graphs}" in en
    assert r"\node[var] (J)" in en and r"\node[op] (phi) at (3.750, 0.000) {$\phi$}" in en
    assert "activation (relu)" in en
    assert r"\operatorname{prod}\left(\frac{\partial J}{\partial h}, \frac{\partial h}{\partial z}\right)" in en
    assert "17 floats kept" in en and "136 bytes in float32 and 272 bytes in float64" in en
    assert "at most 8 floats per example" in en
    assert "square nodes are biases" not in en and "the network has no biases" in en
    assert r"\delta" not in en.split(r"\section{Derivatives used}")[0]  # d2l names no error term


def test_chinese_document_uses_the_chinese_editions_terms(documents):
    zh = documents["zh"]
    for term in ("前向传播、反向传播和计算图", "正则化项", "中间变量", "内存", "显存"):
        assert term in zh, term
    assert "每个样本需要为反向传播保存 17 个浮点数" in zh


# --- verify -------------------------------------------------------------------------------------
RIGHT = [
    r"\frac{\partial J}{\partial W^{(2)}} = \frac{\partial J}{\partial o} h^T + \lambda W^{(2)}",
    r"\frac{\partial J}{\partial z} = \frac{\partial J}{\partial h} \odot \phi'(z)",
    r"\frac{\partial J}{\partial h} = (W^{(2)})^T \frac{\partial J}{\partial o}",
    r"\frac{\partial J}{\partial o} = \hat{y} - y",
    r"\frac{\partial J}{\partial W^{(1)}} = \frac{\partial J}{\partial z} x^\top + \lambda W^{(1)}",
    r"\frac{\partial J}{\partial z_2} = \frac{\partial J}{\partial h_2} [z_2 > 0]",
    r"\hat{y} = \operatorname{softmax}(o)",
    # as d2l typesets them (bold vectors and matrices)
    r"\frac{\partial J}{\partial \mathbf{W}^{(2)}} = \frac{\partial J}{\partial \mathbf{o}} \mathbf{h}^\top + \lambda \mathbf{W}^{(2)}",
    r"\frac{\partial J}{\partial \mathbf{h}} = {\mathbf{W}^{(2)}}^\top \frac{\partial J}{\partial \mathbf{o}}",
    r"\frac{\partial J}{\partial \mathbf{z}} = \frac{\partial J}{\partial \mathbf{h}} \odot \phi'\left(\mathbf{z}\right)",
    # d2l's first steps through J = L + s, and the chain rule written with them
    r"\frac{\partial J}{\partial L} = 1",
    r"\frac{\partial J}{\partial s} = 1",
    r"\frac{\partial s}{\partial W^{(1)}} = \lambda W^{(1)}",
    r"\frac{\partial L}{\partial o} = \hat{y} - y",
    r"\frac{\partial J}{\partial o} = \frac{\partial J}{\partial L} \frac{\partial L}{\partial o}",
    r"\frac{\partial J}{\partial W^{(2)}} = \frac{\partial J}{\partial o} h^T + \frac{\partial J}{\partial s} \frac{\partial s}{\partial W^{(2)}}",
    r"o_1 = W^{(2)}_{11} h_1 + W^{(2)}_{12} h_2 + W^{(2)}_{13} h_3 + W^{(2)}_{14} h_4",
]
WRONG = [
    (r"\frac{\partial J}{\partial W^{(1)}} = \frac{\partial J}{\partial z} x^T", "missing_regularization"),
    (r"\frac{\partial J}{\partial h} = W^{(2)} \frac{\partial J}{\partial o}", "transposed_index"),
    (r"\frac{\partial J}{\partial o} = y - \hat{y}", "sign"),
    (r"\frac{\partial J}{\partial s} = 0", "other"),
    (r"\frac{\partial s}{\partial W^{(2)}} = \lambda W^{(1)}", "other"),
    (r"\frac{\partial J}{\partial z} = \frac{\partial J}{\partial h} \odot z", "other"),
]


@pytest.mark.parametrize("answer", RIGHT)
def test_d2l_answers_that_are_right(answer):
    verdict = verify_answer("d2l-mlp", answer)
    assert verdict.verdict == "correct", verdict.message


@pytest.mark.parametrize(("answer", "code"), WRONG)
def test_d2l_answers_that_are_wrong(answer, code):
    verdict = verify_answer("d2l-mlp", answer)
    assert verdict.verdict == "incorrect", verdict.message
    assert code in verdict.diagnosis, (verdict.diagnosis, verdict.message)


def test_d2l_has_no_delta_and_no_biases():
    for answer in (
        r"\delta_1 = \frac{\partial J}{\partial z_1}",
        r"\frac{\partial J}{\partial b^{(1)}} = \frac{\partial J}{\partial z}",
    ):
        assert verify_answer("d2l-mlp", answer).verdict == "invalid"


# --- the generated code -------------------------------------------------------------------------
def test_check_passes_for_the_bias_free_network(capsys):
    assert main(["check", "d2l-mlp"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and not re.search(r"^b\d", out, re.MULTILINE)


def test_brief_handout_in_d2l_notation_verifies_line_by_line():
    """A --brief handout shows one unit per layer in sigma notation: d2l's dJ/do_i, not (dJ/do)_i."""
    from symbackprop.verify.check import verify_document

    text = derive(load_spec("d2l-mlp"), brief=True).to_latex()
    assert r"\frac{\partial J}{\partial o_{j}}" in text
    verdicts = verify_document("d2l-mlp", text, None)
    assert verdicts and all(v.verdict == "correct" for v in verdicts), [
        v.message for v in verdicts if v.verdict != "correct"
    ]


D2L_ATOMS = [
    "x", "z", "h", "o", r"\hat{y}", "y", "W^{(1)}", "W^{(2)}", r"\lambda", "s", "L", "J", "z_1", "h_2", "o_3",
    r"\hat{y}_1", "y_2", "W^{(2)}_{12}", r"\frac{\partial J}{\partial h}", r"\frac{\partial J}{\partial o}",
    r"\frac{\partial J}{\partial z}", r"\frac{\partial s}{\partial W^{(2)}}", r"\frac{\partial J}{\partial L}",
    r"\phi'(z)", r"\sigma(o_1)", "1", r"\frac12",
]  # fmt: skip
D2L_LHS = [
    r"\frac{\partial J}{\partial W^{(2)}}", r"\frac{\partial J}{\partial h}", r"\frac{\partial J}{\partial z}",
    r"\frac{\partial J}{\partial o}", r"\frac{\partial s}{\partial W^{(1)}}", r"\frac{\partial J}{\partial s}",
    r"\frac{\partial L}{\partial o}", r"\frac{\partial J}{\partial z_2}", "o", r"\hat{y}_2", "J",
]  # fmt: skip


def _d2l_expressions():
    def extend(inner):
        pair = st.tuples(inner, inner)
        return st.one_of(
            pair.map(lambda p: f"{p[0]} + {p[1]}"),
            pair.map(lambda p: f"{p[0]} - {p[1]}"),
            pair.map(lambda p: f"{p[0]} {p[1]}"),
            pair.map(lambda p: rf"{p[0]} \odot {p[1]}"),
            inner.map(lambda e: f"({e})^T"),
        )

    return st.recursive(st.sampled_from(D2L_ATOMS), extend, max_leaves=4)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(lhs=st.sampled_from(D2L_LHS), rhs=_d2l_expressions())
def test_random_d2l_answers_get_a_verdict_never_an_error(lhs, rhs):
    verdict = verify_answer("d2l-mlp", f"{lhs} = {rhs}")
    assert verdict.verdict in {"correct", "incorrect", "invalid", "undecided"}
    assert "internal error" not in verdict.message, (lhs, rhs, verdict.message)


ELEMENTWISE_OUTPUT = """title = "tanh hidden, linear output, squared error"
[mlp]
sizes = [2, 3, 2]
activations = ["tanh", "identity"]
loss = "squared_error"
weight_decay = 0.1
notation = "d2l"
[example]
x = [[0.5, -0.3]]
t = [[0.2, 0.7]]
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_d2l_document_of_an_elementwise_output_verifies_line_by_line(lang, tmp_path):
    """An elementwise output layer gets the general output result in d2l's names (dJ/do_i, no
    UFLDL delta or sign), and tanh's phi'(z) in terms of h; every display line verifies."""
    from symbackprop.verify.check import verify_document

    spec = tmp_path / "tanh.toml"
    spec.write_text(ELEMENTWISE_OUTPUT)
    text = derive(load_spec(str(spec))).to_latex(lang)
    assert r"\frac{\partial J}{\partial o_i} = \frac{\partial J}{\partial \hat{y}_i}" in text
    assert r"\frac{\partial J}{\partial h} \odot \left(1 - h^{2}\right)" in text  # the backward table
    verdicts = verify_document(str(spec), text, None)
    bad = [f"line {v.line}: {v.message}" for v in verdicts if v.verdict != "correct"]
    assert verdicts and not bad, bad[:3]


def test_without_weight_decay_there_is_no_s_so_no_d2l_graph_but_the_memory_section(tmp_path):
    spec = tmp_path / "plain.toml"
    spec.write_text(ELEMENTWISE_OUTPUT.replace("weight_decay = 0.1", "weight_decay = 0.0"))
    text = derive(load_spec(str(spec))).to_latex()
    assert r"\section{Forward propagation, backward propagation and computational graphs}" not in text
    assert r"\section{Memory: training and prediction}" in text
    assert "no regularisation term $s$" in text and "$J = L + s$" not in text
