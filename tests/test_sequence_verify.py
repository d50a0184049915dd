"""verify on sequence models (issue 11): backpropagation through time, LSTM, GRU and attention.

* every line of the "entry by entry" section of rnn-tiny, lstm-tiny, gru-tiny and attention-tiny
  (English and Chinese) is judged correct: the checker reads the documents' names, time steps
  numbered 1 .. T as they write them, {W_{hh}^{(1)}}_{k,j} and the gates' labels;
* the answers a course asks for, correct: the BPTT recurrence (the direct path plus the path
  through h_{t+1}, with delta_{T+1} = 0 and h_0 = 0), dJ/dW_hh = sum_t delta_t h_{t-1}^T entry by
  entry, the LSTM's cell-state gradient, attention's dJ/dS with the softmax Jacobian, dJ/dV,
  dJ/dQ with 1/sqrt(d_k), dJ/dW_q; in the common spellings (no layer where one layer has the
  name, W_{hh}, \\sum_t and \\sum_{t=1}^{T});
* each mistake named by the wrong answer it describes: the path through h_{t+1} (or c_{t+1})
  dropped, the direct path dropped, the sum over time missing from a shared weight's gradient,
  softmax treated as elementwise, 1/sqrt(d_k) forgotten;
* a wrong coefficient on any one term is never called correct (hypothesis);
* the CLI's exit statuses: 0 correct, 1 incorrect, 2 invalid.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbackprop import derive, load_spec
from symbackprop.cli import main
from symbackprop.core.examples import example_text
from symbackprop.verify.check import verify_answer, verify_document

HEADINGS = {"en": "Entry by entry", "zh": "逐个分量"}


def spec(name: str) -> str:
    """A built-in sequence model, by name (as ``derive rnn-tiny`` loads it)."""
    return name


@pytest.fixture(scope="module")
def rnn_sequence(tmp_path_factory) -> str:
    """rnn-tiny returning its whole sequence, then its mean over time: every h_t has a direct path."""
    text = example_text("rnn-tiny")
    text = text.replace('return = "last"', 'return = "sequence"')
    text = text.replace(
        '[[layers]]\ntype = "dense"', '[[layers]]\ntype = "mean_over_time"\n\n[[layers]]\ntype = "dense"'
    )
    path = tmp_path_factory.mktemp("specs") / "rnn-sequence.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _entry_section(text: str, lang: str) -> str:
    start = text.index(r"\section{" + HEADINGS[lang] + "}")
    end = text.index(r"\section{", start + 1)
    return text[start:end]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ["rnn-tiny", "lstm-tiny", "gru-tiny", "attention-tiny"])
def test_every_line_written_entry_by_entry_verifies(name, lang):
    section = _entry_section(derive(load_spec(spec(name))).to_latex(lang), lang)
    verdicts = verify_document(spec(name), section, seconds=30)  # the forward lines in the leaves are large
    bad = [f"line {v.line}: {v.verdict}: {v.message}" for v in verdicts if v.verdict != "correct"]
    assert not bad, "\n".join(bad[:5])
    assert len(verdicts) == len(re.findall(r"\\tag\*\{\\eqref", section)) >= 10


CORRECT = [
    # BPTT: delta_t through h_{t+1} (rnn-tiny returns h_T: h_2 feeds z_3 only)
    ("rnn-tiny", r"\delta^{(1)}_{2,k} = (1-(h^{(1)}_{2,k})^2)\sum_j \delta^{(1)}_{3,j} W^{(1)}_{hh,j,k}"),
    (  # the recurrence for every step: the direct path at T, delta_{T+1} = 0
        "rnn-tiny",
        (
            r"\delta_{t,k} = (1 - h_{t,k}^2) \left([t = 3] \sum_j \delta^{(2)}_j W^{(2)}_{j,k}"
            r" + \sum_j \delta_{t+1,j} W_{hh,j,k}\right)"
        ),
    ),
    ("rnn-tiny", r"\frac{\partial J}{\partial h_{2,k}} = \sum_j \delta_{3,j} W_{hh,j,k}"),
    ("rnn-tiny", r"\frac{\partial J}{\partial W_{hh,k,j}} = \sum_{t=1}^{T} \delta_{t,k} h_{t-1,j}"),  # h_0 = 0
    ("rnn-tiny", r"\frac{\partial J}{\partial W^{(1)}_{hh,k,j}} = \sum_{t=2}^{3} \delta^{(1)}_{t,k} h^{(1)}_{t-1,j}"),
    ("rnn-tiny", r"\frac{\partial J}{\partial W^{(1)}_{xh,k,j}} = \sum_t \delta^{(1)}_{t,k} x_{t-1,j}"),
    ("rnn-tiny", r"\frac{\partial J}{\partial b_{h,k}} = \sum_{t=1}^{T} \delta_{t,k}"),
    ("rnn-tiny", r"z_{1,k} = b_{h,k} + \sum_j W_{hh,k,j} h_{0,j} + \sum_j W_{xh,k,j} x_{0,j}"),
    # the LSTM's cell state carries the gradient: through c_{t+1} and through h_t
    (
        "lstm-tiny",
        (
            r"\frac{\partial J}{\partial c_{t,k}} = \frac{\partial J}{\partial c_{t+1,k}} f_{t+1,k}"
            r" + \frac{\partial J}{\partial h_{t,k}} o_{t,k} (1 - \tanh^2(c_{t,k}))"
        ),
    ),
    ("lstm-tiny", r"\delta_{c,t,k} = \delta_{c,t+1,k} f_{t+1,k} + \delta_{h,t,k} o_{t,k} (1 - \tanh(c_{t,k})^2)"),
    ("lstm-tiny", r"\delta_{f,t,k} = \delta_{c,t,k} c_{t-1,k} f_{t,k}(1 - f_{t,k})"),
    ("lstm-tiny", r"\frac{\partial J}{\partial W_{hh,k,j}} = \sum_{t=2}^{T} \delta_{t,k} h_{t-1,j}"),
    # GRU: h_t feeds h_{t+1} directly (through z_{t+1}) and through v_{t+1} = W_hh h_t
    (
        "gru-tiny",
        (
            r"\frac{\partial J}{\partial h_{t,k}} = \frac{\partial J}{\partial h_{t+1,k}} z_{t+1,k}"
            r" + \sum_j \delta_{v,t+1,j} W_{hh,j,k} + [t = 3] \sum_j \delta^{(2)}_j W^{(2)}_{j,k}"
        ),
    ),
    ("gru-tiny", r"\delta_{z,t,k} = \delta_{h,t,k} (h_{t-1,k} - n_{t,k}) z_{t,k} (1 - z_{t,k})"),
    # attention: the softmax Jacobian row by row, 1/sqrt(d_k), the shared W_q
    (
        "attention-tiny",
        (
            r"\frac{\partial J}{\partial S_{i,j}} = A_{i,j} \left(\frac{\partial J}{\partial A_{i,j}}"
            r" - \sum_k \frac{\partial J}{\partial A_{i,k}} A_{i,k}\right)"
        ),
    ),
    ("attention-tiny", r"\frac{\partial J}{\partial V_{j,c}} = \sum_i A_{i,j} \frac{\partial J}{\partial O_{i,c}}"),
    (
        "attention-tiny",
        r"\frac{\partial J}{\partial Q_{i,c}} = \frac{1}{\sqrt{d_k}} \sum_j \frac{\partial J}{\partial S_{i,j}} K_{j,c}",
    ),
    (
        "attention-tiny",
        r"\frac{\partial J}{\partial K^{(1)}_{j,c}} = \frac{1}{\sqrt{d_k}} \sum_i \frac{\partial J}{\partial S^{(1)}_{i,j}} Q^{(1)}_{i,c}",
    ),
    ("attention-tiny", r"\frac{\partial J}{\partial W_{q,r,c}} = \sum_t x_{t,r} \frac{\partial J}{\partial Q_{t,c}}"),
    ("attention-tiny", r"\frac{\partial J}{\partial O_{t,c}} = \frac{1}{T} \frac{\partial J}{\partial a^{(2)}_c}"),
]


@pytest.mark.parametrize(("name", "answer"), CORRECT)
def test_a_courses_answers_are_correct(name, answer):
    v = verify_answer(spec(name), answer)
    assert v.verdict == "correct", v.message


def test_the_recurrence_with_both_paths_is_correct(rnn_sequence):
    """Every h_t of a returned sequence feeds the mean over time and h_{t+1}: the total derivative."""
    for answer in (
        (
            r"\delta_{t,k} = (1 - h_{t,k}^2) \left(\frac{1}{T} \frac{\partial J}{\partial a^{(2)}_k}"
            r" + \sum_j \delta_{t+1,j} W_{hh,j,k}\right)"
        ),
        (
            r"\frac{\partial J}{\partial h_{t,k}} = \frac{1}{T} \frac{\partial J}{\partial a^{(2)}_k}"
            r" + \sum_j \delta_{t+1,j} W_{hh,j,k}"
        ),
    ):
        v = verify_answer(rnn_sequence, answer)
        assert v.verdict == "correct", v.message


MISTAKES = [
    (  # rnn-tiny's h_2 reaches J only through h_3: the output's delta in its place
        "rnn-tiny",
        r"\delta_{2,k} = (1 - h_{2,k}^2) \sum_j \delta^{(2)}_j W^{(2)}_{j,k}",
        "missing_path_through_time",
    ),
    (  # the cell-state path dropped
        "lstm-tiny",
        r"\delta_{c,2,k} = \delta_{h,2,k} o_{2,k} (1 - \tanh(c_{2,k})^2)",
        "missing_path_through_time",
    ),
    (  # the recurrence without the direct path: wrong at t = T
        "rnn-tiny",
        r"\delta_{t,k} = (1 - h_{t,k}^2) \sum_j \delta_{t+1,j} W_{hh,j,k}",
        "missing_direct_path",
    ),
    ("rnn-tiny", r"\frac{\partial J}{\partial W_{hh,k,j}} = \delta_{3,k} h_{2,j}", "missing_sum_over_time"),
    (
        "lstm-tiny",
        r"\frac{\partial J}{\partial W^{(1)}_{ih,k,j}} = \delta^{(1)}_{3,k} x_{2,j}",
        "missing_sum_over_time",
    ),
    (
        "attention-tiny",
        r"\frac{\partial J}{\partial W_{q,r,c}} = x_{2,r} \frac{\partial J}{\partial Q_{2,c}}",
        "missing_sum_over_time",
    ),
    (
        "attention-tiny",
        r"\frac{\partial J}{\partial S_{i,j}} = A_{i,j} (1 - A_{i,j}) \frac{\partial J}{\partial A_{i,j}}",
        "softmax_elementwise",
    ),
    (
        "attention-tiny",
        r"\frac{\partial J}{\partial Q_{i,c}} = \sum_j \frac{\partial J}{\partial S_{i,j}} K_{j,c}",
        "missing_sqrt_dk",
    ),
    (
        "attention-tiny",
        r"\frac{\partial J}{\partial K_{j,c}} = \frac{1}{d_k} \sum_i \frac{\partial J}{\partial S_{i,j}} Q_{i,c}",
        "missing_sqrt_dk",
    ),
]


@pytest.mark.parametrize(("name", "answer", "code"), MISTAKES)
def test_the_mistakes_are_named(name, answer, code):
    v = verify_answer(spec(name), answer)
    assert v.verdict == "incorrect" and v.diagnosis == [code], (v.verdict, v.diagnosis, v.message)
    assert len(v.message) > 40  # a sentence that says what is wrong


def test_the_path_through_the_next_step_dropped_with_a_direct_path(rnn_sequence):
    """The numeric form of the diagnosis: the answer is the reference with delta_{t+1} set to 0."""
    answer = r"\delta_{t,k} = (1 - h_{t,k}^2) \frac{1}{T} \frac{\partial J}{\partial a^{(2)}_k}"
    v = verify_answer(rnn_sequence, answer)
    assert v.verdict == "incorrect" and v.diagnosis == ["missing_path_through_time"], v.message
    assert "h_2" in v.message and "total derivative over time" in v.message


def test_a_shared_weights_gradient_needs_its_sum_over_time():
    """delta_t h_{t-1} with t free on the right only: the sum over t is missing, and it says so."""
    v = verify_answer(spec("rnn-tiny"), r"\frac{\partial J}{\partial W_{hh,k,j}} = \delta_{t,k} h_{t-1,j}")
    assert v.verdict == "invalid" and "sum over it" in v.message


# one term of a correct answer scaled by p/q
SCALED = [
    ("rnn-tiny", r"\frac{\partial J}{\partial W_{hh,0,1}} = {c} \delta_{2,0} h_{1,1} + \delta_{3,0} h_{2,1}"),
    ("rnn-tiny", r"\delta_{2,1} = (1 - h_{2,1}^2) \left({c} \delta_{3,0} W_{hh,0,1} + \delta_{3,1} W_{hh,1,1}\right)"),
    ("lstm-tiny", r"\delta_{c,2,0} = {c} \delta_{c,3,0} f_{3,0} + \delta_{h,2,0} o_{2,0} (1 - \tanh(c_{2,0})^2)"),
    (
        "gru-tiny",
        (
            r"\frac{\partial J}{\partial h_{2,1}} = {c} \frac{\partial J}{\partial h_{3,1}} z_{3,1}"
            r" + \sum_j \delta_{v,3,j} W_{hh,j,1}"
        ),
    ),
    (
        "attention-tiny",
        (
            r"\frac{\partial J}{\partial S_{1,2}} = A_{1,2} \left(\frac{\partial J}{\partial A_{1,2}}"
            r" - {c} \sum_k \frac{\partial J}{\partial A_{1,k}} A_{1,k}\right)"
        ),
    ),
    (
        "attention-tiny",
        (
            r"\frac{\partial J}{\partial Q_{0,1}} = \frac{1}{\sqrt{d_k}} \left({c} \frac{\partial J}{\partial S_{0,0}} K_{0,1}"
            r" + \frac{\partial J}{\partial S_{0,1}} K_{1,1} + \frac{\partial J}{\partial S_{0,2}} K_{2,1}\right)"
        ),
    ),
]


@pytest.mark.parametrize(("name", "template"), SCALED)
def test_the_unscaled_answers_are_correct(name, template):
    v = verify_answer(spec(name), template.replace("{c}", ""))
    assert v.verdict == "correct", v.message


@settings(max_examples=25, deadline=None)
@given(
    case=st.sampled_from(SCALED),
    p=st.integers(min_value=-9, max_value=9),
    q=st.integers(min_value=1, max_value=9),
)
def test_a_wrong_coefficient_is_never_correct(case, p, q):
    if p == q:
        return
    name, template = case
    v = verify_answer(
        spec(name), template.replace("{c}", rf"\frac{{{p}}}{{{q}}}" if p >= 0 else rf"(-\frac{{{-p}}}{{{q}}})")
    )
    assert v.verdict == "incorrect", (p, q, v.verdict, v.message)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (r"\delta^{(1)}_{2,k} = (1-(h^{(1)}_{2,k})^2)\sum_j \delta^{(1)}_{3,j} W^{(1)}_{hh,j,k}", 0),
        (r"\delta_{2,k} = (1 - h_{2,k}^2) \sum_j \delta^{(2)}_j W^{(2)}_{j,k}", 1),
        (r"\delta_{2,k} = (1 - h_{7,k}^2) \sum_j \delta_{3,j} W_{hh,j,k}", 2),  # no step 7
    ],
)
def test_the_cli_exit_statuses(answer, status, capsys):
    assert main(["verify", spec("rnn-tiny"), "--answer", answer]) == status
    out = capsys.readouterr().out
    assert out.startswith(("correct", "incorrect", "invalid"))
