"""The derivation documents: content, both notations and languages, LaTeX safety, PDF builds.

Compile tests need TeX Live (pdflatex for English, xelatex + ctex for Chinese). CI installs it;
on a machine without it those tests are skipped with the reason shown, never passed silently.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from conftest import EXAMPLES, derivation_of

from symbackprop import LayeredNetwork, derive, load_spec, load_spec_text
from symbackprop.analysis.consistency import ConsistencyError, check_consistency
from symbackprop.backends.pdf import compile_pdf
from symbackprop.cli import main

needs_tex = {
    "en": pytest.mark.skipif(
        shutil.which("pdflatex") is None, reason="pdflatex not installed (Debian: texlive-latex-base)"
    ),
    "zh": pytest.mark.skipif(
        shutil.which("xelatex") is None, reason="xelatex not installed (Debian: texlive-xetex texlive-lang-chinese)"
    ),
}


@pytest.mark.parametrize("lang", [pytest.param("en", marks=needs_tex["en"]), pytest.param("zh", marks=needs_tex["zh"])])
def test_every_example_compiles_without_errors_or_overfull_boxes(example, lang):
    compiled = compile_pdf(derivation_of(example).to_latex(lang), lang)
    assert compiled.pdf.startswith(b"%PDF")
    assert not compiled.overfull, compiled.overfull  # not a point too wide


@needs_tex["en"]
def test_wide_network_in_node_notation_compiles_without_overfull_boxes():
    net = LayeredNetwork("wide", (10, 8, 6), ("tanh", "softmax"), "cross_entropy", weight_decay=0.1, notation="node")
    compiled = compile_pdf(derive(net).to_latex("en"), "en")
    assert not compiled.overfull, compiled.overfull


def test_document_teaches_the_hidden_delta_step_by_step():
    tex = derivation_of("fc-3-2-2").to_latex()
    # chain rule, total derivative over the nodes fed, the lemma factor, then the numbered result
    assert r"\frac{\partial E}{\partial y_{4}} &= \frac{\partial E}{\partial \mathrm{net}_{6}}" in tex
    assert r"&= \delta_{6} w_{64} + \delta_{7} w_{74}" in tex
    assert r"\delta_{4} &= y_{4} \left(1 - y_{4}\right) \left(\delta_{6} w_{64} + \delta_{7} w_{74}\right) \tag{" in tex
    for reason in ("chain rule", "total derivative", "derivative of the activation"):
        assert reason in tex


def test_document_sections_in_order():
    tex = derivation_of("ufldl-3-3-1").to_latex()
    headings = re.findall(r"\\section\{([^}]*)\}", tex)
    assert headings == [
        "The network",
        "Forward pass",
        "The objective",
        "Error terms of the output layer",
        "Error terms of the hidden layers",
        "Gradients and update rules",
        "The matrix form",
        "Batch gradient descent",
        "Derivatives used",
        "A worked example",
        "Equations in train.py",
    ]
    assert r"J &= L + s" in tex and r"\begin{tikzpicture}" in tex


def test_ufldl_batch_algorithm_is_numbered_and_traced_into_train_py():
    derivation = derivation_of("ufldl-3-3-1")
    tex = derivation.to_latex()
    section = tex[tex.index(r"\section{Batch gradient descent}") : tex.index(r"\section{Derivatives used}")]
    assert section.count(r"\item") == 3
    assert r"\Delta W^{(l)} := 0" in section and r"\frac{1}{m} \Delta W^{(l)} + \lambda W^{(l)}" in section
    lines = derivation.to_numpy().splitlines()
    numbers = {eq.label: eq.number for eq in derivation.analysis.equations}
    traced = re.findall(r"\\eqref\{([^}]*)\}~((?:\\texttt\{\w+\}~\d+(?:, )?)+)", section)
    assert len(traced) == 8  # four gradients (W, b of two layers) in step 2, four updates in step 3
    for label, places in traced:
        for _function, line in re.findall(r"\\texttt\{(\w+)\}~(\d+)", places):
            assert f"# eq. ({numbers[label]})" in lines[int(line) - 1]  # the line that computes it
    assert "breaks this symmetry" in section
    assert "Batch gradient descent" not in derivation_of("fc-3-2-2").to_latex()  # node notation: not UFLDL's


def test_softmax_cross_entropy_document_shows_the_collapse_to_y_minus_t():
    tex = derivation_of("fc-3-2-2-softmax").to_latex()
    assert "targets sum to one" in tex
    assert r"\delta_{6} &= y_{6} - t_{6}" in tex
    assert "softmax + cross-entropy" in tex  # the pair lemma


def test_sigmoid_lemma_uses_the_add_and_subtract_one_step():
    tex = derivation_of("cs231n-neuron").to_latex()
    assert r"\frac{1 + e^{- x} - 1}{1 + e^{- x}} \frac{1}{1 + e^{- x}}" in tex
    assert r"\left(1 - \sigma\left(x\right)\right) \sigma\left(x\right)" in tex


def test_circuit_example_shows_values_and_gradients_on_wires():
    tex = derivation_of("cs231n-circuit").to_latex()
    assert "add gate distributes" in tex and "multiply gate" in tex
    picture = tex[tex.index(r"\begin{tikzpicture}") : tex.index(r"\end{tikzpicture}")]
    for number in ("-12", "3", "-4"):
        assert number in picture


def test_equation_numbers_agree_between_document_and_code(example):
    d = derivation_of(example)
    tex, code = d.to_latex(), d.to_numpy()
    tags = {int(n): label for n, label in re.findall(r"\\tag\{(\d+)\}\\label\{([^}]*)\}", tex)}
    for eq in d.equations:
        assert tags[eq.number] == eq.label
    for number in re.findall(r"# eq\. \((\d+)\)", code):
        assert int(number) in tags


def test_appendix_points_at_the_lines_that_compute_each_equation(example):
    d = derivation_of(example)
    code_lines = d.to_numpy().splitlines()
    rows = re.findall(r"\\eqref\{([^}]*)\} & (.*) \\\\$", d.to_latex(), re.M)
    assert rows
    numbers = {eq.label: eq.number for eq in d.equations}
    for label, places in rows:
        found = re.findall(r"\\texttt\{(\w+)\}~(\d+)", places)
        assert found, places
        for function, line in found:
            text = code_lines[int(line) - 1]
            above = code_lines[int(line) - 2]
            assert f"eq. ({numbers[label]})" in text or f"eq. ({numbers[label]})" in above
            owner = next(code_lines[i] for i in range(int(line) - 1, -1, -1) if code_lines[i].startswith("def "))
            assert owner.startswith(f"def {function}(")


def test_notation_override_renames_every_symbol():
    net = replace(load_spec("fc-3-2-2"), notation="layer")
    tex = derive(net).to_latex()
    assert r"W^{(1)}_{21}" in tex and r"\delta^{(2)}_{1}" in tex and r"w_{41}" not in tex


def test_indices_above_nine_are_separated_by_a_comma():
    net = LayeredNetwork("n", (11, 2, 1), ("sigmoid", "sigmoid"), "squared_error", notation="node")
    tex = derive(net).to_latex()
    assert r"w_{12,1}" in tex and r"w_{12,11}" in tex


def test_chinese_document_uses_the_tutorial_terms():
    tex = derivation_of("ufldl-3-3-1").to_latex("zh")
    assert r"\documentclass[11pt,fontset=fandol]{ctexart}" in tex
    for term in ("前向传播", "误差项", "链式法则", "全导数", "学习率", "权重衰减"):
        assert term in tex
    # same template: the equations are identical to the English document's
    en = derivation_of("ufldl-3-3-1").to_latex("en")
    assert re.findall(r"\\tag\{\d+\}.*", tex) == re.findall(r"\\tag\{\d+\}.*", en)


def test_markdown_document_has_numbered_display_maths():
    md = derivation_of("fc-3-2-2").to_markdown()
    assert md.startswith("# Backpropagation")
    assert md.count("$$") % 2 == 0 and "\\tag{17}" in md
    assert "| `backward` |" not in md or "train.py:" in md


def test_jupyter_representations():
    d = derivation_of("colah-graph")
    assert d._repr_latex_().startswith("$$\\begin{aligned}")
    assert "## Computational graph" in d._repr_markdown_()  # a graph's first section


def test_spec_text_cannot_inject_latex(tmp_path):
    spec = tmp_path / "evil.toml"
    spec.write_text(
        'title = "x \\\\input{/etc/passwd} \\\\write18{touch pwned} $ & % # _ ^ ~ { }"\n'
        'inputs = ["x"]\noutput = "f"\n[nodes]\nf = "x*x"\n'
    )
    tex = derive(load_spec(spec)).to_latex()
    title_line = next(line for line in tex.splitlines() if line.startswith(r"\title"))
    assert r"\input" not in title_line and r"\write18" not in title_line
    assert r"\textbackslash{}input" in title_line and r"\$" in title_line and r"\&" in title_line


def test_every_matrix_equation_is_checked_against_the_per_unit_equations():
    for acts, loss in [
        (("tanh", "softmax"), "squared_error"),
        (("relu", "sigmoid"), "binary_cross_entropy"),
        (("elu", "identity"), "squared_error"),
    ]:
        assert check_consistency(LayeredNetwork("r", (3, 4, 2), acts, loss, weight_decay=0.1)).comparisons > 20


def test_matrix_check_catches_a_wrong_layer_equation(monkeypatch):
    import symbackprop.analysis.consistency as consistency

    original = consistency.tensor_equations

    def wrong(derivation, names):
        hidden = lambda eq: eq.kind == "delta" and eq.position == "hidden"  # noqa: E731
        return [replace(eq, rhs=eq.rhs * 2) if hidden(eq) else eq for eq in original(derivation, names)]

    monkeypatch.setattr(consistency, "tensor_equations", wrong)
    with pytest.raises(ConsistencyError, match="delta of z2"):
        check_consistency(load_spec("ufldl-3-3-1"))


@needs_tex["en"]
def test_cli_writes_pdf_and_markdown(tmp_path):
    assert main(["derive", "cs231n-circuit", "-o", str(tmp_path / "a"), "--pdf"]) == 0
    assert (tmp_path / "a" / "derivation.pdf").read_bytes().startswith(b"%PDF")
    assert main(["derive", "fc-3-2-2", "-o", str(tmp_path / "b"), "--notation", "layer", "--format", "md"]) == 0
    assert r"W^{(1)}_{21}" in (tmp_path / "b" / "derivation.md").read_text()


def test_cli_rejects_notation_for_a_graph(tmp_path, capsys):
    assert main(["derive", "cs231n-circuit", "-o", str(tmp_path), "--notation", "node"]) == 2
    assert "--notation" in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_large_network_shows_one_representative_node_per_layer_in_index_form():
    spec = '[mlp]\nsizes = [64, 32, 10]\nactivations = ["relu", "softmax"]\nloss = "cross_entropy"\nnotation = "node"\n'
    d = derive(load_spec_text(spec))
    tex = d.to_latex()
    assert tex.count(r"\tag{") < 60 and "unit_derivation" not in d.inner.__dict__
    assert r"\delta_{65} &= \left[\mathrm{net}_{65} > 0\right] \sum_{j=97}^{106} {\delta}_{j} {w}_{j,65}" in tex
    assert r"\mathrm{net}_{65} &= b_{65} + \sum_{j=1}^{64} {x}_{j} {w}_{65,j}" in tex
    assert "matrix equation below was checked" in tex


@pytest.mark.parametrize("name", EXAMPLES)
def test_documents_are_deterministic(name):
    assert derive(load_spec(name)).to_latex("zh") == derivation_of(name).to_latex("zh")


def test_general_results_stand_beside_the_instances():
    node = derivation_of("fc-3-2-2").to_latex("zh")
    assert r"\delta_j = f'(\mathrm{net}_j) \sum_{k \in \text{输出层}} \delta_k w_{kj}" in node
    assert r"\delta_k = \frac{\partial E}{\partial y_k} f'(\mathrm{net}_k)" in node
    layer = derivation_of("ufldl-3-3-1").to_latex()
    assert r"\delta^{(l)} = \left(\left(W^{(l)}\right)^T \delta^{(l+1)}\right) \bullet f'\left(z^{(l)}\right)" in layer
    assert r"\delta^{(n_l)}_i = -\left(y_i - a^{(n_l)}_i\right)" in layer  # UFLDL's own sign
    softmax = derivation_of("fc-3-2-2-softmax").to_latex()
    assert r"\frac{\partial E}{\partial y_k} f'" not in softmax  # softmax couples the outputs


def test_chinese_documents_use_the_chinese_title_and_full_width_punctuation():
    zh = derivation_of("ufldl-3-3-1").to_latex("zh")
    assert r"\title{反向传播推导：UFLDL 3-3-1 网络，sigmoid 单元，平方误差，权重衰减}" in zh
    assert "S 型函数（sigmoid）、S 型函数（sigmoid）" in zh  # activation names in Chinese, listed with 、
    en = derivation_of("ufldl-3-3-1").to_latex("en")
    assert r"\title{Backpropagation: UFLDL 3-3-1 network" in en


def test_a_spec_title_zh_is_one_printable_line(tmp_path):
    spec = tmp_path / "t.toml"
    spec.write_text('title = "x"\ntitle_zh = "第一行\\n第二行"\ninputs = ["x"]\noutput = "f"\n[nodes]\nf = "x*x"\n')
    code = main(["derive", str(spec), "-o", str(tmp_path / "out")])
    assert code == 2 and not (tmp_path / "out").exists()


def test_node_numbered_document_shows_the_sources_stacked_form():
    tex = derivation_of("fc-3-2-2").to_latex()
    assert r"$w_{4} = [w_{41}, w_{42}, w_{43}, w_{b4}]^T$ with $w_{b4} = b_{4}$" in tex
    assert r"$x = [x_{1}, x_{2}, x_{3}, 1]^T$" in tex and r"W_{\text{out}} = [W^{(2)} \; b^{(2)}]" in tex


def test_multi_letter_node_names_print_upright():
    tex = derivation_of("cs231n-neuron").to_latex()
    assert r"\frac{\partial f}{\partial \mathrm{dot}}" in tex and r"\partial dot}" not in tex
    assert r"w_{0}" in tex and r"\mathrm{w}" not in tex  # one letter stays italic


def test_no_kronecker_delta_beside_the_error_terms():
    tex = derivation_of("fc-3-2-2-softmax").to_latex()
    assert r"\left[i = j\right]" in tex and r"\delta_{i j}" not in tex


def test_a_title_formula_prints_as_maths_and_nothing_else_reaches_latex():
    from symbackprop.backends.environment import title_tex

    title = r"CS231n sigmoid neuron $f = \sigma(w_{0} x_{0} + w_{1} x_{1} + w_{2})$"
    assert title in derivation_of("cs231n-neuron").to_latex()
    assert title_tex(r"a $\input{x}$") == r"a \$\textbackslash{}input\{x\}\$"
    assert title_tex("one $ only") == r"one \$ only"


@given(st.text(max_size=60))
def test_title_tex_only_ever_writes_known_commands(text):
    from symbackprop.backends.environment import _title_functions, title_tex

    registry = {c for tex in _title_functions().values() for c in re.findall(r"\\([A-Za-z]+)", tex)}
    allowed = {"textbackslash", "textasciicircum", "textasciitilde", "mathrm"} | registry
    for command in re.findall(r"\\([A-Za-z]+|.)", title_tex(text)):
        assert command in allowed or command in set(",${}#%&_"), command


@pytest.mark.parametrize(
    ("notation", "jacobian", "assumption"),
    [
        ("node", r"\operatorname{diag}(y) - y y^{\top}", r"\sum_i t_i = 1"),
        ("layer", r"\operatorname{diag}(a) - a a^{\top}", r"\sum_i y_i = 1"),
        ("d2l", r"\operatorname{diag}({\hat{y}}) - {\hat{y}} {\hat{y}}^{\top}", r"\sum_i y_i = 1"),
    ],
)
def test_the_softmax_lemma_speaks_the_body_notation(notation, jacobian, assumption):
    """The softmax Jacobian's sentence and the pair lemma's assumption in the body's names: the
    output is y (node), a (layer), y-hat (d2l); the target t (node) or y (layer, d2l)."""
    net = LayeredNetwork("softmax-net", [3, 4, 3], ["relu", "softmax"], "cross_entropy", notation=notation, bias=False)
    tex = derive(net).to_latex()
    assert f"the Jacobian is ${jacobian}$" in tex
    assert f"(${assumption}$)" in tex
