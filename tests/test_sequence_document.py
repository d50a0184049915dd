"""The sequence models' own document parts (issue 11's derivation document).

* each document describes only the layer kinds it has: an RNN document names no attention, no
  LSTM cell state and no convolution, an attention document no W_hh, in both languages;
* each sequence layer gets its own section (BPTT with "vanishing and exploding gradients" for
  the rnn, the gates and the cell-state path for the LSTM, the gates and the update path for
  the GRU, the softmax Jacobian, 1/sqrt(d_k) and the mask for attention), and only the rnn's
  document has the unrolled picture, with no label touching anything;
* the numbers of those sections are an independent NumPy computation from the worked example's
  stored values (h_t, W_hh, the gates, A): the paths add up to the error terms train.py's
  ``backward`` returns, ||dh_T/dh_t|| is the product of the Jacobians diag(1 - h_k^2) W_hh;
* the documents compile with no overfull box (en with pdflatex, zh with xelatex), and the same
  spec gives the same bytes.
"""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest

from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import import_source
from symbackprop.backends.document import _Builder
from symbackprop.backends.layers_document import layer_stack
from symbackprop.backends.pdf import compile_pdf

ROOT = "src/symbackprop/core/examples"
KINDS = ["rnn", "lstm", "gru", "attention"]
HEADINGS = {
    "rnn": ("Backpropagation through time", "随时间反向传播"),
    "lstm": ("The LSTM's gates and its cell-state path", "LSTM 的门控与细胞状态路径"),
    "gru": ("The GRU's gates and its update path", "GRU 的门控与更新门路径"),
    "attention": ("The gradients of attention", "注意力的梯度"),
}
# words that belong to one kind's notation, backward and gradient paragraphs only
OWN_WORDS = {
    "rnn": (r"W^{(l)}_{xh}",),
    "lstm": ("cell state",),
    "gru": (r"r_t \odot v_{n,t}",),
    "attention": (r"\sqrt{d_k}", "softmax of each row"),
}
NEEDS_TEX = {
    "en": pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed"),
    "zh": pytest.mark.skipif(shutil.which("xelatex") is None, reason="xelatex not installed"),
}


@functools.cache
def derivation(kind):
    return derive(load_spec(f"{ROOT}/{kind}-tiny.toml"))


@functools.cache
def latex(kind, lang="en"):
    return derivation(kind).to_latex(lang)


def _before_lemmas(tex: str) -> str:
    """The document up to its own sections (notation, backward and gradient paragraphs)."""
    return tex.split(r"\section{Entry by entry}")[0] + tex.split(r"\section{Backward pass}")[1].split(r"\section{")[0]


@pytest.mark.parametrize("kind", KINDS)
def test_each_document_describes_only_its_own_layer_kinds(kind):
    text = _before_lemmas(latex(kind))
    for other, words in OWN_WORDS.items():
        for word in words:
            assert (word in text) == (other == kind), (kind, other, word)
    for word in ("convolution", "batch norm", "dropout", "rot180", "residual"):
        assert word not in text, (kind, word)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_sequence_layer_has_its_own_section(kind, lang):
    tex = latex(kind, lang)
    index = 0 if lang == "en" else 1
    for other, heading in HEADINGS.items():
        assert (rf"\section{{{heading[index]}}}" in tex) == (other == kind), (other, lang)
    vanishing = ("Vanishing and exploding gradients", "梯度消失与梯度爆炸")[index]
    assert (rf"\subsection{{{vanishing}}}" in tex) == (kind == "rnn")


def test_the_rnn_section_says_what_the_issue_asks():
    tex = latex("rnn")
    section = tex.split(r"\section{Backpropagation through time}")[1].split(r"\section{")[0]
    assert "the total derivative over its two consumers" in section
    assert r"g^{(1)}_{t} + \left(W^{(1)}_{hh}\right)^{\top} \delta^{(1)}_{t+1}" in section
    assert r"\sum_{t=1}^{T} \delta^{(1)}_{t,i} h^{(1)}_{t-1,j}" in section  # per unit
    assert r"\sum_{t=1}^{T} \delta^{(1)}_{t} \left(h^{(1)}_{t-1}\right)^{\top}" in section  # matrix form
    assert r"\prod_{k=t+1}^{T} \operatorname{diag}" in section
    zh = latex("rnn", "zh").split(r"\section{随时间反向传播}")[1]
    assert "全导数" in zh and "梯度消失" in zh and "梯度爆炸" in zh


def test_the_attention_section_has_the_jacobian_the_scale_and_the_mask():
    tex = latex("attention")
    section = tex.split(r"\section{The gradients of attention}")[1].split(r"\section{")[0]
    assert r"\operatorname{diag}{\left(a^{(1)}_{t} \right)} - a^{(1)}_{t} \left(a^{(1)}_{t}\right)^{\top}" in section
    assert r"\frac{1}{\sqrt{2}} \frac{\partial J}{\partial S^{(1)}} K^{(1)}" in section
    assert "no causal mask" in section
    for part in "qkv":
        assert rf"\frac{{\partial J}}{{\partial W^{{(1)}}_{{{part}}}}}" in section


def test_a_causal_mask_names_its_zeros():
    from dataclasses import replace

    net = derivation("attention").network
    layers = (replace(net.layers[0], causal=True), *net.layers[1:])
    tex = derive(replace(net, layers=layers)).to_latex()
    assert "$(1, 2)$, $(1, 3)$, $(2, 3)$" in tex and "with its causal mask" in tex


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_only_the_rnn_picture_is_unrolled_and_nothing_touches(kind, lang):
    b = _Builder(derivation(kind).analysis, {}, lang)
    stack = layer_stack(b.net, b.msg, lang)
    assert stack.geometry.collisions() == []
    unrolled = [p for p in stack.geometry.pieces if p.name.startswith("U")]
    assert bool(unrolled) == (kind == "rnn")
    if kind == "rnn":
        assert r"$h^{(1)}_{0} = 0$" in stack.tikz and r"{$W^{(1)}_{hh}$}" in stack.tikz
        assert sum(p.name.startswith("Whh") for p in stack.geometry.pieces) == 3  # one per step
        x0, _, x1, _ = stack.geometry.extent()
        assert x1 - x0 < 16.6  # the text width


@functools.cache
def module(kind):
    return import_source(derivation(kind).to_numpy(), name=f"train_seqdoc_{kind}")


def _first(values, name):
    return np.asarray(values[name], dtype=float)[0]


def test_the_rnn_paths_and_norms_are_numpys():
    m = module("rnn")
    start = m.initial_values()
    forward, backward = m.forward(start), m.backward(start)
    (paths,) = derivation("rnn").analysis.layers_example.paths
    W = np.asarray(start["W_hh1"], dtype=float)
    steps = len(paths.steps)
    h = {t: _first(forward, f"h1_{t}") for t in range(1, steps + 1)}
    delta = {t: _first(backward, f"delta_z1_{t}") for t in range(1, steps + 1)}
    for step in paths.steps:
        t = step.t
        np.testing.assert_allclose(step.gate, 1 - h[t] ** 2, rtol=1e-12)
        through = W.T @ delta[t + 1] if t < steps else np.zeros(2)
        np.testing.assert_allclose(step.through, through, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(step.delta, delta[t], rtol=1e-12)
        np.testing.assert_allclose((step.direct + step.through) * (1 - h[t] ** 2), delta[t], rtol=1e-12)
    jac = np.eye(2)
    expected = {steps: 1.0}
    for t in range(steps, 1, -1):
        jac = jac @ (np.diag(1 - h[t] ** 2) @ W)
        expected[t - 1] = np.linalg.norm(jac, 2)
    assert dict(paths.jacobian_norms) == pytest.approx(expected, rel=1e-12)
    assert paths.weight_norm == pytest.approx(np.linalg.svd(W, compute_uv=False)[0], rel=1e-12)
    assert paths.shrinking == (expected[1] < 1)


def test_the_lstm_cell_path_is_numpys():
    m = module("lstm")
    start = m.initial_values()
    forward, backward = m.forward(start), m.backward(start)
    (paths,) = derivation("lstm").analysis.layers_example.paths
    for step in paths.steps:
        t = step.t
        np.testing.assert_allclose(step.total, _first(backward, f"delta_c1_{t}"), rtol=1e-12)
        if t < len(paths.steps):
            carried = _first(backward, f"delta_c1_{t + 1}") * _first(forward, f"f1_{t + 1}")
            np.testing.assert_allclose(step.through, carried, rtol=1e-12)
    products = dict(paths.carried)
    np.testing.assert_allclose(products[1], _first(forward, "f1_2") * _first(forward, "f1_3"), rtol=1e-12)


def test_the_attention_jacobian_is_numpys():
    m = module("attention")
    forward = m.forward(m.initial_values())
    backward = m.backward(m.initial_values())
    (paths,) = derivation("attention").analysis.layers_example.paths
    a = _first(forward, "A1")[0]
    np.testing.assert_allclose(paths.jacobian, np.diag(a) - np.outer(a, a), rtol=1e-12)
    np.testing.assert_allclose(paths.jacobian.sum(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(paths.row_sums, _first(backward, "delta_S1").sum(axis=1), atol=1e-15)
    assert np.max(np.abs(paths.row_sums)) < 1e-12


def test_the_classic_layer_documents_keep_their_words():
    tex = derive(load_spec("lenet-tiny")).to_latex()
    assert "vanishing" not in tex.lower() and "unrolled" not in tex
    assert r"\operatorname{conv}(a, W)" in tex  # the general notation paragraph, unchanged


@pytest.mark.parametrize("kind", KINDS)
def test_the_markdown_has_the_sections_and_one_picture(kind):
    doc = derivation(kind).to_markdown_document("en")
    assert f"## {HEADINGS[kind][0]}" in doc.text
    assert len(doc.figures) == 1  # the stack (for the rnn, with its unrolled layer beside it)
    if kind == "rnn":
        (picture,) = doc.figures.values()
        assert r"$h^{(1)}_{0} = 0$" in picture
        table = [line for line in doc.text.splitlines() if line.startswith("| $")]
        assert len(table) == 3 and all(line.count("|") == 5 for line in table)


@pytest.mark.parametrize("kind", KINDS)
def test_same_spec_same_bytes(kind):
    a = derive(load_spec(f"{ROOT}/{kind}-tiny.toml"))
    assert a.to_latex("zh") == latex(kind, "zh") and a.to_markdown() == derivation(kind).to_markdown()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", [pytest.param(lang, marks=mark) for lang, mark in NEEDS_TEX.items()])
def test_the_documents_compile_without_overfull_boxes(kind, lang):
    compiled = compile_pdf(latex(kind, lang), lang)
    assert compiled.pdf.startswith(b"%PDF")
    assert not compiled.overfull, compiled.overfull
