"""The checker of students' derivations against a corpus of hand-made answers.

tests/data/verify_corpus.toml holds correct answers (in many equivalent forms) and wrong
answers with exactly one mistake each, over every built-in network. Each case becomes one
test: the verdict must match, a wrong answer must be diagnosed with (at least) the expected
codes and explained, and a correct answer must carry no diagnosis.

The checker is a required feature: if ``symbackprop.verify.check`` cannot be imported,
every case fails (it is not skipped).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from symbackprop.verify.check import verify_answer
from symbackprop.verify.verdict import DIAGNOSES

CORPUS = Path(__file__).parent / "data" / "verify_corpus.toml"
CASES: list[dict] = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]

VERDICTS = ("correct", "incorrect", "invalid")
CODES = tuple(c for c in DIAGNOSES if c != "wrong_target")  # the corpus of one-line answers asks for no target
GRAPHS = ("cs231n-circuit", "cs231n-neuron", "colah-graph", "cs231n-gates", "cs231n-staged", "cs231n-neuron-gates")
SPECS = ("fc-3-2-2", "fc-3-2-2-softmax", "ufldl-3-3-1", *GRAPHS)
MIN_CORRECT, MIN_WRONG = 50, 50
MIN_PER_CODE = {code: 3 if code == "other" else 2 for code in CODES}


@cache
def _judge(spec: str, answer: str, target: str | None):
    return verify_answer(spec, answer, target=target)


def _judge_case(case: dict):
    return _judge(case["spec"], case["answer"], case.get("target") or None)


def _describe(case: dict, v) -> str:
    return (
        f"\n  id:       {case['id']} ({case['spec']})"
        f"\n  answer:   {case['answer']}"
        f"\n  target:   {case.get('target') or '-'}"
        f"\n  expected: {case['verdict']} {case['diagnosis']}"
        f"\n  got:      {v.verdict} {v.diagnosis} (target {v.target!r})"
        f"\n  message:  {v.message}" + (f"\n  why:      {case['why']}" if case.get("why") else "")
    )


MATRIX_QUANTITY = re.compile(r"(\\delta|W|a|z|b)\^\{\(\d\)\}(?!\s*_)")


def _is_matrix_form(case: dict) -> bool:
    """A layer-notation matrix answer: a layer quantity with no unit index, e.g. \\delta^{(2)}."""
    return case["spec"] == "ufldl-3-3-1" and bool(MATRIX_QUANTITY.search(case["answer"]))


def test_checker_is_importable():
    verify_answer


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict):
    v = _judge_case(case)
    about = _describe(case, v)
    assert v.verdict == case["verdict"], "wrong verdict" + about
    if case["verdict"] == "incorrect":
        missing = set(case["diagnosis"]) - set(v.diagnosis)
        assert not missing, f"diagnosis lacks {sorted(missing)}" + about
        assert v.message and v.message.strip(), "an incorrect verdict needs a message" + about
    elif case["verdict"] == "correct":
        assert v.diagnosis == [], "a correct answer must carry no diagnosis" + about


def test_corpus_summary():
    ids = [c["id"] for c in CASES]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    assert not duplicates, f"duplicate ids: {duplicates}"
    for c in CASES:
        assert c["spec"] in SPECS, c["id"]
        assert c["verdict"] in VERDICTS, c["id"]
        assert isinstance(c["answer"], str) and c["answer"].strip(), c["id"]
        assert set(c["diagnosis"]) <= set(CODES), c["id"]
        if c["verdict"] == "incorrect":
            assert c["diagnosis"], f"{c['id']}: a wrong answer names its mistake"
        else:
            assert c["diagnosis"] == [], f"{c['id']}: only wrong answers have a diagnosis"

    verdicts = Counter(c["verdict"] for c in CASES)
    codes = Counter(code for c in CASES if c["verdict"] == "incorrect" for code in c["diagnosis"])
    specs = Counter((c["spec"], c["verdict"]) for c in CASES)
    graph_cases = sum(1 for c in CASES if c["spec"] in GRAPHS)
    matrix = Counter(c["verdict"] for c in CASES if _is_matrix_form(c))

    print(f"\nverify corpus: {len(CASES)} cases: " + ", ".join(f"{verdicts[v]} {v}" for v in VERDICTS))
    for spec in SPECS:
        print(f"  {spec:18s} " + ", ".join(f"{specs[(spec, v)]} {v}" for v in VERDICTS))
    print(f"  matrix form (ufldl-3-3-1): {matrix['correct']} correct, {matrix['incorrect']} incorrect")
    print(f"  computational graphs: {graph_cases}")
    print("  diagnosis codes among the wrong answers:")
    for code in CODES:
        print(f"    {code:34s} {codes[code]}")

    if verify_answer is not None:  # how the checker does, for information only
        agree, failed = 0, []
        for c in CASES:
            try:
                v = _judge_case(c)
                ok = v.verdict == c["verdict"] and (
                    set(c["diagnosis"]) <= set(v.diagnosis) if c["verdict"] == "incorrect" else v.diagnosis == []
                )
            except Exception as exc:  # noqa: BLE001
                ok, v = False, exc
            agree += ok
            if not ok:
                failed.append(c["id"])
        print(f"  checker agrees on {agree}/{len(CASES)}" + (f"; disagrees on: {', '.join(failed)}" if failed else ""))

    assert verdicts["correct"] >= MIN_CORRECT, verdicts
    assert verdicts["incorrect"] >= MIN_WRONG, verdicts
    short = {code: codes[code] for code in CODES if codes[code] < MIN_PER_CODE[code]}
    assert not short, f"diagnosis codes covered too rarely: {short}"
    for spec in SPECS:
        assert specs[(spec, "correct")] and specs[(spec, "incorrect")], f"{spec} needs correct and wrong answers"
    assert matrix["correct"] >= 3 and matrix["incorrect"] >= 3, matrix
    assert graph_cases >= 6, graph_cases
