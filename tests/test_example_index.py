"""The index of an example on every formula inside a sum over the batch, and one consistent 1/m.

Inside \\sum_{i=1}^{m} a quantity of one example carries its index, in each notation's way
(UFLDL's x^{(i)}, y^{(i)}; after a layer superscript a^{(2)(i)}, \\delta^{(3)(i)}, as Ng writes
a^{[l](i)}; in d2l notation x^{(i)}, h^{(i)} and the gradient of example i's loss
\\partial \\ell^{(i)} / \\partial o^{(i)}), parameters never do; the input gradient is that of one
example i, with the 1/m of the batch mean, and the per-node equations say they are of one
example (m = 1). ``verify`` reads these forms soundly: i is example i where the sum over the
batch binds it or the left-hand side names it too, never a layer (x^{(1)} is refused).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import sympy

from symbackprop import derive, load_spec
from symbackprop.backends.printers import NotationLatexPrinter
from symbackprop.core.notation import Names, with_example
from symbackprop.registry import BatchMean, BatchOuter
from symbackprop.verify.check import verify_answer
from symbackprop.verify.latex import Node, parse_line

LAYERED = [("fc-3-2-2", "node"), ("fc-3-2-2", "layer"), ("ufldl-3-3-1", "layer"), ("ufldl-3-3-1", "node")]
LAYERED += [("fc-3-2-2-softmax", "node"), ("d2l-mlp", "d2l"), ("d2l-mlp", "layer")]


def _document(name: str, notation: str, lang: str = "en", markdown: bool = False) -> str:
    network = replace(load_spec(name), notation=notation)
    d = derive(network)
    return d.to_markdown(lang) if markdown else d.to_latex(lang)


_SUMMAND_END = re.compile(r" \+ \\lambda| \\tag|\$|\\\\|\\nonumber")


def _summands(text: str) -> list[str]:
    """What follows every \\sum_{i=1}^{m} up to the end of its term (a sentence's bare
    $\\sum_{i=1}^{m}$ has none)."""
    out = []
    for m in re.finditer(r"\\sum_\{i=1\}\^\{m\}", text):
        rest = text[m.end() : m.end() + 400]
        end = _SUMMAND_END.search(rest)
        summand = rest[: end.start() if end else len(rest)].strip()
        if summand:
            out.append(summand)
    return out


@pytest.mark.parametrize("markdown", [False, True], ids=["tex", "md"])
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("name", "notation"), LAYERED, ids=[f"{n}-{o}" for n, o in LAYERED])
def test_every_summand_of_a_batch_sum_names_its_example(name, notation, lang, markdown):
    text = _document(name, notation, lang, markdown)
    summands = _summands(text)
    assert len(summands) >= 3, summands  # the loss and the parameters' gradients
    bare = [s for s in summands if "(i)" not in s]
    assert not bare, bare
    # a parameter is the same for every example: W^{(1)(i)}, b^{(1)(i)}, \lambda^{(i)} never appear
    assert not re.search(r"(W|b)\^\{\(\d\)\(i\)\}|\\lambda\^\{\(i\)\}", text)


# one line of each notation's matrix form, as printed (the tag cut off)
PRINTED = [
    (
        "ufldl-3-3-1",
        "layer",
        (
            r"\frac{\partial J}{\partial W^{(1)}} &= \frac{1}{m} \sum_{i=1}^{m} \delta^{(2)(i)} "
            r"\left(x^{(i)}\right)^{\top} + \lambda W^{(1)}"
        ),
    ),
    (
        "ufldl-3-3-1",
        "layer",
        r"L &= \frac{1}{m} \sum_{i=1}^{m} \sum_{k} \left(\frac{\left(a^{(3)(i)} - y^{(i)}\right)^{2}}{2}\right)",
    ),
    ("ufldl-3-3-1", "layer", r"\frac{\partial J}{\partial b^{(2)}} &= \frac{1}{m} \sum_{i=1}^{m} \delta^{(3)(i)} \tag"),
    (
        "ufldl-3-3-1",
        "layer",
        r"\frac{\partial J}{\partial x^{(i)}} &= \frac{1}{m} \left(W^{(1)}\right)^{\top} \delta^{(2)(i)} \tag",
    ),
    (
        "fc-3-2-2",
        "node",
        r"\frac{\partial E}{\partial W^{(2)}} &= \frac{1}{m} \sum_{i=1}^{m} \delta^{(3)(i)} \left(y^{(2)(i)}\right)^{\top}",
    ),
    (
        "fc-3-2-2",
        "node",
        r"E &= \frac{1}{m} \sum_{i=1}^{m} \sum_{k} \left(\frac{\left(y^{(3)(i)} - t^{(i)}\right)^{2}}{2}\right)",
    ),
    (
        "fc-3-2-2",
        "node",
        r"\frac{\partial E}{\partial x^{(i)}} &= \frac{1}{m} \left(W^{(1)}\right)^{\top} \delta^{(2)(i)} \tag",
    ),
    (
        "d2l-mlp",
        "d2l",
        (
            r"\frac{\partial J}{\partial W^{(1)}} &= \frac{1}{m} \sum_{i=1}^{m} \frac{\partial \ell^{(i)}}{\partial z^{(i)}} "
            r"\left(x^{(i)}\right)^{\top} + \lambda W^{(1)}"
        ),
    ),
    (
        "d2l-mlp",
        "d2l",
        (
            r"\frac{\partial J}{\partial W^{(2)}} &= \frac{1}{m} \sum_{i=1}^{m} \frac{\partial \ell^{(i)}}{\partial o^{(i)}} "
            r"\left(h^{(i)}\right)^{\top} + \lambda W^{(2)}"
        ),
    ),
    (
        "d2l-mlp",
        "d2l",
        r"L &= \frac{1}{m} \sum_{i=1}^{m} \sum_{k} \left(- y^{(i)} \odot \log{\left(\hat{y}^{(i)} \right)}\right)",
    ),
    (
        "d2l-mlp",
        "d2l",
        (
            r"\frac{\partial J}{\partial x^{(i)}} &= \frac{1}{m} \left(W^{(1)}\right)^{\top} "
            r"\frac{\partial \ell^{(i)}}{\partial z^{(i)}} \tag"
        ),
    ),
    # d2l's own backward table, beside its prod(A, B)
    (
        "d2l-mlp",
        "d2l",
        (
            r"$\displaystyle = \frac{1}{m} \sum_{i=1}^{m} \frac{\partial \ell^{(i)}}{\partial o^{(i)}} "
            r"\left(h^{(i)}\right)^{\top} + \lambda W^{(2)}$"
        ),
    ),
]


@pytest.mark.parametrize(("name", "notation", "line"), PRINTED)
def test_the_matrix_form_prints_one_example_inside_each_batch_sum(name, notation, line):
    assert line in _document(name, notation)


@pytest.mark.parametrize(("name", "notation"), LAYERED, ids=[f"{n}-{o}" for n, o in LAYERED])
def test_per_example_equations_outside_a_batch_sum_stay_those_of_one_example(name, notation):
    """The forward pass and the error terms in matrix form are one example's (no index); the
    per-node equations say they are written for m = 1; the input gradient's 1/m is explained."""
    text = _document(name, notation)
    names = Names(notation, load_spec(name).sizes)
    delta = names.latex[names.delta_vec(len(names.sizes))]
    assert re.search(re.escape(delta) + r" &= ", text), delta  # the error term's own equation: no (i)
    assert "like every per-node equation, these are written for one example ($m = 1$)" in text
    assert re.search(r"In \(\d+\), \$\\frac\{\\partial [EJ]\}\{\\partial x\^\{\(i\)\}\}\$ is the gradient", text)
    assert "which the per-node equations, written for one example ($m = 1$), do not show" in text


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ["ufldl-3-3-1", "fc-3-2-2", "d2l-mlp"])
def test_the_objective_of_one_example_stands_before_its_equation_and_the_batch_after(name, lang):
    """'The objective for one example:' introduces the per-node objective; the batch's mean and
    its 1/m sum_i come after it, before the matrix form."""
    text = _document(name, load_spec(name).notation, lang)
    section = text[text.index(r"\section{" + ("The objective" if lang == "en" else "损失函数")) :]
    one = section.index("The objective for one example:" if lang == "en" else "单个样本的损失：")
    unit = section.index(r"\label{eq:unit-loss-")
    batch = section.index("Over a batch of $m$ examples" if lang == "en" else "对 $m$ 个样本的批量")
    mean = section.index(r"\sum_{i=1}^{m} \sum_{k}")
    assert one < unit < batch < mean


def test_the_forward_matrix_form_sums_over_no_batch_and_says_less():
    text = _document("ufldl-3-3-1", "layer")
    forward = text[text.index(r"\section{Forward pass}") : text.index(r"\section{The objective}")]
    assert "In matrix form, with each layer's values as a column vector of one example:" in forward
    assert r"\sum_{i=1}^{m}" not in forward
    assert r"($x^{(i)}$, $a^{(2)(i)}$, $\delta^{(2)(i)}$)" in text  # the names, in the matrix form's words


def test_d2l_names_the_loss_of_example_i():
    text = _document("d2l-mlp", "d2l")
    assert r"$\ell^{(i)}$ is the loss of example $i$, so that $L = \frac{1}{m} \sum_{i=1}^{m} \ell^{(i)}$" in text
    assert r"the objective's own $\frac{\partial J}{\partial o^{(i)}}$ is $\frac{1}{m}$ of it" in text


@pytest.mark.parametrize(
    ("notation", "before", "after"),
    [
        ("layer", "x", "x^{(i)}"),
        ("layer", "z^{(2)}", "z^{(2)(i)}"),
        ("node", r"\mathrm{net}^{(2)}", r"\mathrm{net}^{(2)(i)}"),
        ("node", r"\delta^{(3)}", r"\delta^{(3)(i)}"),
        ("d2l", r"\hat{y}", r"\hat{y}^{(i)}"),
    ],
)
def test_with_example_adds_the_index_after_a_layer(notation, before, after):
    assert with_example(before) == after


def test_the_printer_names_examples_only_inside_a_batch_reduction():
    names = Names("layer", (3, 2, 1))
    d, x, W = names.delta_vec(2), names.out_vec(1), names.matrix(1)
    printer = NotationLatexPrinter(names.latex, frozenset(names.vectors), examples=names.examples)
    assert printer.doprint(d) == r"\delta^{(2)}"
    assert (
        printer.doprint(BatchOuter(d, x)) == r"\frac{1}{m} \sum_{i=1}^{m} \delta^{(2)(i)} \left(x^{(i)}\right)^{\top}"
    )
    assert printer.doprint(W + BatchMean(d)) == r"W^{(1)} + \frac{1}{m} \sum_{i=1}^{m} \delta^{(2)(i)}"
    assert printer.doprint(d) == r"\delta^{(2)}"  # the context ends with the sum
    with printer.one_example():
        assert printer.doprint(d * W) == r"W^{(1)} \delta^{(2)(i)}"  # a parameter carries none
    # any other printer prints the sum as before (the registry does not depend on the documents')
    assert sympy.latex(BatchMean(sympy.Symbol("d"))) == r"\frac{1}{m} \sum_{i=1}^{m} d"


# --- verify -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "layer", "example"),
    [
        (r"x^{(i)}", "example", None, "i"),
        (r"x^{(1)}", "name", 1, None),  # a number in parentheses is a layer, never an example
        (r"a^{(2)(i)}", "example", 2, "i"),
        (r"\delta^{(l+1)(j)}_k", "example", "l+1", "j"),
        (r"\delta_k^{(i)}", "example", None, "i"),
        (r"a^{(l)}", "name", "l", None),  # l is the layer, not an example
        (r"\hat{y}^{(i)}", "example", None, "i"),
        (r"\ell^{(i)}", "example", None, "i"),
    ],
)
def test_the_grammar_reads_an_example_index_after_a_layer(text, kind, layer, example):
    node = parse_line(text).parts[0][0]
    assert node.kind == kind
    name = node.parts[0] if kind == "example" else node
    assert name.parts[2] == layer
    if example:
        assert node.parts[1] == example


def test_ngs_transposed_example_and_a_parenthesised_power():
    node = parse_line(r"x^{(i)T}").parts[0][0]
    assert node == Node("transpose", (Node("example", (Node("name", ("x", None, None, 0)), "i")),))
    power = verify_answer("fc-3-2-2", r"y_4 = e^{(q)}")  # a power, as before: e to the q, and q is no quantity here
    assert power.verdict == "invalid" and "'q' is not a quantity" in power.message, power.message


UFLDL, FC, D2L = "ufldl-3-3-1", "fc-3-2-2", "d2l-mlp"
# (spec, answer, verdict, diagnosis or a fragment of the message)
VERDICTS = [
    # the documents' own forms, and other ways of writing them
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(2)(i)} (x^{(i)})^T + \lambda W^{(1)}", "correct", ""),
    (UFLDL, r"\frac{\partial J}{\partial W^{(2)}} = \frac{1}{m}\sum_{j=1}^{m} \delta^{(3)(j)} a^{(2)(j)T} + \lambda W^{(2)}", "correct", ""),
    (UFLDL, r"\frac{\partial J}{\partial W^{(l)}} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(l+1)(i)} (a^{(l)(i)})^T + \lambda W^{(l)}", "correct", ""),
    (UFLDL, r"L = \frac{1}{m} \sum_{i=1}^{m} \frac{1}{2}\left(a_1^{(3)(i)} - y_1^{(i)}\right)^2", "correct", ""),
    (UFLDL, r"\Delta W^{(1)} = \sum_{i=1}^{m} \delta^{(2)(i)} (x^{(i)})^T", "correct", ""),
    (UFLDL, r"W^{(1)} \leftarrow W^{(1)} - \alpha \left(\frac{1}{m} \sum_{i=1}^{m} \delta^{(2)(i)} (x^{(i)})^T + \lambda W^{(1)}\right)", "correct", ""),
    # one example i: free on both sides
    (UFLDL, r"\frac{\partial J}{\partial x^{(i)}} = \frac{1}{m} \left(W^{(1)}\right)^{\top} \delta^{(2)(i)}", "correct", ""),
    (UFLDL, r"\nabla_{x^{(i)}} J = \frac{(W^{(1)})^T \delta^{(2)(i)}}{m}", "correct", ""),
    (UFLDL, r"\frac{\partial J}{\partial x^{(i)}} = (W^{(1)})^T \frac{\partial J}{\partial z^{(2)(i)}}", "correct", ""),
    (UFLDL, r"\frac{\partial J}{\partial z^{(2)(i)}} = \frac{1}{m} \delta^{(2)(i)}", "correct", ""),
    (UFLDL, r"z^{(2)(i)} = W^{(1)} x^{(i)} + b^{(1)}", "correct", ""),
    (UFLDL, r"\delta^{(l)(i)} = \left(\left(W^{(l)}\right)^T \delta^{(l+1)(i)}\right) \bullet f'\left(z^{(l)(i)}\right)", "correct", ""),
    (UFLDL, r"\frac{\partial J(W,b;x^{(i)},y^{(i)})}{\partial z^{(3)(i)}} = -(y^{(i)} - a^{(3)(i)}) \odot a^{(3)(i)} \odot (1 - a^{(3)(i)})", "correct", ""),
    # wrong: a 1/m missing or doubled, the gradient of the batch objective taken for one example's
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \sum_{i=1}^{m} \delta^{(2)(i)} (x^{(i)})^T + \lambda W^{(1)}", "incorrect", "factor"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m^2}\sum_{i=1}^{m} \delta^{(2)(i)} (x^{(i)})^T + \lambda W^{(1)}", "incorrect", "factor"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m}\sum_{i=1}^{m} \frac{\partial J}{\partial z^{(2)(i)}} (x^{(i)})^T + \lambda W^{(1)}", "incorrect", "factor"),
    (UFLDL, r"\frac{\partial J}{\partial b^{(1)}} = \sum_{i=1}^{m} \delta^{(2)(i)}", "incorrect", "factor"),
    (UFLDL, r"\frac{\partial J}{\partial x^{(i)}} = (W^{(1)})^T \delta^{(2)(i)}", "incorrect", "factor"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m}\sum_{i=1}^{m} x^{(i)} (\delta^{(2)(i)})^T + \lambda W^{(1)}", "incorrect", "transposed_index"),
    # refused: what cannot be told apart from a guess
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(2)(i)} (x^{(1)})^T + \lambda W^{(1)}", "invalid", "a number in parentheses is a layer"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \delta^{(2)(i)} (x^{(i)})^T + \lambda W^{(1)}", "invalid", "is not bound"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m}\sum_{j=1}^{m} \delta^{(2)(j)} (x^{(i)})^T + \lambda W^{(1)}", "invalid", "stands in the sum over the examples j"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(2)} (x^{(i)})^T + \lambda W^{(1)}", "invalid", "without their index"),
    (UFLDL, r"\frac{\partial J}{\partial x^{(i)}} = \frac{1}{m} (W^{(1)})^T \delta^{(2)}", "invalid", "about example i"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(2)(i)} (x^{(i)})^T + \lambda W^{(1)(i)}", "invalid", "same for every example"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \delta^{(2)} \frac{1}{m} \sum_{i=1}^{m} (x^{(i)})^T + \lambda W^{(1)}", "invalid", "outside the sum over the batch"),
    (UFLDL, r"\frac{\partial J}{\partial x^{(i)}} = \frac{1}{m^2} (W^{(1)})^T \sum_{j=1}^{m} \delta^{(2)(j)}", "invalid", "cannot sum over the batch"),
    (UFLDL, r"\frac{\partial J}{\partial b^{(1)}} = \frac{1}{m^2}\sum_{i=1}^{m}\sum_{j=1}^{m} \delta^{(2)(i)}", "invalid", "inside another"),
    (UFLDL, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m^2}\left(\sum_{i=1}^{m} \delta^{(2)(i)}\right)\left(\sum_{i=1}^{m} x^{(i)}\right)^T + \lambda W^{(1)}", "invalid", "how the examples differ"),
    (UFLDL, r"\frac{\partial J}{\partial b^{(1)}} = \sigma\left(\frac{1}{m}\sum_{i=1}^{m} \delta^{(2)(i)}\right)", "invalid", "how the examples differ"),
    (UFLDL, r"\frac{\partial J}{\partial b^{(1)}} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(2)}_i", "invalid", "runs over the examples of the batch"),
    # node notation, per unit and in matrix form
    (FC, r"\frac{\partial E}{\partial W^{(1)}} = \frac{1}{m} \sum_{i=1}^{m} \delta^{(2)(i)} \left(x^{(i)}\right)^{\top}", "correct", ""),
    (FC, r"\frac{\partial E}{\partial w_{41}} = \frac{1}{m}\sum_{i=1}^{m} \delta_4^{(i)} x_1^{(i)}", "correct", ""),
    (FC, r"\frac{\partial E}{\partial w_{kj}} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(i)}_k y_j^{(i)}", "correct", ""),
    (FC, r"\delta_k^{(i)} = (y_k^{(i)} - t_k^{(i)}) y_k^{(i)} (1 - y_k^{(i)})", "correct", ""),
    (FC, r"\frac{\partial E}{\partial x_1^{(i)}} = \frac{1}{m}(\delta_4^{(i)} w_{41} + \delta_5^{(i)} w_{51})", "correct", ""),
    (FC, r"\frac{\partial E}{\partial b_4} = \sum_{i=1}^{m} \frac{\partial E}{\partial \mathrm{net}_4^{(i)}}", "correct", ""),
    (FC, r"\frac{\partial E}{\partial w_{41}} = \sum_{i=1}^{m} \delta_4^{(i)} x_1^{(i)}", "incorrect", "factor"),
    (FC, r"\frac{\partial E}{\partial w_{41}} = \frac{1}{m}\sum_{i=1}^{m} \delta_4^{(i)} x_1^{(1)}", "invalid", "a number in parentheses is a layer"),
    (FC, r"\frac{\partial E}{\partial w_{41}} = \frac{1}{m}\sum_{i=1}^{m} \delta_4^{(i)} x_i", "invalid", "runs over the examples of the batch"),
    # d2l notation: the loss of example i (l^{(i)} or \ell^{(i)}); J's own gradient is 1/m of it
    (D2L, r"\frac{\partial J}{\partial W^{(1)}} = \frac{1}{m} \sum_{i=1}^{m} \frac{\partial \ell^{(i)}}{\partial z^{(i)}} \left(x^{(i)}\right)^{\top} + \lambda W^{(1)}", "correct", ""),
    (D2L, r"\frac{\partial J}{\partial W^{(2)}} = \frac{1}{m} \sum_{i=1}^{m} \frac{\partial l^{(i)}}{\partial o^{(i)}} (h^{(i)})^T + \lambda W^{(2)}", "correct", ""),
    (D2L, r"\frac{\partial J}{\partial W^{(2)}} = \sum_{i=1}^{m} \frac{\partial J}{\partial o^{(i)}} (h^{(i)})^T + \lambda W^{(2)}", "correct", ""),
    (D2L, r"\frac{\partial \ell^{(i)}}{\partial o^{(i)}} = \hat{y}^{(i)} - y^{(i)}", "correct", ""),
    (D2L, r"\frac{\partial J}{\partial x^{(i)}} = \frac{1}{m} \left(W^{(1)}\right)^{\top} \frac{\partial \ell^{(i)}}{\partial z^{(i)}}", "correct", ""),
    (D2L, r"\frac{\partial J}{\partial W^{(2)}} = \frac{1}{m} \sum_{i=1}^{m} \frac{\partial J}{\partial o^{(i)}} (h^{(i)})^T + \lambda W^{(2)}", "incorrect", "factor"),
    (D2L, r"\frac{\partial J}{\partial o^{(i)}} = \hat{y}^{(i)} - y^{(i)}", "incorrect", "factor"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "answer", "verdict", "expected"), VERDICTS, ids=range(len(VERDICTS)))
def test_verify_reads_the_example_index(spec, answer, verdict, expected):
    v = verify_answer(spec, answer)
    assert v.verdict == verdict, (v.verdict, v.diagnosis, v.message)
    if verdict == "incorrect":
        assert expected in v.diagnosis, (v.diagnosis, v.message)
    elif verdict == "invalid":
        assert expected in v.message, v.message
    else:
        assert v.diagnosis == []
