"""verify on networks of layers: the documents' equations entry by entry, and students' answers.

* every line of a built-in network of layers' "entry by entry" section (English and Chinese) is
  judged correct: the engine's index forms read back by the checker, instance by instance;
* the answers a course asks for: the kernel's gradient as the issue writes it (no layer index
  where one layer has kernels), the input's error term as the full convolution with the rotated
  kernel, with sums over several indices and entries outside the map zero;
* the mistakes, each named: the kernel not rotated, the dropout mask left out (with or without
  its scaling), a sum over the positions missing.

The tensor-form lines (conv, rot180, route_max, vec^{-1}) are not read by the checker yet.
"""

from __future__ import annotations

import re

import pytest

from symbackprop import derive, load_spec
from symbackprop.verify.check import verify_answer, verify_document

EXAMPLES = ["bn-mlp", "dropout-mlp", "lenet-tiny", "resnet-block"]
HEADINGS = {"en": "Entry by entry", "zh": "逐个分量"}


def _entry_section(text: str, lang: str) -> str:
    start = text.index(r"\section{" + HEADINGS[lang] + "}")
    end = text.index(r"\section{", start + 1)
    return text[start:end]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_line_written_entry_by_entry_verifies(name, lang):
    text = derive(load_spec(name)).to_latex(lang)
    section = _entry_section(text, lang)
    verdicts = verify_document(name, section)
    bad = [f"line {v.line}: {v.verdict}: {v.message}" for v in verdicts if v.verdict != "correct"]
    assert not bad, "\n".join(bad[:5])
    assert len(verdicts) == len(re.findall(r"\\tag\*\{\\eqref", section)) >= 6


@pytest.mark.parametrize(
    ("spec", "answer"),
    [
        ("lenet-tiny", r"\frac{\partial L}{\partial W_{f,c,u,v}} = \sum_{i,j} \delta_{f,i,j} x_{c,i+u,j+v}"),
        (
            "lenet-tiny",
            r"\frac{\partial J}{\partial x_{c,r,q}} = \sum_{f,u,v} \delta^{(1)}_{f,r-u,q-v} W^{(1)}_{f,c,u,v}",
        ),
        ("lenet-tiny", r"\frac{\partial J}{\partial b^{(1)}_{f}} = \sum_{i=0}^{3} \sum_{j=0}^{3} \delta^{(1)}_{f,i,j}"),
        ("lenet-tiny", r"z^{(1)}_{f,i,j} = \sum_{c,u,v} W^{(1)}_{f,c,u,v} x_{c,i+u,j+v} + b^{(1)}_f"),
        ("dropout-mlp", r"\delta^{(1)}_{k} = 2 r^{(2)}_k \frac{\partial J}{\partial a^{(2)}_{k}} [z^{(1)}_k > 0]"),
        ("resnet-block", r"\frac{\partial J}{\partial x_j} = \delta^{(1)}_j + \sum_k W^{(1,1)}_{k,j} \delta^{(1,1)}_k"),
    ],
)
def test_a_courses_answers_are_correct(spec, answer):
    v = verify_answer(spec, answer)
    assert v.verdict == "correct", v.message


@pytest.mark.parametrize(
    ("spec", "answer", "code"),
    [
        (  # the full convolution with W where rot180(W) belongs
            "lenet-tiny",
            r"\frac{\partial J}{\partial x_{c,r,q}} = \sum_{f,u,v} \delta^{(1)}_{f,r+u-2,q+v-2} W^{(1)}_{f,c,u,v}",
            "kernel_not_rotated",
        ),
        (
            "dropout-mlp",
            r"\delta^{(1)}_{k} = 2 \frac{\partial J}{\partial a^{(2)}_{k}} [z^{(1)}_k > 0]",
            "missing_mask",
        ),
        ("dropout-mlp", r"\delta^{(1)}_{k} = \frac{\partial J}{\partial a^{(2)}_{k}} [z^{(1)}_k > 0]", "missing_mask"),
    ],
)
def test_the_mistakes_are_named(spec, answer, code):
    v = verify_answer(spec, answer)
    assert v.verdict == "incorrect" and code in v.diagnosis, (v.verdict, v.diagnosis, v.message)


def test_a_missing_sum_over_the_positions_is_said():
    v = verify_answer(
        "lenet-tiny", r"\frac{\partial J}{\partial W^{(1)}_{f,c,u,v}} = \delta^{(1)}_{f,i,j} x_{c,i+u,j+v}"
    )
    assert v.verdict == "invalid" and "free on the right-hand side" in v.message and "sum over it" in v.message


def test_a_wrong_index_is_wrong():
    v = verify_answer(
        "lenet-tiny", r"\frac{\partial J}{\partial W^{(1)}_{f,c,u,v}} = \sum_{i,j} \delta^{(1)}_{f,i,j} x_{c,i+v,j+u}"
    )
    assert v.verdict == "incorrect"
