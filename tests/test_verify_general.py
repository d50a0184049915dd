"""The checker on GENERAL equations with FREE INDICES, against a hand-made corpus.

tests/data/verify_general_corpus.toml holds equations written the way textbooks write them,
with unit indices (i, j, k) and the layer index l left free: ``\\delta_k = (y_k - t_k) y_k (1 - y_k)``,
``\\delta^{(l)} = ((W^{(l)})^T \\delta^{(l+1)}) \\bullet f'(z^{(l)})``. A free index ranges over the values
for which every symbol exists and every sum has at least one term; the equation is correct when
every instance is. The expectations come from the mathematics (the generated documents), not
from the checker.

Each case is one test:

* the verdict must match;
* a correct answer carries no diagnosis, and ``.instances`` lists exactly ``bindings_count``
  distinct bindings (exactly ``bindings`` when the case gives them), all correct; ``to_json()``
  carries the instances too;
* a wrong answer is diagnosed with (at least) the expected codes, its message says
  "wrong for k = 7: ..." naming a binding from ``failing``; every instance the checker marks
  wrong is one of ``failing`` and none of ``failing`` is marked correct.

The checker is a required feature: if ``symbackprop.verify.check`` cannot be imported, every
case fails (it is not skipped).
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


CORPUS = Path(__file__).parent / "data" / "verify_general_corpus.toml"
CASES: list[dict] = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]

VERDICTS = ("correct", "incorrect", "invalid")
CODES = DIAGNOSES
SPECS = ("fc-3-2-2", "fc-3-2-2-softmax", "ufldl-3-3-1")
DEFAULT_NOTATION = {"fc-3-2-2": "node", "fc-3-2-2-softmax": "node", "ufldl-3-3-1": "layer"}
KINDS = ("one unit index", "two unit indices", "layer index l", "l with unit indices")
MIN_CASES, MIN_CORRECT, MIN_WRONG, MIN_INVALID = 80, 30, 40, 3

# "wrong for k = 7: ..." or "wrong for l = 2, i = 1: ..."
WRONG_FOR = re.compile(r"wrong for ((?:[A-Za-z]\w* = -?\d+)(?:, [A-Za-z]\w* = -?\d+)*)")


@cache
def _judge(spec: str, answer: str, notation: str | None):
    return verify_answer(spec, answer, notation=notation)


def _judge_case(case: dict):
    return _judge(case["spec"], case["answer"], case.get("notation"))


def _key(bindings: dict) -> frozenset:
    """A binding {"l": 2, "i": 1} as a hashable, order-free key with int values."""
    return frozenset((str(k), int(v)) for k, v in bindings.items())


def _show(key: frozenset) -> str:
    return ", ".join(f"{k} = {v}" for k, v in sorted(key)) or "-"


def _parse_wrong_for(message: str) -> frozenset | None:
    m = WRONG_FOR.search(message or "")
    if m is None:
        return None
    pairs = [p.split(" = ") for p in m.group(1).split(", ")]
    return frozenset((k, int(v)) for k, v in pairs)


def _instances(v) -> list[dict] | None:
    instances = getattr(v, "instances", None)
    return list(instances) if instances is not None else None


def _kind(case: dict) -> str:
    free = set(case["free"])
    units = free - {"l"}
    if "l" in free:
        return "l with unit indices" if units else "layer index l"
    return "one unit index" if len(units) == 1 else "two unit indices"


def _notation(case: dict) -> str:
    return case.get("notation") or DEFAULT_NOTATION[case["spec"]]


def _describe(case: dict, v) -> str:
    instances = _instances(v)
    shown = "-"
    if instances is not None:
        shown = "; ".join(
            f"{_show(_key(i.get('bindings', {})))}: {i.get('verdict')} {i.get('diagnosis', [])}" for i in instances[:14]
        )
        if len(instances) > 14:
            shown += f"; ... ({len(instances)} in all)"
    expected = f"{case['verdict']} {case['diagnosis']}"
    if case["verdict"] == "correct":
        expected += f", {case['bindings_count']} instances"
    elif case["verdict"] == "incorrect":
        expected += f", failing {[_show(_key(b)) for b in case['failing']]}"
    return (
        f"\n  id:        {case['id']} ({case['spec']}, {_notation(case)} notation)"
        f"\n  answer:    {case['answer']}"
        f"\n  expected:  {expected}"
        f"\n  got:       {v.verdict} {v.diagnosis} (target {v.target!r})"
        f"\n  message:   {v.message}"
        f"\n  instances: {shown}" + (f"\n  why:       {case['why']}" if case.get("why") else "")
    )


def _check_instance_shape(instances: list, about: str) -> None:
    for inst in instances:
        assert isinstance(inst, dict), "each instance is a dict" + about
        missing = {"bindings", "target", "verdict", "diagnosis"} - inst.keys()
        assert not missing, f"an instance lacks {sorted(missing)}" + about
        assert isinstance(inst["bindings"], dict) and inst["bindings"], "an instance binds its free indices" + about


def test_checker_is_importable():
    verify_answer


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict):
    v = _judge_case(case)
    about = _describe(case, v)
    assert v.verdict == case["verdict"], "wrong verdict" + about
    if case["verdict"] == "invalid":
        return

    instances = _instances(v)
    assert instances is not None, "the verdict has no .instances" + about
    _check_instance_shape(instances, about)
    assert "instances" in v.to_json(), "to_json() lacks the instances" + about
    keys = [_key(i["bindings"]) for i in instances]
    assert len(set(keys)) == len(keys), "an instance is listed twice" + about

    if case["verdict"] == "correct":
        assert v.diagnosis == [], "a correct answer must carry no diagnosis" + about
        assert len(keys) == case["bindings_count"], (
            f"expected {case['bindings_count']} instances, got {len(keys)}" + about
        )
        if "bindings" in case:
            expected = {_key(b) for b in case["bindings"]}
            assert set(keys) == expected, (
                f"instances {sorted(map(_show, keys))} != expected {sorted(map(_show, expected))}" + about
            )
        wrong = [i for i in instances if i["verdict"] != "correct"]
        assert not wrong, "a correct equation has an instance that is not correct" + about
        return

    # incorrect
    if case["diagnosis"]:
        missing = set(case["diagnosis"]) - set(v.diagnosis)
        assert not missing, f"diagnosis lacks {sorted(missing)}" + about
    assert v.message and "wrong for" in v.message, "the message must name a failing instance ('wrong for ...')" + about
    named = _parse_wrong_for(v.message)
    assert named is not None, "cannot read the bindings after 'wrong for'" + about
    failing = {_key(b) for b in case["failing"]}
    assert named in failing, f"the message names {_show(named)}, which is not a failing instance" + about
    marked = {_key(i["bindings"]) for i in instances if i["verdict"] == "incorrect"}
    assert marked, "no instance is marked incorrect" + about
    assert marked <= failing, f"instances marked wrong that are right: {sorted(map(_show, marked - failing))}" + about
    passed = {_key(i["bindings"]) for i in instances if i["verdict"] == "correct"}
    assert not passed & failing, (
        f"instances marked right that are wrong: {sorted(map(_show, passed & failing))}" + about
    )


def test_corpus_summary():
    ids = [c["id"] for c in CASES]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    assert not duplicates, f"duplicate ids: {duplicates}"
    for c in CASES:
        where = c["id"]
        assert c["spec"] in SPECS, where
        assert c["verdict"] in VERDICTS, where
        assert c.get("notation", "node") in ("node", "layer"), where
        assert isinstance(c["answer"], str) and c["answer"].strip(), where
        assert c.get("why"), f"{where}: every case says why"
        assert c["free"] and all(isinstance(f, str) for f in c["free"]), where
        assert set(c["diagnosis"]) <= set(CODES), where
        if c["verdict"] != "incorrect":
            assert c["diagnosis"] == [], f"{where}: only wrong answers have a diagnosis"
        if c["verdict"] == "correct":
            assert isinstance(c.get("bindings_count"), int) and c["bindings_count"] > 0, where
            if "bindings" in c:
                assert len(c["bindings"]) == c["bindings_count"], where
                assert len({_key(b) for b in c["bindings"]}) == c["bindings_count"], where
                assert all(set(b) == set(c["free"]) for b in c["bindings"]), where
            assert "instance" not in c and "failing" not in c, where
        elif c["verdict"] == "incorrect":
            assert c.get("failing"), f"{where}: a wrong answer lists its failing bindings"
            failing = {_key(b) for b in c["failing"]}
            assert len(failing) == len(c["failing"]), f"{where}: a failing binding is listed twice"
            assert _key(c["instance"]) in failing, f"{where}: instance must be one of failing"
            assert all(set(b) == set(c["free"]) for b in c["failing"]), where
            assert "bindings_count" not in c, where
        else:
            assert not {"instance", "failing", "bindings_count", "bindings"} & c.keys(), where

    verdicts = Counter(c["verdict"] for c in CASES)
    by_spec = Counter((c["spec"], _notation(c), c["verdict"]) for c in CASES)
    kinds = Counter((_kind(c), c["verdict"]) for c in CASES)
    codes = Counter(code for c in CASES if c["verdict"] == "incorrect" for code in c["diagnosis"])

    print(f"\nfree-index corpus: {len(CASES)} cases: " + ", ".join(f"{verdicts[v]} {v}" for v in VERDICTS))
    for spec, notation in sorted({(c["spec"], _notation(c)) for c in CASES}):
        print(f"  {spec:18s} {notation:6s} " + ", ".join(f"{by_spec[(spec, notation, v)]} {v}" for v in VERDICTS))
    print("  free indices:")
    for kind in KINDS:
        print(f"    {kind:22s} " + ", ".join(f"{kinds[(kind, v)]} {v}" for v in VERDICTS))
    print("  diagnosis codes among the wrong answers:")
    for code in CODES:
        print(f"    {code:34s} {codes[code]}")
    print(
        f"    (no code required)                 {sum(1 for c in CASES if c['verdict'] == 'incorrect' and not c['diagnosis'])}"
    )

    if verify_answer is not None:  # how the checker does, for information only
        agree, failed = 0, []
        for c in CASES:
            try:
                v = _judge_case(c)
                ok = v.verdict == c["verdict"]
                if ok and c["verdict"] != "invalid":
                    instances = _instances(v)
                    ok = instances is not None
                    if ok and c["verdict"] == "correct":
                        ok = v.diagnosis == [] and len(instances) == c["bindings_count"]
                    elif ok:
                        named = _parse_wrong_for(v.message)
                        ok = set(c["diagnosis"]) <= set(v.diagnosis) and named in {_key(b) for b in c["failing"]}
            except Exception:  # noqa: BLE001
                ok = False
            agree += ok
            if not ok:
                failed.append(c["id"])
        print(f"  checker agrees on {agree}/{len(CASES)}" + (f"; disagrees on: {', '.join(failed)}" if failed else ""))

    assert len(CASES) >= MIN_CASES, len(CASES)
    assert verdicts["correct"] >= MIN_CORRECT, verdicts
    assert verdicts["incorrect"] >= MIN_WRONG, verdicts
    assert verdicts["invalid"] >= MIN_INVALID, verdicts
    for notation in ("node", "layer"):
        for verdict in ("correct", "incorrect"):
            assert any(_notation(c) == notation and c["verdict"] == verdict for c in CASES), (notation, verdict)
    for kind in KINDS:
        assert kinds[(kind, "correct")] and kinds[(kind, "incorrect")], f"{kind} needs correct and wrong answers"
