"""The worked example and the pictures of a network of layers' documents.

* the example's numbers are the generated train.py's: its ``forward``, ``backward`` and ``step``
  at its ``initial_values`` (the same parameters, data and dropout masks), to rounding;
* the layer stack and the convolution's grids have no label touching another label, a box or a
  wire not its own, in both languages, for every staged example;
* the documents compile with no overfull box (English with pdflatex, Chinese with xelatex), and
  the Chinese one has the sections' words in Chinese.
"""

from __future__ import annotations

import functools
import re
import shutil

import numpy as np
import pytest

from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import import_source
from symbackprop.analysis.sequential_example import initial_point, sequential_example
from symbackprop.backends.document import _Builder, number_latex
from symbackprop.backends.layers_document import layer_stack, layers_example
from symbackprop.backends.messages import catalogue
from symbackprop.backends.pdf import compile_pdf
from symbackprop.core.sequential import Layer, SequentialNetwork

EXAMPLES = ["lenet-tiny", "bn-mlp", "dropout-mlp", "resnet-block"]
NEEDS_TEX = {
    "en": pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed"),
    "zh": pytest.mark.skipif(shutil.which("xelatex") is None, reason="xelatex not installed"),
}


@functools.cache
def derivation(name):
    return derive(load_spec(name))


@functools.cache
def module(name):
    return import_source(derivation(name).to_numpy(), name=f"train_doc_{name.replace('-', '_')}")


def builder(name, lang="en"):
    d = derivation(name)
    return _Builder(d.analysis, {}, lang)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_starts_where_train_py_starts(name):
    start = module(name).initial_values()
    point = initial_point(derivation(name).network)
    assert sorted(start) == sorted(point)
    for key, value in start.items():
        assert np.array_equal(np.asarray(value), point[key]), key


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_numbers_are_train_pys(name):
    m = module(name)
    values = m.initial_values()
    forward, backward, stepped = m.forward(values), m.backward(values), m.step(values)
    ex = derivation(name).analysis.layers_example
    assert ex is not None and ex.rows_in_data == len(values["x"])
    close = functools.partial(np.testing.assert_allclose, rtol=1e-12, atol=1e-14)
    shown = 0
    for layer in ex.layers:
        for row in layer.rows:
            close(row.value, forward[row.symbol.name][0])  # the first example's
            shown += 1
            if row.delta is not None:
                close(row.delta_value, backward[f"delta_{row.symbol.name}"][0])
    assert shown >= len(derivation(name).network.layers)
    assert {p.symbol.name for p in ex.parameters} == set(derivation(name).network.parameter_names)
    for p in ex.parameters:
        close(p.value, values[p.symbol.name])
        close(p.gradient, backward[p.symbol.name])
        close(p.updated, stepped[p.symbol.name])
    close(ex.objective[1], float(forward["J"]))
    # the first example's own loss: the module's objective on that example alone, where the
    # examples do not interact (batch norm's statistics couple them) and without weight decay
    if not derivation(name).network.batch_norm and not derivation(name).network.weight_decay:
        first = {k: (v[:1] if k in ("x", "t") or k.startswith("mask") else v) for k, v in values.items()}
        close(ex.example_loss, m.loss(first))


def test_the_conv_window_is_the_first_output_entry():
    ex = derivation("lenet-tiny").analysis.layers_example
    conv = ex.conv
    k = conv.window[0]
    window = conv.input[:k, :k]
    assert conv.output[0, 0] == pytest.approx(float(np.sum(window * conv.kernel)) + conv.bias, rel=1e-12)
    assert conv.output.shape == (4, 4) and conv.input.shape == (6, 6) and conv.kernel.shape == (3, 3)
    rows = builder("lenet-tiny").example()["conv_sum"]  # the window's products, row by row, then z
    assert len(rows) == k + 1 and rows[-1] == "&= " + number_latex(float(conv.output[0, 0]))
    assert rows[0].startswith("z^{(1)}_{0,0,0} &= " + number_latex(float(conv.input[0, 0])) + r" \cdot ")


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_label_touches_anything_in_the_layer_pictures(name, lang):
    b = builder(name, lang)
    stack = layer_stack(b.net, b.msg, lang)
    labels = stack.geometry.of_kind("label")
    assert len(labels) >= len(b.net.layers)  # a shape on every arrow between layers
    assert stack.geometry.collisions() == []
    ex = b.example()
    if ex["conv_layout"] is not None:
        assert ex["conv_layout"].geometry.collisions() == []
        assert ex["conv"] and ex["conv"] in derivation(name).to_latex(lang)


def test_the_stack_shows_the_shapes_and_the_layer_names():
    tex = derivation("lenet-tiny").to_latex()
    for shape in (r"1 \times 6 \times 6", r"2 \times 4 \times 4", r"2 \times 2 \times 2", "{$8$}", "{$3$}"):
        assert shape in tex, shape
    for word in ("convolution", "max pooling", "flatten", "dense", "softmax"):
        assert word in tex
    zh = {
        "lenet-tiny": ("卷积", "最大池化", "展平", "全连接"),
        "bn-mlp": ("批归一化",),
        "dropout-mlp": ("随机失活",),
        "resnet-block": ("残差连接",),
    }
    for name, words in zh.items():
        tex = derivation(name).to_latex("zh")
        for word in words:
            assert word in tex, (name, word)


def test_the_collision_check_sees_a_shape_on_a_box():
    b = builder("lenet-tiny")
    stack = layer_stack(b.net, b.msg, "en")
    from dataclasses import replace

    label = next(p for p in stack.geometry.pieces if p.kind == "label")
    box = next(p for p in stack.geometry.pieces if p.kind == "node")
    moved = replace(label, outline=box.outline)
    stack.geometry.pieces.append(moved)
    assert stack.geometry.collisions()


def test_the_objective_sentence_names_one_examples_loss():
    tex = derivation("lenet-tiny").to_latex()
    section = tex.split(r"\section{The objective}")[1].split(r"\section")[0]
    assert "The objective for one example:" not in section
    assert r"One example's loss is $\sum_{k}" in section
    zh = derivation("lenet-tiny").to_latex("zh")
    assert "单个样本的损失为 $\\sum_{k}" in zh


def test_a_feature_map_is_a_matrix_per_channel_and_numbers_are_the_tables():
    b = builder("lenet-tiny")
    ex = b.example()
    layer1 = ex["layers"][0][1]
    z1 = derivation("lenet-tiny").analysis.layers_example.layers[0].rows[0].value
    assert layer1[0].count(r"\begin{bmatrix}") == 2 and "c=1" in layer1[0]
    assert number_latex(float(z1[1, 0, 0])) in layer1[0]
    assert "not tabulated" not in derivation("lenet-tiny").to_latex()


def test_the_example_words_say_how_many_examples_and_which():
    msg = catalogue("en")
    b = builder("bn-mlp")
    ex = b.example()
    assert "4 examples" in ex["data_words"] and "first example" in ex["data_words"]
    assert msg.layers_example_coupled in ex["data_words"]
    assert msg.layers_example_masks in builder("dropout-mlp").example()["data_words"]


def test_no_example_means_no_tables():
    from dataclasses import replace as dc_replace

    net = dc_replace(derivation("bn-mlp").network, example={})
    assert sequential_example(derive(net).inner) is None
    b = builder("bn-mlp")
    assert layers_example(None, b.p, number_latex, b.msg, net, "")["words"] == b.msg.no_example


def test_same_spec_same_bytes():
    a = derive(load_spec("lenet-tiny")).to_latex("zh")
    assert a == derive(load_spec("lenet-tiny")).to_latex("zh")


CJK = re.compile(r"[\u4e00-\u9fff]")


def _prose(tex: str) -> str:
    """Text outside maths, pictures and commands: what a reader reads as words."""
    tex = re.sub(r"\\begin\{(gather\*|tikzpicture)\}.*?\\end\{\1\}", " ", tex, flags=re.DOTALL)
    tex = re.sub(r"\$[^$]*\$", " ", tex)
    tex = re.sub(r"\\(begin|end)\{[^}]*\}", " ", tex)
    tex = re.sub(r"\\setcounter\{[^}]*\}\{[^}]*\}", " ", tex)  # a counter's name is no prose
    return re.sub(r"\\[a-zA-Z]+(\[[^\]]*\])?|[{}%]", " ", tex)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_chinese_example_and_pictures_have_no_english_words(name):
    tex = derivation(name).to_latex("zh")
    example = tex.split(r"\section{数值算例}")[1].split(r"\appendix")[0]
    picture = tex.split(r"\begin{tikzpicture}")[1].split(r"\end{tikzpicture}")[0]
    words = set(re.findall(r"[A-Za-z]{3,}", _prose(example))) - {"train"}  # train.py
    assert not words, words
    assert CJK.search(example)
    boxes = re.findall(r"\{([^{}]*)\};", picture)
    english = [text for text in boxes if re.search(r"(?<![\\a-z])[a-z]{4,}", re.sub(r"\$[^$]*\$", "", text))]
    assert not english, english


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("lang", [pytest.param(lang, marks=mark) for lang, mark in NEEDS_TEX.items()])
def test_the_documents_compile_without_overfull_boxes(name, lang):
    compiled = compile_pdf(derivation(name).to_latex(lang), lang)
    assert compiled.pdf.startswith(b"%PDF")
    assert not compiled.overfull, compiled.overfull


def _wide_network() -> SequentialNetwork:
    """Every layer type but residual, a stride and padding, three channels, a 3 x 18 dense
    weight and vectors of 18: rows and matrices that must wrap to fit the page."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (3, 2, 7, 6)).round(2).tolist()
    t = np.eye(3)[[0, 2, 1]].tolist()
    layers = (
        Layer("conv2d", channels=3, kernel=3, stride=2, padding=1, activation="tanh"),
        Layer("batchnorm", activation="relu"),
        Layer("avgpool2d", size=2, stride=1),
        Layer("flatten"),
        Layer("layernorm"),
        Layer("dropout", rate=0.25),
        Layer("dense", units=3, activation="softmax"),
    )
    return SequentialNetwork(
        "wide-rows", (2, 7, 6), layers, "cross_entropy", weight_decay=0.01, example={"x": x, "t": t}
    )


def test_wide_rows_wrap_into_blocks_and_the_pictures_keep_the_rule():
    d = derive(_wide_network())
    b = _Builder(d.analysis, {}, "en")
    ex = b.example()
    params = "\n".join(ex["params"])
    assert r"\underset{j=0..7}" in params and r"\underset{j=16..17}" in params  # W^(7) is 3 x 18
    assert ex["conv_sum"] == []  # two input channels: the one channel's products are not z
    assert b._picture_layout.geometry.collisions() == []
    assert ex["conv_layout"].geometry.collisions() == []
    m = import_source(d.to_numpy(), name="train_doc_wide")
    gradient = d.analysis.layers_example.gradients["W1"]
    assert gradient.shape == (3, 2, 3, 3)
    np.testing.assert_allclose(gradient, m.backward(m.initial_values())["W1"], rtol=1e-12)


@NEEDS_TEX["en"]
def test_wide_rows_compile_without_overfull_boxes():
    compiled = compile_pdf(derive(_wide_network()).to_latex("en"), "en")
    assert not compiled.overfull, compiled.overfull


def test_the_markdown_links_the_stack_and_the_convolution_as_svg_files():
    d = derivation("lenet-tiny")
    for lang, stem in (("en", "derivation"), ("zh", "derivation.zh")):
        doc = d.to_markdown_document(lang, stem=stem)
        msg = catalogue(lang)
        links = re.findall(r"^!\[([^\]]+)\]\(([^)]+)\)$", doc.text, re.MULTILINE)
        assert links == [(msg.figure_network, f"{stem}.fig1.svg"), (msg.figure_conv, f"{stem}.fig2.svg")]
        stack, conv = doc.figures.values()
        assert stack in d.to_latex(lang) and conv in d.to_latex(lang)
        assert r"z^{(1)}_{0,0,0} &= 0.91 \cdot" in doc.text  # the window's sum, in MathJax
    assert len(derivation("bn-mlp").to_markdown_document("en").figures) == 1  # no convolution
