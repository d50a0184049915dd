"""Property-based fuzzing of the derivation checker: whatever a student types, ``verify_answer``

* returns one of the four verdicts and never raises,
* never answers "cannot judge: internal error",
* gives a ``to_json()`` that is strict JSON (no NaN or infinity),
* and says the same thing (verdict and message) when asked twice.

Answers are real ones (tests/data/verify_corpus.toml, verify_general_corpus.toml) with one to
three mutations (tokens deleted, inserted, replaced, duplicated or swapped; odd sub- and
superscripts; whitelisted LaTeX commands and snippets; unicode; nested brackets; huge numbers;
^T and primes; \\frac with 0..3 arguments; \\partial^k; sums with odd ranges; free index letters),
and answers built by a small grammar over the networks' names. The examples are derandomized,
so every run judges the same answers; benchmarks/fuzz_verify.py is the long version (20,000
answers, documents, timings, minimised reproducers).

Each property is its own parametrized case over the same examples (the same inner test, so the
same derandomized sequence); an answer is judged twice, once, and the result shared.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop.verify.check import verify_answer
from symbackprop.verify.latex import ALLOWED

DATA = Path(__file__).parent / "data"
SPECS = ["fc-3-2-2", "fc-3-2-2-softmax", "ufldl-3-3-1", "cs231n-circuit", "cs231n-neuron", "colah-graph"]
VERDICTS = {"correct", "incorrect", "invalid", "undecided"}
EXAMPLES = 200


def _corpus() -> list[tuple[str, str, str | None, str | None]]:
    cases = []
    for name in ("verify_corpus.toml", "verify_general_corpus.toml"):
        with open(DATA / name, "rb") as handle:
            for c in tomllib.load(handle)["case"]:
                cases.append((c["spec"], c["answer"], c.get("target"), c.get("notation")))
    return cases


CORPUS = _corpus()
TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[\u3400-\u9fff]+|[A-Za-z]|\d+(?:\.\d+)?|\.\d+|\s+|.", re.DOTALL)
COMMANDS = sorted("\\" + c for c in ALLOWED if c.isalpha())
SYMBOLS = list("+-*/^_'=()[]{},&|<>:.;") + ["\\\\", "$", "%", "#", "~"]
ODD_INDICES = [
    "{}", "{-1}", "{99999999999999999999}", "{l+100}", "{(0.5)}", "{(l+100)}", "{(0)}", "{(-1)}", "{,}", "{4,}",
    "{k,j,i}", "{T}", "{(L)}", "{(n_l)}", "{(l-1)}", "{(l+1)}", "{kk}", "{0}", "{64}", "{46}", "{(9)}", "{(t+1)}",
    "{new}", "T", "\\top", "{" + "9" * 30 + "}", "{\\alpha}", "{((l))}", "{k+1}",
]  # fmt: skip
SNIPPETS = [
    "\\frac", "\\frac{1}{2}", "\\frac12", "\\frac{}{}", "\\frac{a}{b}{c}", "\\frac{1}", "\\frac{d}{dx}",
    "\\frac{\\partial E}{\\partial net_6}", "\\frac{\\partial^2 E}{\\partial net_6^2}", "\\partial^{k}", "\\partial^2",
    "\\sum_{k=7}^{6}", "\\sum_{k=1}^{99999999}", "\\sum_{k=1}^{n}", "\\sum_{k=-5}^{5}", "\\sum_{j=1}^{s_{l+1}}",
    "\\sum_{k \\in hidden}", "\\sum_{k \\in 输出层}", "\\sum_{i=1}^{m}", "\\sum_k", "\\sum_{k=0}^{999}",
    "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", "\\begin{bmatrix}\\end{bmatrix}", "[net_4 > 0]",
    "\\|W^{(1)}\\|_F^2", "\\quad \\text{for } j \\in hidden", "\\forall j \\in 输出层", "J(W,b;x,y)",
    "\\Delta W^{(1)}", "^{new}", "^{(t+1)}", "\\leftarrow", ":=", "&=", "\\\\", "\\sigma'", "f'(net_4)",
    "\\sigma^2(net_6)", "\\max(0, net_4)", "relu(net_4)", "\\nabla_{W^{(1)}} J", "dE/dw_75", "(a^{(2)})^T",
    "\\delta^{(l)}", "W^{(l)}_{ij}", "n_l", "s_{l+1}", "\\delta_{ij}", "{y}_{i}", "\\mathrm{net}_{6}",
    "10^{10^{10}}", "(0.1)^{-100}", "0^{-1}", "(-1)^{0.5}", "\\log(0)", "e^{1000}", "9" * 30, "0." + "0" * 28 + "1",
]  # fmt: skip
UNICODE = [
    "输出层",
    "隐藏层",
    "輸出層",
    "中文",
    "δ",
    "∑",
    "−",
    "\u200b",
    "\u00a0",
    "\ufeff",
    "😀",
    "\x00",
    "\u202e",
    "，",
]
NAMES = {
    "fc-3-2-2": ["y_6", "y_7", "y_4", "t_6", "\\mathrm{net}_6", "net_4", "\\delta_6", "\\delta_7", "w_{64}",
                 "w_{75}", "w_{41}", "b_4", "x_1", "\\eta", "y_k", "t_k", "\\delta_k", "w_{kj}", "y_j", "net_j"],
    "ufldl-3-3-1": ["a^{(3)}_1", "a^{(2)}_2", "z^{(2)}_1", "\\delta^{(3)}", "\\delta^{(2)}", "W^{(1)}", "W^{(2)}",
                    "W^{(2)}_{11}", "b^{(1)}", "y_1", "x", "\\alpha", "\\lambda", "m", "a^{(l)}_j",
                    "\\delta^{(l+1)}_i", "W^{(l)}_{ij}", "a^{(2)}", "z^{(3)}"],
}  # fmt: skip
LHS = {
    "fc-3-2-2": ["\\delta_6", "\\delta_4", "\\delta_k", "\\delta_j", "\\frac{\\partial E}{\\partial w_{64}}",
                 "dE/dw_{kj}", "w_{64} \\leftarrow w_{64} - \\eta", "y_6", "\\frac{\\partial E}{\\partial y_4}"],
    "ufldl-3-3-1": ["\\delta^{(3)}", "\\delta^{(2)}", "\\delta^{(l)}_i", "\\frac{\\partial J}{\\partial W^{(1)}}",
                    "\\nabla_{W^{(2)}} J(W,b;x,y)", "W^{(1)} := W^{(1)} - \\alpha", "a^{(2)}",
                    "\\frac{\\partial J}{\\partial W^{(l)}_{ij}}"],
}  # fmt: skip


def _positions(toks: list[str]) -> list[int]:
    return [i for i, t in enumerate(toks) if not t.isspace()] or [0]


def _mutate(answer: str, ops: list[tuple[str, int, str]]) -> str:
    toks = TOKEN.findall(answer)
    for op, where, piece in ops:
        sites = _positions(toks)
        i = sites[where % len(sites)]
        if op == "delete":
            toks = toks[:i] + toks[i + 1 :]
        elif op == "insert":
            toks = toks[:i] + [" ", piece, " "] + toks[i:]
        elif op == "replace":
            toks = toks[:i] + [piece] + toks[i + 1 :]
        elif op == "duplicate":
            toks = toks[: i + 3] + toks[i : i + 3] + toks[i + 3 :]
        elif op == "swap" and len(sites) > 1:
            j = sites[(where // 7 + 1) % len(sites)]
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "index":  # the sub- or superscript after the i-th _ or ^ becomes odd
            marks = [k for k, t in enumerate(toks) if t in ("_", "^")]
            if marks:
                k = marks[where % len(marks)] + 1
                end = k + 1
                if toks[k : k + 1] == ["{"]:
                    depth = 0
                    for end in range(k, len(toks) + 1):
                        depth += {"{": 1, "}": -1}.get(toks[end] if end < len(toks) else "}", 0)
                        if depth == 0:
                            end += 1
                            break
                toks = toks[:k] + [piece] + toks[end:]
        elif op == "wrap":  # nested brackets around a few tokens; past the depth limit sometimes
            depth = 1 + where % 120
            opener, closer = [("{", "}"), ("(", ")"), ("[", "]")][where % 3]
            toks = toks[:i] + [opener * depth] + toks[i : i + 3] + [closer * depth] + toks[i + 3 :]
        elif op == "transpose":
            toks = [
                t + piece if re.fullmatch(r"[A-Za-z)}]", t) and (k + where) % 3 == 0 else t for k, t in enumerate(toks)
            ]
    return "".join(toks)


PIECES = st.one_of(
    st.sampled_from(COMMANDS),
    st.sampled_from(SNIPPETS),
    st.sampled_from(ODD_INDICES),
    st.sampled_from(SYMBOLS),
    st.sampled_from(UNICODE),
    st.text(alphabet="abjklmnTxy0123456789'^_{}()", min_size=1, max_size=3),
)
OPS = st.tuples(
    st.sampled_from(["delete", "insert", "replace", "duplicate", "swap", "index", "wrap", "transpose"]),
    st.integers(min_value=0, max_value=10_000),
    PIECES,
)
OTHER_SPEC = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(SPECS))


@st.composite
def mutated(draw):
    spec, answer, target, notation = draw(st.sampled_from(CORPUS))
    answer = _mutate(answer, draw(st.lists(OPS, min_size=1, max_size=3)))
    other = draw(OTHER_SPEC)
    return (other or spec, answer, target, None if other else notation)


def _expressions(spec: str):
    atoms = st.one_of(st.sampled_from(NAMES[spec]), st.sampled_from(["1", "2", "\\frac12", "0.5", "\\frac{1}{m}"]))

    def extend(inner):
        pair = st.tuples(inner, inner)
        return st.one_of(
            pair.map(lambda p: f"{p[0]} + {p[1]}"),
            pair.map(lambda p: f"{p[0]} - {p[1]}"),
            pair.map(lambda p: f"{p[0]} {p[1]}"),
            pair.map(lambda p: f"\\frac{{{p[0]}}}{{{p[1]}}}"),
            pair.map(lambda p: f"{p[0]} \\odot {p[1]}"),
            inner.map(lambda a: f"({a})"),
            inner.map(lambda a: f"({a})^T"),
            inner.map(lambda a: f"({a})^2"),
            inner.map(lambda a: f"\\sigma({a})"),
            inner.map(lambda a: f"f'({a})"),
            inner.map(lambda a: f"\\tanh({a})"),
            inner.map(lambda a: f"\\exp({a})"),
            inner.map(lambda a: f"[{a} > 0]"),
            inner.map(lambda a: f"{a} (1 - {a})"),
            inner.map(lambda a: f"\\sum_{{k=6}}^{{7}} {a}"),
            inner.map(lambda a: f"\\sum_{{k \\in outputs}} {a}"),
            inner.map(lambda a: f"\\frac{{1}}{{m}} \\sum_{{i=1}}^{{m}} {a}"),
        )

    return st.recursive(atoms, extend, max_leaves=6)


@st.composite
def generated(draw):
    spec = draw(st.sampled_from(sorted(NAMES)))
    lhs, rhs = draw(st.sampled_from(LHS[spec])), draw(_expressions(spec))
    relation = " " if ("leftarrow" in lhs or ":=" in lhs) else " = "
    return (spec, lhs + relation + rhs, None, None)


CASES = st.one_of(mutated(), mutated(), generated())

_JUDGED: dict[tuple, tuple] = {}


def _judge(case):
    spec, answer, target, notation = case
    try:
        return verify_answer(spec, answer, target=target, notation=notation)
    except Exception as err:  # noqa: BLE001 - the property under test
        return err


def judged(case) -> tuple:
    """(first verdict, second verdict) of an answer, each a Verdict or the exception raised."""
    if case not in _JUDGED:
        _JUDGED[case] = (_judge(case), _judge(case))
    return _JUDGED[case]


def _never_raises(case, first, second):
    assert not isinstance(first, Exception), f"{type(first).__name__}: {first}"
    assert first.verdict in VERDICTS, first.verdict


def _no_internal_error(case, first, second):
    if isinstance(first, Exception):
        return
    assert "internal error" not in first.message, first.message


def _strict_json(case, first, second):
    if isinstance(first, Exception):
        return
    json.dumps(first.to_json(), allow_nan=False)


def _deterministic(case, first, second):
    if isinstance(first, Exception) or isinstance(second, Exception):
        assert type(first) is type(second)
        return
    if any("took longer than" in v.message for v in (first, second)):
        return  # a time limit reached once and not the other time is the machine, not the checker
    assert (first.verdict, first.message) == (second.verdict, second.message)


PROPERTIES = {
    "never_raises": _never_raises,
    "no_internal_error": _no_internal_error,
    "strict_json": _strict_json,
    "deterministic": _deterministic,
}


@pytest.mark.parametrize("prop", list(PROPERTIES))
def test_fuzzed_answers(prop):
    check = PROPERTIES[prop]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(case=CASES)
    def run(case):
        check(case, *judged(case))

    run()


# Answers benchmarks/fuzz_verify.py found raising inside the checker (reported as "internal
# error"), each minimised; every one is now a clear "invalid" naming the problem.
FOUND = [
    ("fc-3-2-2", "k=(y_{,})", "empty index"),
    ("ufldl-3-3-1", "\\frac{\\partial J}{\\partial W_{12}^{(2)}}=\\exp(\\begin{bmatrix}s&y\\end{bmatrix})", "1x2"),
    ("colah-graph", "\\frac{\\partial}{\\partial b}E=\\sigma(\\begin{bmatrix}b\\end{bmatrix})", "'E' is not"),
    ("fc-3-2-2", "\\frac.5{{1}}=\\delta", "'.' cannot be an argument"),
    ("fc-3-2-2-softmax", "y_{4}=\\sum_k\\operatorname{elu}({net}_{4})", "does not depend on k"),
    (
        "ufldl-3-3-1",
        "\\frac{\\partial J}{\\partial W^{(2)}_{11}} = \\max(0,\\begin{bmatrix}x_{3}&x_1\\end{bmatrix})",
        "\\max",
    ),
    ("fc-3-2-2-softmax", "b_6 = \\begin{bmatrix}w_{41}\\\\b_4\\end{bmatrix}^2", "power of a written-out matrix"),
    ("cs231n-neuron", "\\frac{\\partial f}{\\partial w_1} = [\\begin{bmatrix}0\\end{bmatrix}>0]", "written-out matrix"),
    ("fc-3-2-2", "b=\\begin{bmatrix}{1}{2}\\end{bmatrix}-r^{\\top}", "'b' is not"),
    ("colah-graph", "b=b-\\begin{bmatrix}e\\end{bmatrix}", "b is not derived"),
    (
        "cs231n-circuit",
        "q=\\log({\\frac{\\partial}{\\partial\\eta}}{2}({\\frac{\\partial J}{\\partial\\eta}}))",
        "'J' is not",
    ),
    ("fc-3-2-2-softmax", "y_6=y^{(0^{-1})}", "undefined"),
    (
        "fc-3-2-2",
        "\\frac{\\partial E}{\\partial y_4} = \\begin{bmatrix} 1 \\end{bmatrix} + \\begin{bmatrix} 2 & 3 \\end{bmatrix}",
        "written-out matrix",
    ),
    ("fc-3-2-2-softmax", "\\frac{\\partial E}{\\partial w_{52}} = \\delta_{5} (-1)^{0.5} x_{2}", "not a real number"),
    ("fc-3-2-2-softmax", "\\frac{\\partial E}{\\partial w_{64}} = \\delta_6 \\log(-1) y_4", "not a real number"),
    ("fc-3-2-2-softmax", "y_4=\\operatorname{softmax}(net_4)", "layer's vector"),
    (
        "ufldl-3-3-1",
        "\\frac{\\partial J}{\\partial W^{(l)}}=\\begin{bmatrix}1\\end{bmatrix}\\delta^{(l+1)}(a^{(l)})^T",
        "written-out matrix times",
    ),
]


@pytest.mark.parametrize(
    "answer",
    ["W^{(1)}=W^{(1)}\\sum_{k}[({m}\\Delta W^{(1)}){(1)}]", "s=W^{(2)}", "s := s - \\alpha W^{(2)} / \\frac12"],
)
def test_a_matrix_where_a_vector_or_number_belongs_is_a_shape_mismatch(answer):
    verdict = verify_answer("ufldl-3-3-1", answer)
    assert verdict.verdict == "incorrect" and "shapes do not fit" in verdict.message


@pytest.mark.parametrize(("spec", "answer", "said"), FOUND)
def test_fuzzer_findings_are_clear_invalid_verdicts(spec, answer, said):
    verdict = verify_answer(spec, answer)
    assert verdict.verdict == "invalid", verdict.message
    assert said in verdict.message and "internal error" not in verdict.message
