"""symbackprop verify: the command-line contract, multi-line derivations, and the generated
documents themselves (every numbered line of every built-in derivation must verify)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import EXAMPLES

from symbackprop.api import derive
from symbackprop.cli import main
from symbackprop.core.network import LayeredNetwork
from symbackprop.core.spec import load_spec
from symbackprop.verify.check import summarize, verify_answer, verify_document
from symbackprop.verify.latex import ParseError, math_lines, parse_line
from symbackprop.verify.verdict import DIAGNOSES

OUTPUTS = Path(__file__).resolve().parents[1] / "outputs"


def run(capsys, *args):
    rc = main(["verify", *args])
    return rc, capsys.readouterr()


def test_correct_answer_exits_0(capsys):
    rc, out = run(capsys, "fc-3-2-2", "--answer", r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)")
    assert rc == 0 and out.out.startswith("correct")


def test_json_has_the_contract_fields_and_a_counterexample(capsys):
    rc, out = run(capsys, "fc-3-2-2", "--answer", r"\frac{\partial E}{\partial w_{64}} = -\delta_6 y_4", "--json")
    data = json.loads(out.out)
    assert rc == 1
    assert data["verdict"] == "incorrect" and data["target"] == "dE/dw_64" and data["diagnosis"] == ["sign"]
    assert data["message"] and set(data["counterexample"]) == {"values", "answer", "correct"}
    assert data["counterexample"]["answer"] == pytest.approx(-data["counterexample"]["correct"])
    assert set(data["diagnosis"]) <= set(DIAGNOSES)


def test_target_option_for_a_bare_right_hand_side(capsys):
    rc, _ = run(
        capsys, "fc-3-2-2", "--target", "delta_4", "--answer", r"\sum_{k=6}^{7} \delta_k w_{k4} \, y_4 (1 - y_4)"
    )
    assert rc == 0


def test_invalid_answer_exits_2(capsys):
    rc, out = run(capsys, "fc-3-2-2", "--answer", r"\delta_6 = (y_6 - t_6", "--json")
    assert rc == 2 and json.loads(out.out)["verdict"] == "invalid"


@pytest.mark.parametrize(
    "answer",
    [
        r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)",
        r"\delta_{6} = \left(y_{6} - t_{6}\right) \cdot y_{6} \cdot \left(1 - y_{6}\right)",
        r"\frac{\partial E}{\partial \mathrm{net}_6} = \sigma'(net_6) (y_6 - t_6)",
        r"\frac{dE}{dnet_6} = f'(net_6)(y_6 - t_6)",
        "delta_6 = (y_6 - t_6)*y_6*(1 - y_6)",
        r"\delta_6 = \sigma(net_6) (1 - \sigma(net_6)) (y_6 - t_6)",
        r"\delta_6 = y_6 (1 - y_6) (y_6 - t_6) = (y_6 - t_6) y_6 - (y_6 - t_6) y_6^2",
    ],
)
def test_equivalent_forms_of_the_same_delta(answer):
    assert verify_answer("fc-3-2-2", answer).verdict == "correct"


def test_ambiguous_indices_get_a_how_to_message():
    v = verify_answer("fc-3-2-2", r"\delta_4 = \delta_6 w_{6} y_4")
    assert v.verdict == "invalid" and "not a quantity" in v.message


def test_multi_step_reports_the_first_step_that_does_not_follow(tmp_path, capsys):
    tex = tmp_path / "answer.tex"
    tex.write_text(
        "\\begin{align}\n"
        "\\delta_4 &= \\frac{\\partial E}{\\partial net_4} \\\\\n"
        "&= (\\delta_6 w_{64} + \\delta_7 w_{74}) y_4 (1 - y_4) \\\\\n"
        "&= (\\delta_6 w_{64} + \\delta_7 w_{74}) y_4 \\\\\n"
        "&= \\delta_6 w_{64} y_4\n"
        "\\end{align}\n"
    )
    rc, out = run(capsys, "fc-3-2-2", "--file", str(tex), "--json")
    data = json.loads(out.out)
    assert rc == 1 and data["verdict"] == "incorrect"
    assert [line["verdict"] for line in data["lines"]] == ["correct", "correct", "incorrect", "incorrect"]
    assert data["line"] == 4 and data["diagnosis"] == ["activation_instead_of_derivative"]
    assert (data["first_wrong_line"], data["right"], data["lines_judged"]) == (4, 2, 4)
    assert "follows_from" not in data["lines"][-1]  # (y_4 alone) does not follow from line 4


def test_every_line_is_judged_and_an_error_carried_forward_is_marked():
    text = (
        "\\begin{align}\n"
        "\\delta_4 &= (\\delta_6 w_{64} + \\delta_7 w_{74}) y_4 \\\\\n"  # wrong: y_4 for y_4 (1 - y_4)
        "&= \\delta_6 w_{64} y_4 + \\delta_7 w_{74} y_4 \\\\\n"  # follows from the wrong line
        "\\delta_6 &= (y_6 - t_6) y_6 (1 - y_6)\n"  # a new, right line
        "\\end{align}\n"
    )
    verdicts = verify_document("fc-3-2-2", text)
    assert [v.verdict for v in verdicts] == ["incorrect", "incorrect", "correct"]
    assert verdicts[1].follows_from == 2 and "Follows from line 2, which is wrong" in verdicts[1].message
    assert verdicts[0].follows_from is None
    overall, counts = summarize(verdicts)
    assert overall.verdict == "incorrect" and counts == {"lines": 3, "right": 1, "first_wrong_line": 2}


def test_math_lines_keep_line_numbers():
    lines = math_lines("text\n\\begin{align}\na &= b \\\\\n&= c\n\\end{align}\n$$ d = e $$")
    assert [n for n, _ in lines] == [3, 4, 6]


def test_parser_refuses_commands_outside_the_whitelist():
    with pytest.raises(ParseError, match=r"\\input is not allowed"):
        parse_line(r"\input{/etc/passwd}")


def _documents():
    """Every built-in example, in each notation it has, in English and Chinese."""
    for name in EXAMPLES:
        network = load_spec(name)
        notations = (None,)
        if isinstance(network, LayeredNetwork):  # d2l's names fit one hidden layer without biases
            notations = ("node", "layer") + (("d2l",) if network.depth == 2 and not network.bias else ())
        for notation in notations:
            for lang in ("en", "zh"):
                yield pytest.param(name, notation, lang, id=f"{name}-{notation or 'graph'}-{lang}")


@pytest.mark.parametrize(("name", "notation", "lang"), list(_documents()))
def test_every_line_of_every_generated_document_verifies(name, notation, lang):
    """The documents are derived by the engine and read back by the verifier: every line of the
    display maths, lemmas included, must be judged right, in both languages and notations."""
    network = load_spec(name)
    if notation:
        network = replace(network, notation=notation)
    text = derive(network).to_latex(lang)
    verdicts = verify_document(name, text, notation)
    bad = [f"line {v.line}: {v.verdict}: {v.message}" for v in verdicts if v.verdict != "correct"]
    assert not bad, "\n".join(bad[:5])
    numbered = len(re.findall(r"\\tag\{\d+\}", text))
    assert len(verdicts) >= max(numbered, 9)


def test_the_golden_documents_verify_as_they_are_on_disk():
    for name in EXAMPLES:
        for document in ("derivation.tex", "derivation.zh.tex"):
            verdicts = verify_document(name, (OUTPUTS / name / document).read_text(encoding="utf-8"))
            assert verdicts and all(v.verdict == "correct" for v in verdicts), (name, document)


SOFTMAX_LEMMA = r"""
% verify: lemma where \sum_i t_i = 1
\begin{align*}
y_i &= \frac{e^{z_i}}{\sum_{k=1}^{n} e^{z_k}} \\
E &= - \sum_{i=1}^{n} t_i \log(y_i) \\
\frac{d}{d z_j} E &= \sum_{i=1}^{n} \frac{d}{d y_i} E \frac{\partial}{\partial z_j} y_i \\
&= - t_j + y_j \sum_{i=1}^{n} t_i \\
&= LAST
\end{align*}
"""


@pytest.mark.parametrize(
    ("last", "pragma", "verdict"),
    [
        ("y_j - t_j", True, "correct"),
        ("y_j + t_j", True, "incorrect"),  # a wrong last step
        ("t_j - y_j", True, "incorrect"),
        ("y_j - t_j", False, "incorrect"),  # without the assumption, sum_i t_i = 1 does not hold
    ],
)
def test_a_lemma_block_is_judged_for_every_size_and_index(last, pragma, verdict):
    text = SOFTMAX_LEMMA.replace("LAST", last)
    if not pragma:
        text = text.replace(" where \\sum_i t_i = 1", "")
    verdicts = verify_document("fc-3-2-2-softmax", text)
    assert [v.decided_by for v in verdicts[:2]] == ["definition", "definition"]
    assert "defines y_{i}" in verdicts[0].message
    assert verdicts[-1].verdict == verdict, verdicts[-1].message
    assert all(v.verdict == "correct" for v in verdicts[:-1])
    if verdict == "incorrect":
        assert "wrong for n = 2" in verdicts[-1].message


def test_outside_a_lemma_block_the_same_lines_are_about_the_network():
    """Without the pragma a definition is not accepted: y_i = ... names the network's outputs."""
    text = SOFTMAX_LEMMA.replace("% verify: lemma where \\sum_i t_i = 1\n", "").replace("LAST", "y_j - t_j")
    verdicts = verify_document("fc-3-2-2-softmax", text)
    assert verdicts[0].verdict != "correct" and "definition" not in {v.decided_by for v in verdicts}


def test_grade_command_writes_the_three_reports(tmp_path, capsys):
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "student,question,answer\n"
        'ada,q1,"\\delta_6 = (y_6 - t_6) y_6 (1 - y_6)"\n'
        'bob,q1,"\\delta_6 = (t_6 - y_6) y_6 (1 - y_6)"\n'
        "eve,q1,__import__('os').system('touch pwned')\n"
    )
    report = tmp_path / "report"
    assert main(["grade", "fc-3-2-2", str(answers), "-o", str(report), "--jobs", "1"]) == 0
    out = capsys.readouterr()
    assert "1 correct, 1 incorrect, 1 invalid" in out.out and "graded 3/3" in out.err
    results = json.loads((report / "results.json").read_text())
    assert {r["student"]: r["verdict"] for r in results} == {"ada": "correct", "bob": "incorrect", "eve": "invalid"}
    assert "sign" in (report / "results.csv").read_text() and "<html" in (report / "index.html").read_text().lower()
    assert not (tmp_path / "pwned").exists()
