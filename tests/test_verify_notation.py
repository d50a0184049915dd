"""The notations students write, TeX's reading of them, and the inputs that used to end in
"cannot judge: internal error": each gets a judged verdict or a clear `invalid`."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbackprop.verify.check import verify_answer

DELTA_6 = r"(y_6 - t_6) y_6 (1 - y_6)"

RIGHT = [
    # TeX reads one token per argument
    ("fc-3-2-2", r"\delta_6 = \frac12 \cdot 2 " + DELTA_6, None),
    ("fc-3-2-2", r"\delta_6 = \frac{1}2 2 " + DELTA_6, None),
    # a full stop or comma ends a displayed equation
    ("fc-3-2-2", r"\delta_6 = " + DELTA_6 + ".", None),
    ("fc-3-2-2", r"\delta_6 = " + DELTA_6 + " ,", None),
    # a condition after the equation
    ("fc-3-2-2", r"\delta_k = (y_k - t_k) y_k (1 - y_k) \quad \text{for } k \in outputs", None),
    # derivatives: d as well as partial, inline, plain text, operator form, nabla
    ("fc-3-2-2", r"\frac{dE}{dnet_6} = " + DELTA_6, None),
    ("fc-3-2-2", r"\partial E/\partial net_6 = " + DELTA_6, None),
    ("fc-3-2-2", r"dE/dw_75 = \delta_7 y_5", None),
    ("fc-3-2-2", r"\frac{\partial}{\partial w_{64}} E = \delta_6 y_4", None),
    ("fc-3-2-2", r"\frac{df(net_4)}{dnet_4} = y_4 (1 - y_4)", None),
    ("ufldl-3-3-1", r"\nabla_{W^{(2)}} J(W,b;x,y) = \delta^{(3)} (a^{(2)})^T", None),
    (
        "ufldl-3-3-1",
        r"\nabla_{W^{(2)}} J(W,b) = \frac{1}{m} \sum_{i=1}^{m} \delta^{(3)} (a^{(2)})^T + \lambda W^{(2)}",
        None,
    ),
    # powers of a function's value, the step with any comparison
    ("fc-3-2-2", r"\delta_6 = (y_6 - t_6)(\sigma(net_6) - \sigma^2(net_6))", None),
    ("fc-3-2-2-softmax", r"\delta_4 = [net_4 > 0] (w_{64} \delta_6 + w_{74} \delta_7)", None),
    ("fc-3-2-2-softmax", r"\delta_4 = [0 < net_4] (w_{64} \delta_6 + w_{74} \delta_7)", None),
    # a graph's node names, multi-letter and with digits
    ("cs231n-neuron", r"dot = w0 x0 + w1 x1 + w2", None),
    # updates: arrows, :=, = with the parameter on both sides, w^{new}, w^{+}, w^{(t+1)}
    ("fc-3-2-2", r"w_{64} = w_{64} - \eta\frac{dE}{dw_{64}}", None),
    ("fc-3-2-2", r"w_{64} := w_{64} - \eta \delta_6 y_4", None),
    ("fc-3-2-2", r"w_{64}^{new} = w_{64} - \eta \delta_6 y_4", None),
    ("fc-3-2-2", r"w_{64}^{+} = w_{64} - \eta \delta_6 y_4", None),
    ("fc-3-2-2", r"w_{64}^{(t+1)} = w_{64} - \eta \delta_6 y_4", None),
    ("fc-3-2-2", r"\Delta w_{64} = -\eta \delta_6 y_4", None),
    ("ufldl-3-3-1", r"W^{(2)} = W^{(2)} - \alpha (\delta^{(3)} (a^{(2)})^T + \lambda W^{(2)})", None),
    ("ufldl-3-3-1", r"W^{(1)} := W^{(1)} - \alpha [(\frac{1}{m}\Delta W^{(1)}) + \lambda W^{(1)}]", None),
    ("ufldl-3-3-1", r"b^{(1)} := b^{(1)} - \alpha \frac{1}{m}\Delta b^{(1)}", None),
    # elementwise products, wrappers, vectors written out
    ("ufldl-3-3-1", r"\delta^{(2)} = ((W^{(2)})^T \delta^{(3)}) \bullet f'(z^{(2)})", None),
    ("ufldl-3-3-1", r"\delta^{(2)} = ((W^{(2)})^T \delta^{(3)}) \circ a^{(2)} \odot (1 - a^{(2)})", None),
    (
        "ufldl-3-3-1",
        r"\vec{\delta}^{(2)} = (\mathbf{W}^{(2)})^T \boldsymbol{\delta}^{(3)} \odot f'(\vec{z}^{(2)})",
        None,
    ),
    ("ufldl-3-3-1", r"\delta^{(3)} = \begin{bmatrix} (a^{(3)}_1 - y_1) a^{(3)}_1 (1 - a^{(3)}_1) \end{bmatrix}", None),
    ("ufldl-3-3-1", r"s = \frac{\lambda}{2} (\|W^{(1)}\|_F^2 + \lVert W^{(2)} \rVert_F^2)", None),
    # layers named in the sum's set, in English and Chinese
    ("fc-3-2-2", r"\delta_4 = y_4 (1 - y_4) \sum_{k \in outputs} w_{k4} \delta_k", None),
    ("fc-3-2-2", r"\delta_4 = y_4 (1 - y_4) \sum_{k \in 输出层} w_{k4} \delta_k", None),
    ("fc-3-2-2", r"\delta_4 = y_4 (1 - y_4) \sum_{k\in{輸出層}} w_{k4} \delta_k", None),
    ("fc-3-2-2", r"\delta_4 = y_4 (1 - y_4) \sum_{k \in \text{输出层}} w_{k4} \delta_k", None),
    ("fc-3-2-2", r"\frac{\partial E}{\partial b_j} = \delta_j \quad \text{for } j \in 隐藏层", None),
    # right for the outputs only, and claimed only for them
    ("fc-3-2-2", r"\delta_j = (y_j - t_j) y_j (1 - y_j), \quad \text{for } j \in outputs", None),
    ("fc-3-2-2", r"\delta_j = (y_j - t_j) y_j (1 - y_j) \quad \forall j \in 輸出層", None),
    # several lines in one answer
    (
        "fc-3-2-2",
        r"\begin{aligned} \delta_6 &= \frac{\partial E}{\partial net_6} \\ &= " + DELTA_6 + r"\end{aligned}",
        None,
    ),
    # a right-hand side with a target
    ("fc-3-2-2", DELTA_6, "delta_6"),
    ("fc-3-2-2", r"\delta_6 y_4", "w_64"),
]


@pytest.mark.parametrize(("spec", "answer", "target"), RIGHT)
def test_the_notations_students_write_are_read(spec, answer, target):
    verdict = verify_answer(spec, answer, target=target)
    assert verdict.verdict == "correct", verdict.message


WRONG = [
    ("fc-3-2-2", r"\delta_6 = \frac05 " + DELTA_6, "other"),  # \frac05 is 0/5, as TeX reads it: zero
    ("fc-3-2-2", r"\delta_6 = (y_6 - t_6) y_6^2 3", "other"),  # y_6^23 would be y_6^2 3
    # the accumulator without its 1/m: the batch mean's 1/m is missing beside the weight decay
    ("ufldl-3-3-1", r"W^{(1)} := W^{(1)} - \alpha [\Delta W^{(1)} + \lambda W^{(1)}]", "factor"),
    ("ufldl-3-3-1", r"\frac{\partial J}{\partial b^{(1)}} = \sum_{i=1}^{m} \delta^{(2)}", "factor"),
    ("ufldl-3-3-1", r"\nabla_{W^{(2)}} J(W,b;x,y) = a^{(2)} (\delta^{(3)})^T", "transposed_index"),
    # in a relu network the step is the activation's derivative: a dropped term is a missing term
    ("fc-3-2-2-softmax", r"\delta_4 = [net_4 > 0] w_{64} \delta_6", "missing_term"),
]


@pytest.mark.parametrize(("spec", "answer", "code"), WRONG)
def test_wrong_answers_in_those_notations_are_diagnosed(spec, answer, code):
    verdict = verify_answer(spec, answer)
    assert verdict.verdict == "incorrect", verdict.message
    assert code in verdict.diagnosis, (verdict.diagnosis, verdict.message)


def test_a_right_equation_for_another_quantity_is_the_wrong_target():
    verdict = verify_answer("fc-3-2-2", r"\delta_7 = (y_7 - t_7) y_7 (1 - y_7)", target="delta_6")
    assert verdict.verdict == "incorrect" and verdict.diagnosis == ["wrong_target"]
    assert "for delta_7" in verdict.message and "right for that quantity" in verdict.message
    same = verify_answer("fc-3-2-2", r"\frac{\partial E}{\partial net_6} = " + DELTA_6, target="delta_6")
    assert same.verdict == "correct"


REFUSED = [
    # each of these once ended in "cannot judge: internal error"
    ("fc-3-2-2", r"\delta_6 = t^T", "transpose"),
    ("fc-3-2-2", r"\delta_6 = y_{}", "empty subscript"),
    ("fc-3-2-2", r"\delta_6 = \frac{d}{dy_6}[y_6 > 0]", "no derivative"),
    ("fc-3-2-2", r"\frac{\partial^2 E}{\partial net_6^2} = 1", "second derivative"),
    ("fc-3-2-2", r"\frac{\partial^2 E}{\partial w_{64}^2} = y_4^2", "second derivative"),
    ("fc-3-2-2-softmax", r"\delta_6 = softmax_1'(m)", "derivative of softmax"),
    ("fc-3-2-2", r"\delta_6 = \sum_{k=7}^{6} y_k", "runs from 7 down to 6"),
    ("fc-3-2-2", r"\delta_6 = (y_k - t_k) y_k", "free on the right-hand side but not on the left"),
    ("fc-3-2-2", r"\delta_6 = (0." + "0" * 28 + "1)^{-100}", "too large"),
]


@pytest.mark.parametrize(("spec", "answer", "words"), REFUSED)
def test_unreadable_answers_get_their_own_message(spec, answer, words):
    verdict = verify_answer(spec, answer)
    assert verdict.verdict == "invalid" and words in verdict.message, verdict.message
    assert "internal error" not in verdict.message


@pytest.mark.parametrize(
    "answer",
    [r"\delta_6 = e^{(0.5)}", r"\delta_6 = \max(2^T, 1)", r"\delta_6 = \tanh(99999999999999999999)"],
)
def test_odd_but_legal_answers_are_judged(answer):
    verdict = verify_answer("fc-3-2-2", answer)
    assert verdict.verdict == "incorrect" and verdict.counterexample is not None, verdict.message


def test_a_target_that_cannot_be_read_says_so():
    verdict = verify_answer("fc-3-2-2", DELTA_6, target=r"\frac{")
    assert verdict.verdict == "invalid" and verdict.message.startswith("cannot read the target")
    verdict = verify_answer("fc-3-2-2", DELTA_6, target="delta_99")
    assert verdict.verdict == "invalid" and "target" in verdict.message


def test_an_update_of_a_frozen_parameter_says_it_is_frozen(tmp_path: Path):
    spec = tmp_path / "frozen.toml"
    spec.write_text(
        'inputs = ["x"]\ntargets = ["t"]\nfrozen = ["b"]\nloss = "(y - t)**2 / 2"\n'
        '[parameters]\nw = 0.5\nb = 0.1\n[nodes]\ny = "w*x + b"\n'
    )
    verdict = verify_answer(str(spec), r"b \leftarrow b - \eta (y - t)")
    assert verdict.verdict == "invalid" and "b is frozen" in verdict.message, verdict.message
    assert verify_answer(str(spec), r"w \leftarrow w - \eta (y - t) x").verdict == "correct"


def test_iverson_bracket_of_two_indices_in_a_lemma():
    from symbackprop.verify.check import verify_document

    lemma = (
        "% verify: lemma\n\\begin{align*}\ny_i &= \\frac{e^{z_i}}{\\sum_{k=1}^{n} e^{z_k}} \\\\\n"
        "\\frac{\\partial}{\\partial z_j} y_i &= y_i \\left([i = j] - y_j\\right)\n\\end{align*}\n"
    )
    assert [v.verdict for v in verify_document("fc-3-2-2-softmax", lemma)] == ["correct", "correct"]
    wrong = lemma.replace("[i = j] - y_j", "[i = j] + y_j")
    assert [v.verdict for v in verify_document("fc-3-2-2-softmax", wrong)] == ["correct", "incorrect"]
