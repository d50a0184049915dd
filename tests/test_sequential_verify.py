"""verify on networks of layers: the documents' equations entry by entry, and students' answers.

* every line of a built-in network of layers' "entry by entry" section (English and Chinese) is
  judged correct: the engine's index forms read back by the checker, instance by instance;
* the answers a course asks for: the kernel's gradient as the issue writes it (no layer index
  where one layer has kernels), the input's error term as the full convolution with the rotated
  kernel, with sums over several indices and entries outside the map zero;
* the mistakes, each named: the kernel not rotated, the dropout mask left out (with or without
  its scaling), a sum over the positions missing;
* max pooling's routing, [a^{(1)}_{c,i,j} = a^{(2)}_{c,\\lfloor i/2 \\rfloor,\\lfloor j/2 \\rfloor}] times the
  window's error term, judged where the window has one maximum (at a tie the derivative with
  respect to its entries does not exist);
* batch norm over a batch of three examples that differ (with two, each normalised entry is
  +-1): the compact input error term and the three paths through the mean and the variance,
  with the variance path or the mean path dropped named as such.

* tensor forms (conv, conv_full with rot180, W a, (W)^T delta, elementwise steps), written entry by
  entry before they are judged; the full convolution without rot180 named kernel_not_rotated.
  route_max, vec^{-1} and batch norm's means are not read in tensor form.
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
        (  # the kernel rotated by 180 degrees, written out: W_{f,c,2-u,2-v} against delta shifted
            "lenet-tiny",
            r"\frac{\partial J}{\partial x_{c,r,q}} = \sum_{f=0}^{1}\sum_{u=0}^{2}\sum_{v=0}^{2}"
            r" \delta^{(1)}_{f,r+u-2,q+v-2} W^{(1)}_{f,c,2-u,2-v}",
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
    # 36 instances of the input's error term, each decided by walking the network (3.5 s of CPU
    # alone): the limit is the diagnosis's, not the default 5 s a busy machine may overrun
    v = verify_answer(spec, answer, seconds=30)
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


# --- batch norm: a batch of examples that differ -------------------------------------------------

BN_DELTA = (
    r"\delta^{(1)(i)}_{k} = \frac{\gamma^{(2)}_k}{m\sqrt{(\sigma^{(2)}_k)^2+\epsilon}} \left( m \delta^{(2)(i)}_k"
    r" - \sum_{j=1}^{m} \delta^{(2)(j)}_k {VARIANCE}\right)"
)
VARIANCE = r" - \hat{x}^{(2)(i)}_k \sum_{j=1}^{m} \delta^{(2)(j)}_k \hat{x}^{(2)(j)}_k"


@pytest.mark.parametrize(
    "answer",
    [
        BN_DELTA.replace("{VARIANCE}", VARIANCE),
        # the three paths as Ioffe and Szegedy write them, through dJ/dx-hat of each example
        r"\delta^{(1)(i)}_k = \frac{1}{\sqrt{\sigma_k^2+\epsilon}} \left(\frac{\partial J}{\partial \hat{x}^{(2)}_k}"
        r" - \sum_{j=1}^{m} \frac{\partial J}{\partial \hat{x}^{(2)(j)}_k} - \hat{x}^{(2)(i)}_k \sum_{j=1}^{m}"
        r" \frac{\partial J}{\partial \hat{x}^{(2)(j)}_k} \hat{x}^{(2)(j)}_k\right)".replace(
            r"\frac{\partial J}{\partial \hat{x}^{(2)}_k}", r"m \frac{\partial J}{\partial \hat{x}^{(2)(i)}_k}"
        ),
        r"\frac{\partial J}{\partial \gamma^{(2)}_k} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(2)(i)}_k \hat{x}^{(2)(i)}_k",
        r"\frac{\partial J}{\partial \beta_k} = \frac{1}{m}\sum_{i=1}^{m} \delta^{(2)(i)}_k",
        r"\mu_k = \frac{1}{m}\sum_{i=1}^{m} a^{(1)(i)}_k",
        r"\sigma_k^2 = \frac{1}{m}\sum_{i=1}^{m} (a^{(1)(i)}_k - \mu_k)^2",
        r"\hat{x}^{(2)}_k = \frac{a^{(1)}_k - \mu_k}{\sqrt{\sigma_k^2 + \epsilon}}",
    ],
)
def test_batch_norm_answers_are_judged_over_a_batch_that_differs(answer):
    v = verify_answer("bn-mlp", answer)
    assert v.verdict == "correct", v.message


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (BN_DELTA.replace("{VARIANCE}", ""), "dropped_variance_path"),
        (BN_DELTA.replace(r" - \sum_{j=1}^{m} \delta^{(2)(j)}_k {VARIANCE}", VARIANCE), "dropped_mean_path"),
        (r"\frac{\partial J}{\partial \gamma^{(2)}_k} = \sum_{i=1}^{m} \delta^{(2)(i)}_k \hat{x}^{(2)(i)}_k", "factor"),
        # the mean taken, but the normalised input left out: not a named mistake, and not correct
        (BN_DELTA.replace("{VARIANCE}", VARIANCE.replace(r"\hat{x}^{(2)(i)}_k", "")), "other"),
    ],
)
def test_batch_norm_mistakes_are_named(answer, code):
    v = verify_answer("bn-mlp", answer)
    assert (v.verdict, v.diagnosis) == ("incorrect", [code]), v.message


def test_the_checkers_batch_of_examples_that_differ_has_no_degenerate_normalisation():
    """With two examples each normalised entry is +-1 and the input's error term nearly zero,
    which would let a wrong answer through; the checker's batch norm batch has three."""
    from symbackprop.verify.context import DIFFERING_BATCH, context

    table = context("bn-mlp").table
    assert table.batch == DIFFERING_BATCH >= 3
    assert context("lenet-tiny").table.batch == 1  # no statistics over the batch: alike examples


# --- max pooling's routing, entry by entry ---------------------------------------------------------

ROUTE = r"[a^{(1)}_{c,i,j} = a^{(2)}_{c,\lfloor i/2 \rfloor,\lfloor j/2 \rfloor}]"
UPSTREAM = r"\frac{\partial J}{\partial a^{(2)}_{c,\lfloor i/2\rfloor,\lfloor j/2\rfloor}}"


@pytest.mark.parametrize(
    "answer",
    [
        rf"\frac{{\partial J}}{{\partial a^{{(1)}}_{{c,i,j}}}} = {ROUTE} {UPSTREAM}",
        r"\frac{\partial J}{\partial a^{(1)}_{c,i,j}} = [a^{(1)}_{c,i,j} = a^{(2)}_{c,\lfloor \frac{i}{2} \rfloor,"
        r"\lfloor \frac{j}{2} \rfloor}] \frac{\partial J}{\partial a^{(2)}_{c,\lfloor \frac{i}{2}\rfloor,\lfloor \frac{j}{2}\rfloor}}",
        r"\frac{\partial J}{\partial a^{(1)}_{1,3,2}} = [a^{(1)}_{1,3,2} = a^{(2)}_{1,1,1}] \frac{\partial J}{\partial a^{(2)}_{1,1,1}}",
    ],
)
def test_max_pooling_routes_delta_to_the_maximum_of_its_window(answer):
    """Where a window ties (ReLU zeros), the derivative with respect to its entries does not
    exist, so those probes do not count: [a = max] sends delta to every tied entry, the tensor
    form to the first, and neither is wrong there."""
    v = verify_answer("lenet-tiny", answer, seconds=30)
    assert v.verdict == "correct", v.message


@pytest.mark.parametrize(
    "answer",
    [
        rf"\frac{{\partial J}}{{\partial a^{{(1)}}_{{c,i,j}}}} = {UPSTREAM}",  # every entry, not the maximum
        rf"\frac{{\partial J}}{{\partial a^{{(1)}}_{{c,i,j}}}} = \frac{{1}}{{4}} {UPSTREAM}",  # average pooling's rule
        # the window of another entry
        rf"\frac{{\partial J}}{{\partial a^{{(1)}}_{{c,i,j}}}} = [a^{{(1)}}_{{c,i,j}} = a^{{(2)}}_{{c,0,0}}] "
        r"\frac{\partial J}{\partial a^{(2)}_{c,0,0}}",
    ],
)
def test_wrong_routings_are_refuted(answer):
    v = verify_answer("lenet-tiny", answer, seconds=30)
    assert v.verdict == "incorrect", v.message


def test_a_floored_index_needs_its_letter_bound():
    v = verify_answer(
        "lenet-tiny",
        r"\frac{\partial J}{\partial a^{(1)}_{0,0,0}} = \frac{\partial J}{\partial a^{(2)}_{0,\lfloor i/2 \rfloor,0}}",
    )
    assert v.verdict == "invalid" and "index i is free on the right-hand side" in v.message, v.message


def test_the_document_writes_max_poolings_routing_entry_by_entry():
    """Non-overlapping windows: one window per entry, \\lfloor i/2 \\rfloor, and the line verifies
    (test_every_line_written_entry_by_entry_verifies); no "tensor form only" for max pooling."""
    text = derive(load_spec("lenet-tiny")).to_latex("en")
    section = _entry_section(text, "en")
    assert r"= {a^{(2)}_{f,\lfloor i/2 \rfloor,\lfloor j/2 \rfloor}}\right]" in section
    assert "max pooling's error term" not in section


# --- tensor forms, written entry by entry before they are judged (verify/tensor_form.py) ------------

FULL = r"\operatorname{conv}_{\mathrm{full}}\left(\delta^{(1)}, {KERNEL}\right)"


@pytest.mark.parametrize(
    ("spec", "answer"),
    [
        (
            "lenet-tiny",
            r"\frac{\partial J}{\partial x} = "
            + FULL.replace("{KERNEL}", r"\operatorname{rot180}\left(W^{(1)}\right)"),
        ),
        ("lenet-tiny", r"z^{(1)} = \operatorname{conv}(x, W^{(1)}) + b^{(1)}"),
        ("lenet-tiny", r"\frac{\partial J}{\partial a^{(3)}} = (W^{(4)})^{\top} \delta^{(4)}"),
        ("lenet-tiny", r"\delta^{(4)} = a^{(4)} - y"),
        ("bn-mlp", r"\delta^{(2)} = [z^{(2)} > 0] \odot (W^{(3)})^{\top} \delta^{(3)}"),
        ("dropout-mlp", r"z^{(3)} = W^{(3)} a^{(2)} + b^{(3)}"),
    ],
)
def test_tensor_forms_are_judged_entry_by_entry(spec, answer):
    v = verify_answer(spec, answer, seconds=30)
    assert v.verdict == "correct", v.message


def test_the_full_convolution_with_the_kernel_not_rotated_is_named():
    v = verify_answer(
        "lenet-tiny", r"\frac{\partial J}{\partial x} = " + FULL.replace("{KERNEL}", "W^{(1)}"), seconds=30
    )
    assert (v.verdict, v.diagnosis) == ("incorrect", ["kernel_not_rotated"]), v.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (r"z^{(1)} = \operatorname{conv}(x, W^{(4)})", "a convolution takes a layer's kernels"),
        (r"\frac{\partial J}{\partial x} = \operatorname{conv}_{\mathrm{full}}(\delta^{(1)})", "entry by entry"),
    ],
)
def test_tensor_forms_that_do_not_fit_are_one_clear_line(answer, words):
    v = verify_answer("lenet-tiny", answer)
    assert v.verdict == "invalid" and words in v.message, v.message
