"""Fuzz the derivation checker: what crashes, what is slow, what is judged differently twice,
and which mutated answers it still calls right.

Usage: python benchmarks/fuzz_verify.py [--answers 20000] [--documents 300] [--seed 0]
                                        [--processes 2] [--json results.json] [--no-minimize]

Answers (deterministic for a given --seed):

* **mutated** (63 %): a real answer (tests/data/verify_corpus.toml, verify_general_corpus.toml,
  the notation tests' lists, every display line of outputs/*/derivation*.tex and of the
  layer-notation document of fc-3-2-2) with one to three mutations: tokens deleted, inserted,
  duplicated or swapped, two answers spliced, sub- and superscripts set to odd values ({},
  {-1}, {99999999999999999999}, {l+100}, {(0.5)}, ...), whitelisted (and a few forbidden)
  LaTeX commands inserted, unicode (CJK, look-alikes, control and zero-width characters),
  nested braces and parentheses (up to past the depth limit), huge and tiny numbers, ^T on
  every name, \\frac with 0..3 arguments, primes, \\partial^k, sums with reversed, huge or
  symbolic ranges, free index letters, whitespace removed or added, a second line;
* **value probes** (12 %): a known-correct answer with one mutation of its last right-hand
  side that changes its value (scaled by 2, + 1, negated, a binary sign flipped, a unit index
  or a number changed, a name deleted); one judged "correct" is a soundness *candidate*;
* **generated** (25 %): a small grammar over the names of the spec's network (lhs: a delta,
  a derivative of the cost, an update, a forward quantity; rhs: sums, products, fractions,
  powers, activations and their derivatives, sums over ranges and sets, transposes,
  Hadamard products, Iverson brackets, norms, matrices, free indices, conditions).

Each is judged by ``verify_answer`` with the default 5 s limit, mostly for its own spec (a
random spec, notation or target one time in five). Documents: display blocks of the real
documents, cut, re-wrapped (align, align*, aligned, equation, gather, $$, \\[ \\], plain lines),
rows mutated, continuation rows "&= ...", lemma pragmas added and removed, judged by
``verify_document``.

Reported: the verdicts; every "internal error" grouped by exception type and the first line of
its message, with the shortest answer of the group, a greedily minimised one and the last
frames of its traceback (check._verify without the catch-all); exceptions escaping
verify_answer / verify_document; non-strict JSON (NaN, inf); answers over 2 s; a sample of 200
answers judged again (verdict and message must be identical); soundness candidates.

Two worker processes (spawn, each warms the network cache once) take one job at a time over a
pipe; a job that outlives its deadline (the checker's own limit did not fire) is recorded as
a hang and its worker replaced.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import multiprocessing as mp
import random
import re
import sys
import time
import tomllib
import traceback
import warnings
from multiprocessing.connection import wait
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SPECS = ["fc-3-2-2", "fc-3-2-2-softmax", "ufldl-3-3-1", "cs231n-circuit", "cs231n-neuron", "colah-graph"]
LAYERED = {"fc-3-2-2", "fc-3-2-2-softmax", "ufldl-3-3-1"}
NOTATIONS = [None, "node", "layer"]
SLOW = 2.0  # seconds: an answer slower than this is listed
ANSWER_DEADLINE = 90.0  # seconds before a job is a hang (the checker's own limit is 5 s a line)
DOCUMENT_DEADLINE = 300.0
REJUDGE = 200
VERDICTS = {"correct", "incorrect", "invalid", "undecided"}

# --- vocabulary ----------------------------------------------------------------------------------

TOKEN = re.compile(
    r"\\[A-Za-z]+|\\.|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[A-Za-z]|\d+(?:\.\d+)?|\.\d+|\s+|.", re.DOTALL
)
SYMBOLS = list("+-*/^_'=()[]{},&|<>:.;") + ["\\\\", "\\{", "\\}", "$", "#", "%", "~", "!", "?", "@", '"', "`"]
LETTERS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
FORBIDDEN_COMMANDS = ["input", "def", "write", "csname", "hat", "mathbb", "foo", "sqrtx", "newcommand", "catcode"]
ODD_INDICES = [
    "{}", "{-1}", "{99999999999999999999}", "{l+100}", "{(0.5)}", "{(l+100)}", "{(n_l+5)}", "{(0)}", "{(-1)}",
    "{(99999999999999999999)}", "{0}", "{,}", "{4,}", "{,4}", "{k,j,i}", "{\\alpha}", "{T}", "{(T)}", "{(L)}",
    "{(L+1)}", "{(n_l)}", "{(n_{l}-1)}", "{(l-1)}", "{(l)}", "{(l+1)}", "{l}", "{kk}", "{k+1}", "{j-1}", "{0.5}",
    "{1e5}", "{'}", "{{6}}", "{(6)}", "{ 6 }", "{6 4}", "{64}", "{46}", "{1234567}", "T", "\\top", "-", "2", "0",
    "{((l))}", "{(l+1}", "{-}", "{+}", "{lk}", "{l,k}", "{k}", "{j}", "{i}", "{m}", "{n}", "{s_{l+1}}", "{(2)}{(3)}",
    "{\\text{new}}", "{new}", "{(t+1)}", "{+}", "{(1)}_{11}", "{(3)}", "{(4)}", "{(1)}", "{(2)}", "{(9)}",
    "{" + "9" * 30 + "}", "{(" + "9" * 31 + ")}", "{(" + "1" * 9 + ")}", "{\\infty}", "{输出层}", "{(l+l)}", "{(L-1)}",
]  # fmt: skip
HUGE = [
    "9" * 30, "9" * 31, "0." + "0" * 28 + "1", "1" + "0" * 29, "0", "00", "0.0", "1.", ".5", "3.14159265358979323846264338327",
    "10^{100}", "10^{10^{10}}", "2^{2^{2^{2^{2}}}}", "99^{99}", "(0.1)^{-100}", "0^{-1}", "0^0", "(-1)^{0.5}",
    "(-8)^{1/3}", "\\frac{1}{0}", "\\frac{0}{0}", "e^{1000}", "e^{-1000}", "\\exp(\\exp(\\exp(10)))", "\\infty",
    "10^{-100}", "1/0", "(" + "9" * 30 + ")^{" + "9" * 30 + "}", "2^{100}", "\\log(0)", "\\log(-1)", "\\tanh(" + "9" * 30 + ")",
]  # fmt: skip
UNICODE = [
    "输出层", "隐藏层", "輸出層", "隱層", "输入层", "层", "中文", "對於", "其中", "\u3400", "\u4dbf", "\uf900", "\ufaff",
    "δ", "σ", "∑", "∂", "η", "−", "×", "·", "∇", "⊙", "←", "≈", "\u200b", "\u00a0", "\ufeff", "é", "ｙ", "𝑦",
    "😀", "\x00", "\x07", "\x0b", "\x0c", "\u202e", "\u0301", "\u3000", "，", "（", "）", "＝", "\ud7ff", "\U0001f600",
    "\u2028", "\u2029", "\x85", "ß", "İ", "ﬁ", "\u00ad", "\t", "\r\n", "\n\n",
]  # fmt: skip
SNIPPETS = [
    "\\frac", "\\frac{1}{2}", "\\frac12", "\\frac{}{}", "\\frac{a}{b}{c}", "\\frac{1}", "\\frac{\\partial E}{\\partial net_6}",
    "\\frac{\\partial^2 E}{\\partial net_6 \\partial net_7}", "\\frac{d}{dx}", "\\frac{\\partial}{\\partial w_{64}}",
    "\\frac{d}{d}", "\\partial", "\\partial^{k}", "\\partial^2", "\\nabla", "\\nabla_{W^{(1)}} J", "\\nabla_{}",
    "\\sum", "\\sum_k", "\\sum_{k=7}^{6}", "\\sum_{k=1}^{99999999}", "\\sum_{k=1}^{n}", "\\sum_{k=-5}^{5}",
    "\\sum_{j=1}^{s_{l+1}}", "\\sum_{k \\in hidden}", "\\sum_{k \\in 输出层}", "\\sum_{i=1}^{m}", "\\sum_{k=0}^{999}",
    "\\sum_{k=1}^{1001}", "\\sum_{k=6}^{7}", "\\sum_{k \\in nowhere}", "\\sum_{1=1}^{2}", "\\sum_{k=l}^{l+1}",
    "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", "\\begin{bmatrix}\\end{bmatrix}", "\\begin{bmatrix} 1 \\\\ \\end{bmatrix}",
    "\\begin{pmatrix} 1 & 2 \\\\ 3 \\end{pmatrix}", "\\begin{align}", "\\end{align}", "\\begin{cases} 1 \\end{cases}",
    "[net_4 > 0]", "[ > ]", "[a < b < c]", "\\|W^{(1)}\\|_F^2", "\\lVert", "\\rVert", "\\|W\\|_3^2", "\\|W\\|_F^3",
    "\\quad \\text{for } j \\in hidden", "\\forall j \\in 输出层", "\\quad \\text{where } k \\in nothing",
    "\\text{for } j \\in", "J(W,b;x,y)", "J(", "E(w)", "\\Delta", "\\Delta W^{(1)}", "\\Delta w_{64}",
    "^{new}", "^{(t+1)}", "^{+}", "\\leftarrow", ":=", "=", "&", "&=", "\\\\", "\\gets", "\\coloneqq", "\\approx",
    "\\sigma'", "\\sigma''(net_6)", "f'(net_4)", "f''", "\\tanh'(z)", "\\sigma^2(net_6)", "\\sigma^{-1}(y_6)",
    "\\max(0, net_4)", "\\max()", "\\min(1)", "\\max(1,2,3,4)", "\\exp", "\\log_2(x)", "\\sgn(x)", "\\sqrt{2}",
    "relu(net_4)", "relu'(net_4)", "softmax_1'(m)", "softmax(z)", "H(0)", "\\vec{\\delta}", "\\mathbf{}",
    "\\mathrm{net}_{6}", "\\operatorname{relu}", "\\text{输出层}", "\\left(", "\\right)", "\\left[", "\\right]",
    "\\bigl(", "\\Bigr)", "\\cdots", "\\ldots", "\\infty", "\\prime", "\\top", "^\\top", "^T", "^{T}", "^{\\top}",
    "\\odot", "\\circ", "\\bullet", "\\times", "\\cdot", "\\div", "\\ast", "\\displaystyle", "\\limits", "\\tfrac",
    "\\dfrac{1}{m}", "dE/dw_75", "dE/dnet_6", "d/dx", "\\delta_{ij}", "\\delta^{(l)}", "W^{(l)}_{ij}", "n_l",
    "s_{l+1}", "a^{(n_l)}", "z^{(L)}", "\\delta^{(n_l)}", "y^{(i)}", "x^{(i)}", "(a^{(2)})^T", "{y}_{i}",
]  # fmt: skip
SETS = ["outputs", "hidden", "inputs", "输出层", "隐藏层", "輸入層", "output", "nowhere"]
FREE_LETTERS = list("ijklmnpqz") + ["l+1", "T", "L"]
NAMED_COMMANDS = {
    "alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "sigma", "tau", "phi", "psi",
    "omega", "Delta", "Sigma", "tanh", "exp", "log", "ln", "max", "min", "sgn", "sqrt", "nabla", "partial",
}  # fmt: skip
LEMMA_PRAGMAS = ["% verify: lemma", "% verify: lemma where \\sum_i t_i = 1", "% verify: lemma where nonsense"]


def _is_name_token(tok: str) -> bool:
    """A letter, a Greek letter or function command, or a closing bracket: what ^T or ' can follow."""
    if tok.startswith("\\"):
        return tok[1:] in NAMED_COMMANDS
    return bool(re.fullmatch(r"[A-Za-z]|[)}\]]", tok))


# --- seeds ---------------------------------------------------------------------------------------


def _seed(spec, answer, verdict=None, target=None, notation=None, origin="corpus"):
    return {
        "spec": spec,
        "answer": answer,
        "verdict": verdict,
        "target": target,
        "notation": notation,
        "origin": origin,
    }


def load_seeds() -> list[dict]:
    """Every answer whose verdict is known, or at least that a student could write."""
    seeds = []
    for name in ("verify_corpus.toml", "verify_general_corpus.toml"):
        with open(DATA / name, "rb") as handle:
            for case in tomllib.load(handle)["case"]:
                seeds.append(
                    _seed(case["spec"], case["answer"], case["verdict"], case.get("target"), case.get("notation"))
                )
    notation_tests = ROOT / "tests" / "test_verify_notation.py"
    try:
        spec_ = importlib.util.spec_from_file_location("_fuzz_notation_cases", notation_tests)
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
        seeds += [_seed(s, a, "correct", t, origin="notation") for s, a, t in module.RIGHT]
        seeds += [_seed(s, a, "incorrect", origin="notation") for s, a, _ in module.WRONG]
        seeds += [_seed(s, a, "invalid", origin="notation") for s, a, _ in module.REFUSED]
    except Exception as err:  # noqa: BLE001 - the corpora alone are enough
        print(f"(notation tests not loaded: {err})", file=sys.stderr)
    for spec, notation, text in documents():
        seeds += [_seed(spec, body, "correct", None, notation, "document") for body in document_lines(text)]
    return seeds


def documents() -> list[tuple[str, str | None, str]]:
    """(spec, notation, LaTeX) of every generated document, and fc-3-2-2 in layer notation."""
    docs = []
    for spec in SPECS:
        for name in ("derivation.tex", "derivation.zh.tex"):
            path = ROOT / "outputs" / spec / name
            if path.exists():
                docs.append((spec, None, path.read_text()))
    try:
        from dataclasses import replace

        from symbackprop import derive, load_spec

        docs.append(("fc-3-2-2", "layer", derive(replace(load_spec("fc-3-2-2"), notation="layer")).to_latex()))
    except Exception as err:  # noqa: BLE001
        print(f"(layer-notation document not derived: {err})", file=sys.stderr)
    return docs


def document_lines(text: str) -> list[str]:
    """The lines of a document as verify_document judges them (continuations completed), lemma
    lines left out (they are identities only inside their block)."""
    from symbackprop.verify.check import _lhs_text
    from symbackprop.verify.latex import math_blocks

    out, previous_lhs = [], None
    for line in math_blocks(text):
        body = line.text.replace("&", " ").strip()
        if body.startswith("="):
            if previous_lhs is None:
                continue
            body = previous_lhs + " " + body
        else:
            previous_lhs = _lhs_text(body)
        if line.lemma is None:
            out.append(body)
    return list(dict.fromkeys(out))


DISPLAY = re.compile(
    r"(?P<pragma>%[ \t]*verify:[^\n]*\n)?\\begin\{(?P<env>align\*?|equation\*?|gather\*?)\}(?P<body>.*?)\\end\{(?P=env)\}",
    re.DOTALL,
)


def displays(docs) -> dict[tuple[str, str | None], list[tuple[str | None, str, list[str]]]]:
    """(pragma, environment, rows) of every display of every document, by (spec, notation)."""
    found = collections.defaultdict(list)
    for spec, notation, text in docs:
        for m in DISPLAY.finditer(text):
            rows = [r.strip() for r in re.split(r"\\\\[ \t]*\n", m.group("body")) if r.strip()]
            if rows:
                pragma = m.group("pragma").strip() if m.group("pragma") else None
                found[(spec, notation)].append((pragma, m.group("env"), rows))
    return found


# --- names of each network, for the grammar ---------------------------------------------------------

GREEK_BASES = {"delta", "eta", "alpha", "lambda", "sigma"}


def name_pools() -> dict[tuple[str, str | None], list[tuple[str, tuple, int | None]]]:
    from symbackprop.verify.context import context

    pools = {}
    for spec in SPECS:
        for notation in [None, "layer"] if spec == "fc-3-2-2" else [None]:
            pools[(spec, notation)] = sorted(context(spec, notation).table.symbols, key=str)
    return pools


# --- mutations -------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def sites(toks: list[str]) -> list[int]:
    return [i for i, t in enumerate(toks) if not t.isspace()]


def _group_end(toks: list[str], i: int) -> int:
    """Index after the group starting at toks[i] ('{...}' or one token)."""
    if i >= len(toks):
        return i
    if toks[i] != "{":
        return i + 1
    depth = 0
    for j in range(i, len(toks)):
        depth += {"{": 1, "}": -1}.get(toks[j], 0)
        if depth == 0:
            return j + 1
    return len(toks)


class Mutator:
    """The mutations; each takes and returns a token list. ``seeds`` for splicing."""

    def __init__(self, rng: random.Random, seeds: list[dict]):
        self.rng, self.seeds = rng, seeds

    def pick_site(self, toks):
        s = sites(toks)
        return self.rng.choice(s) if s else 0

    def delete(self, toks):
        if not toks:
            return toks
        i = self.pick_site(toks)
        return toks[:i] + toks[i + self.rng.choice([1, 1, 1, 2, 3]) :]

    def insert_token(self, toks):
        i = self.rng.randrange(len(toks) + 1)
        pool = self.rng.choice([SYMBOLS, LETTERS, list("0123456789")])
        return toks[:i] + [self.rng.choice(pool)] + toks[i:]

    def duplicate(self, toks):
        if not toks:
            return toks
        i = self.pick_site(toks)
        j = min(len(toks), i + self.rng.choice([1, 2, 3, 4, 8]))
        return toks[:j] + toks[i:j] + toks[j:]

    def swap(self, toks):
        s = sites(toks)
        if len(s) < 2:
            return toks
        toks = list(toks)
        if self.rng.random() < 0.5:
            k = self.rng.randrange(len(s) - 1)
            i, j = s[k], s[k + 1]
        else:
            i, j = self.rng.sample(s, 2)
        toks[i], toks[j] = toks[j], toks[i]
        return toks

    def splice(self, toks):
        other = tokens(self.rng.choice(self.seeds)["answer"])
        i, j = self.rng.randrange(len(toks) + 1), self.rng.randrange(len(other) + 1)
        if self.rng.random() < 0.5:
            return toks[:i] + other[j:]
        k = min(len(other), j + self.rng.randrange(1, 12))
        return toks[:i] + [" "] + other[j:k] + [" "] + toks[i:]

    def odd_index(self, toks):
        marks = [i for i, t in enumerate(toks) if t in ("_", "^")]
        odd = self.rng.choice(ODD_INDICES)
        if marks and self.rng.random() < 0.85:
            i = self.rng.choice(marks)
            j = i + 1
            while j < len(toks) and toks[j].isspace():
                j += 1
            return toks[: i + 1] + [odd] + toks[_group_end(toks, j) :]
        letters = [i for i, t in enumerate(toks) if _is_name_token(t)]
        i = self.rng.choice(letters) if letters else len(toks) - 1
        return toks[: i + 1] + [self.rng.choice("_^"), odd] + toks[i + 1 :]

    def insert_command(self, toks):
        i = self.rng.randrange(len(toks) + 1)
        r = self.rng.random()
        if r < 0.45:
            from symbackprop.verify.latex import ALLOWED

            piece = "\\" + self.rng.choice(sorted(ALLOWED))
        elif r < 0.5:
            piece = "\\" + self.rng.choice(FORBIDDEN_COMMANDS)
        else:
            piece = self.rng.choice(SNIPPETS)
        return toks[:i] + [" ", piece, " "] + toks[i:]

    def unicode(self, toks):
        i = self.rng.randrange(len(toks) + 1)
        if self.rng.random() < 0.8:
            piece = self.rng.choice(UNICODE)
        else:  # any code point but surrogates
            piece = chr(self.rng.choice([self.rng.randrange(0x80, 0xD800), self.rng.randrange(0xE000, 0x110000)]))
        if self.rng.random() < 0.3 and toks:  # replace instead of insert
            j = self.pick_site(toks)
            return toks[:j] + [piece] + toks[j + 1 :]
        return toks[:i] + [piece] + toks[i:]

    def nest(self, toks):
        k = self.rng.choice([1, 2, 3, 5, 10, 49, 50, 99, 100, 101, 150, 400])
        opener, closer = self.rng.choice([("{", "}"), ("(", ")"), ("[", "]"), ("\\left(", "\\right)"), ("-", "")])
        s = sites(toks)
        if not s:
            return [opener * k] + toks + [closer * k]
        i = self.rng.choice(s)
        j = min(len(toks), i + self.rng.choice([1, 2, 3, 5, 20]))
        r = self.rng.random()
        if r < 0.15:  # unbalanced
            return toks[:i] + [opener * k] + toks[i:]
        if r < 0.25:
            return toks[:j] + [closer * k] + toks[j:]
        return toks[:i] + [opener * k] + toks[i:j] + [closer * k] + toks[j:]

    def huge_number(self, toks):
        numbers = [i for i, t in enumerate(toks) if re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", t)]
        piece = self.rng.choice(HUGE)
        if numbers and self.rng.random() < 0.6:
            i = self.rng.choice(numbers)
            return toks[:i] + ["{" + piece + "}" if toks[i - 1 : i] in (["^"], ["_"]) else piece] + toks[i + 1 :]
        i = self.rng.randrange(len(toks) + 1)
        return toks[:i] + [" ", piece, " "] + toks[i:]

    def transpose_all(self, toks):
        mark = self.rng.choice(["^T", "^{T}", "^\\top", "^{\\top}", "^\\intercal", "'"])
        p = self.rng.choice([0.3, 1.0])
        out = []
        for t in toks:
            out.append(t)
            if _is_name_token(t) and self.rng.random() < p:
                out.append(mark)
        return out

    def frac_args(self, toks):
        n = self.rng.randrange(4)
        args = "".join(
            self.rng.choice(["{a}", "{1}", "{}", "2", "{y_6}", "{\\partial E}", "{m}", "{0}"]) for _ in range(n)
        )
        i = self.rng.randrange(len(toks) + 1)
        return toks[:i] + [" ", "\\" + self.rng.choice(["frac", "dfrac", "tfrac"]) + args, " "] + toks[i:]

    def primes(self, toks):
        names = [i for i, t in enumerate(toks) if _is_name_token(t)]
        i = self.rng.choice(names) if names else len(toks) - 1
        return toks[: i + 1] + ["'" * self.rng.choice([1, 1, 2, 3, 5, 40])] + toks[i + 1 :]

    def partial_power(self, toks):
        power = self.rng.choice(["2", "k", "{-1}", "{0}", "{" + "9" * 20 + "}", "{}", "n", "{l+1}", "3"])
        partials = [i for i, t in enumerate(toks) if t == "\\partial"]
        if partials and self.rng.random() < 0.7:
            out = list(toks)
            for i in partials if self.rng.random() < 0.5 else [self.rng.choice(partials)]:
                out[i] = "\\partial^" + power
            return out
        piece = f"\\frac{{\\partial^{power} E}}{{\\partial net_6^{power}}}"
        i = self.rng.randrange(len(toks) + 1)
        return toks[:i] + [" ", piece, " "] + toks[i:]

    def sum_range(self, toks):
        k = self.rng.choice("ijkl")
        low, high = self.rng.choice(
            [("7", "6"), ("1", "99999999"), ("1", "n"), ("-5", "5"), ("1", "s_{l+1}"), ("1", "m"), ("0", "999"),
             ("1", "1001"), ("6", "7"), ("1", "n_l"), ("1", "{" + "9" * 30 + "}"), ("0.5", "2"), ("l", "l+1"),
             ("1", "0"), ("4", "5"), ("1", "3"), ("1", "x"), ("1", "-1"), ("1", "s_{99}")]
        )  # fmt: skip
        r = self.rng.random()
        if r < 0.5:
            piece = f"\\sum_{{{k}={low}}}^{{{high}}}"
        elif r < 0.75:
            piece = f"\\sum_{{{k} \\in {self.rng.choice(SETS)}}}"
        else:
            piece = f"\\sum_{k}"
        existing = [i for i, t in enumerate(toks) if t == "\\sum"]
        if existing and self.rng.random() < 0.5:  # replace a sum's range
            i = existing[0]
            j = i + 1
            if j < len(toks) and toks[j] == "_":
                j = _group_end(toks, j + 1)
                if j < len(toks) and toks[j] == "^":
                    j = _group_end(toks, j + 1)
            return toks[:i] + [piece, " "] + toks[j:]
        body = f"{self.rng.choice(['y', 'w', 'delta', 'a', 'z'])}_{k}"
        i = self.rng.randrange(len(toks) + 1)
        return toks[:i] + [" ", piece, " ", body if self.rng.random() < 0.5 else "", " "] + toks[i:]

    def free_letter(self, toks):
        digits = [i for i, t in enumerate(toks) if t.isdigit() and i > 0 and toks[i - 1] in ("_", "{", ",")]
        letter = self.rng.choice(FREE_LETTERS)
        if digits and self.rng.random() < 0.7:
            i = self.rng.choice(digits)
            return toks[:i] + [letter if len(letter) == 1 else "{" + letter + "}"] + toks[i + 1 :]
        i = self.rng.randrange(len(toks) + 1)
        return toks[:i] + [" ", self.rng.choice(["y", "w", "delta", "a", "t", "b"]) + "_" + letter[0], " "] + toks[i:]

    def whitespace(self, toks):
        if self.rng.random() < 0.5:
            return [t for t in toks if not t.isspace()]
        return [t for tok in toks for t in ((tok, " ") if not tok.isspace() else (tok,))]

    def second_line(self, toks):
        other = self.rng.choice(self.seeds)["answer"]
        text = "".join(toks)
        form = self.rng.choice(
            ["{a} \\\\ {b}", "\\begin{{aligned}} {a} \\\\ {b} \\end{{aligned}}", "{a} \\\\ &= {r}",
             "\\begin{{align}} {a} \\\\ &= {r} \\end{{align}}", "{a} \\\\", "\\\\ {a}", "{a} \\\\[2pt] {b}",
             "\\begin{{aligned}} {a} \\end{{aligned}} = {b}", "\\begin{{split}} {a} \\\\ {b}"]
        )  # fmt: skip
        rhs = other.split("=", 1)[-1]
        return tokens(form.format(a=text, b=other, r=rhs))

    OPERATORS: ClassVar[list[str]] = [
        "delete", "insert_token", "duplicate", "swap", "splice", "odd_index", "insert_command", "unicode", "nest",
        "huge_number", "transpose_all", "frac_args", "primes", "partial_power", "sum_range", "free_letter",
        "whitespace", "second_line",
    ]  # fmt: skip
    WEIGHTS: ClassVar[list[int]] = [8, 5, 4, 5, 5, 12, 10, 4, 4, 5, 3, 4, 4, 3, 6, 8, 2, 2]

    def mutate(self, text: str) -> tuple[str, list[str]]:
        toks, ops = tokens(text), []
        for _ in range(self.rng.choice([1, 1, 1, 1, 2, 2, 3])):
            op = self.rng.choices(self.OPERATORS, self.WEIGHTS)[0]
            toks = getattr(self, op)(toks)
            ops.append(op)
        return "".join(toks), ops


# --- value-changing mutations of a known-correct answer --------------------------------------------

_RELATIONS = re.compile(r"=|\\leftarrow|\\gets|:=|\\coloneqq|\\approx|\\equiv")


def _split_rhs(text: str) -> tuple[str, str, str] | None:
    """(everything up to the last right-hand side, that right-hand side, the condition after it)."""
    from symbackprop.verify.latex import _CONDITION

    if re.search(r"\\\\|\\begin\{(?:align|aligned|gather|equation|split)", text):
        return None
    condition = ""
    m = _CONDITION.search(text)
    if m:
        text, condition = text[: m.start()], text[m.start() :]
    stripped = text.rstrip()
    if stripped.endswith((".", ",")):
        stripped = stripped[:-1]
    depth, last = 0, None
    for m in re.finditer(r"[{}]|" + _RELATIONS.pattern, stripped):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
        elif depth == 0:
            last = m
    head, rhs = (stripped[: last.end()], stripped[last.end() :]) if last else ("", stripped)
    if not rhs.strip():
        return None
    return head, rhs, condition


def _plain_positions(toks: list[str]) -> list[bool]:
    """Which tokens are outside sub- and superscripts and sums' ranges (their value counts)."""
    plain, stack, pending = [], [], False
    for t in toks:
        if t == "{":
            stack.append(pending)
            pending = False
            plain.append(False)
            continue
        if t == "}":
            if stack:
                stack.pop()
            plain.append(False)
            continue
        inside = any(stack)
        plain.append(not inside and not pending)
        if t in ("_", "^"):
            pending = True
        elif not t.isspace():
            pending = False
    return plain


def value_mutation(rng: random.Random, text: str, indices: list[str]) -> tuple[str, str] | None:
    """A mutation of the last right-hand side that changes its value, and its name; None if none applies."""
    split = _split_rhs(text)
    if split is None:
        return None
    head, rhs, condition = split
    toks = tokens(rhs)
    plain = _plain_positions(toks)
    kinds = ["scale", "plus_one", "negate", "sign", "index", "number", "drop_name"]
    rng.shuffle(kinds)
    for kind in kinds:
        new = None
        if kind == "scale":
            new = f" 2 \\left({rhs}\\right)"
        elif kind == "plus_one":
            new = f" \\left({rhs}\\right) + 1"
        elif kind == "negate":
            new = f" -\\left({rhs}\\right)"
        elif kind == "sign":
            spots = [i for i, t in enumerate(toks) if t in ("+", "-") and plain[i]]
            if spots:
                i = rng.choice(spots)
                new = "".join(toks[:i] + ["+" if toks[i] == "-" else "-"] + toks[i + 1 :])
        elif kind == "index":  # a unit index: y_6 -> y_7, w_{64} -> w_{65}; never a sum's range or a layer
            spots = [
                i
                for i, t in enumerate(toks)
                if t.isdigit()
                and i >= 1
                and (toks[i - 1] == "_" or (toks[i - 1] == "{" and toks[i - 2 : i - 1] == ["_"]))
            ]
            if spots:
                i = rng.choice(spots)
                k = rng.randrange(len(toks[i]))
                others = [x for x in indices if x != toks[i][k]]
                if others:
                    new = "".join(toks[:i] + [toks[i][:k] + rng.choice(others) + toks[i][k + 1 :]] + toks[i + 1 :])
        elif kind == "number":
            spots = [i for i, t in enumerate(toks) if re.fullmatch(r"\d+", t) and plain[i]]
            if spots:
                i = rng.choice(spots)
                new = "".join(toks[:i] + [str(int(toks[i]) + rng.choice([1, 2]))] + toks[i + 1 :])
        elif kind == "drop_name":
            spots = [
                i for i, t in enumerate(toks) if plain[i] and re.fullmatch(r"[A-Za-z]|\\(eta|alpha|lambda|sigma)", t)
            ]
            if len(spots) > 1:
                i = rng.choice(spots)
                j = i + 1
                if j < len(toks) and toks[j] == "_":
                    j = _group_end(toks, j + 1)
                new = "".join(toks[:i] + toks[j:])
        if new is not None and new.strip() != rhs.strip():
            return head + new + condition, kind
    return None


# --- grammar -------------------------------------------------------------------------------------


class Grammar:
    """Random answers built from the names of a network."""

    def __init__(self, rng: random.Random, pools: dict):
        self.rng, self.pools = rng, pools

    def latex_name(self, key, free=0.0) -> str:
        base, indices, layer = key
        rng = self.rng
        if base in GREEK_BASES or base in ("Delta",):
            text = "\\" + base
        elif base == "net" and rng.random() < 0.5:
            text = rng.choice(["\\mathrm{net}", "\\text{net}", "\\operatorname{net}"])
        elif base in ("W", "delta", "a", "z") and layer is not None and rng.random() < 0.1:
            text = (
                rng.choice(["\\mathbf{", "\\vec{", "\\boldsymbol{"])
                + (("\\" + base) if base in GREEK_BASES else base)
                + "}"
            )
        else:
            text = base
        idx = [rng.choice("ijk") if rng.random() < free else i for i in indices]
        sub = ""
        if idx:
            joined = ("," if rng.random() < 0.2 else "").join(idx)
            sub = f"_{{{joined}}}" if (len(joined) > 1 or rng.random() < 0.5) else f"_{joined}"
            if rng.random() < 0.05 and len(idx) == 1 and base in ("w", "x", "p") and not indices[0].isalpha():
                sub = idx[0]  # w0, x1: a graph's node names
        sup = ""
        if layer is not None:
            lay = rng.choice(["l", "l+1", "l-1", "n_l", "L"]) if rng.random() < free else str(layer)
            sup = f"^{{({lay})}}"
        return text + (sub + sup if rng.random() < 0.5 else sup + sub)

    def atom(self, pool, free):
        r = self.rng.random()
        if r < 0.75:
            return self.latex_name(self.rng.choice(pool), free)
        if r < 0.9:
            return self.rng.choice(["1", "2", "0.5", "\\frac12", "\\frac{1}{2}", "\\frac{1}{m}", "3", "0"])
        return self.rng.choice(["y_j", "w_{kj}", "\\delta_k", "a^{(l)}_i", "net_j", "t_k", "x", "e", "m", "n_l"])

    def expr(self, pool, depth, free) -> str:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.25:
            return self.atom(pool, free)
        a = lambda: self.expr(pool, depth - 1, free)
        form = rng.choice(
            ["{a} + {b}", "{a} - {b}", "{a} {b}", "{a} \\cdot {b}", "\\frac{{{a}}}{{{b}}}", "{a} / {b}", "({a})",
             "\\left({a}\\right)", "-{a}", "({a})^{{2}}", "{a}^2", "\\sigma({a})", "\\sigma'({a})", "f'({a})",
             "f({a})", "\\tanh({a})", "\\exp({a})", "e^{{{a}}}", "\\log({a})", "\\max(0, {a})", "relu({a})",
             "[{a} > 0]", "({a})^T", "{a}^{{\\top}}", "{a} \\odot {b}", "{a} \\circ {b}", "\\sum_{{k=6}}^{{7}} {a}",
             "\\sum_{{k \\in {s}}} {a}", "\\sum_{{i=1}}^{{m}} {a}", "\\sum_{{j=1}}^{{s_{{l+1}}}} {a}",
             "\\lVert {a} \\rVert_F^2", "\\Delta {a}", "\\begin{{bmatrix}} {a} \\\\ {b} \\end{{bmatrix}}",
             "\\begin{{bmatrix}} {a} & {b} \\end{{bmatrix}}", "{a} (1 - {a})", "\\frac{{\\partial E}}{{\\partial {n}}}",
             "\\frac{{\\partial J}}{{\\partial {n}}}", "dE/d{n}", "\\frac{{d}}{{d{n}}} {a}", "\\sigma^2({a})",
             "\\tfrac{{{a}}}{{2}}", "{a} \\times {b}", "\\min({a}, {b})", "\\sgn({a})", "{a}'"]
        )  # fmt: skip
        return form.format(
            a=a(), b=a(), s=rng.choice(SETS), n=self.latex_name(rng.choice(pool), free) if "{n}" in form else ""
        )

    def lhs(self, pool, free) -> str:
        rng = self.rng
        key = rng.choice(pool)
        name = self.latex_name(key, free)
        objective = "J" if any(k[0] == "J" for k in pool) else "E"
        form = rng.choice(
            ["{n}", "{n}", "\\frac{{\\partial {o}}}{{\\partial {n}}}", "\\frac{{\\partial {o}}}{{\\partial {n}}}",
             "d{o}/d{n}", "\\nabla_{{{n}}} {o}", "{n} \\leftarrow {n} - \\eta", "{n} := {n} - \\alpha",
             "{n}^{{new}}", "\\Delta {n}", "\\frac{{\\partial}}{{\\partial {n}}} {o}", "\\frac{{d{o}}}{{d{n}}}"]
        )  # fmt: skip
        return form.format(n=name, o=objective)

    def answer(self, key) -> tuple[str, str | None]:
        """(answer, target) for the network ``key`` = (spec, notation)."""
        rng = self.rng
        pool = self.pools[key]
        free = rng.choice([0.0, 0.0, 0.3, 0.7])
        depth = rng.choice([1, 2, 2, 3, 3, 4])
        rhs = self.expr(pool, depth, free)
        r = rng.random()
        if r < 0.08:
            return rhs, self.latex_name(rng.choice(pool), 0.0)  # with a target
        lhs = self.lhs(pool, free)
        relation = " = " if "\\leftarrow" not in lhs and ":=" not in lhs else " "
        text = lhs + relation + rhs
        if rng.random() < 0.15:
            text += " = " + self.expr(pool, depth - 1, free)
        if rng.random() < 0.1:
            text += rng.choice(
                [" \\quad \\text{for } j \\in " + rng.choice(SETS), ", \\forall k \\in " + rng.choice(SETS), ".", ","]
            )
        return text, None


# --- documents -----------------------------------------------------------------------------------


def make_document(rng: random.Random, mutator: Mutator, blocks: list, key) -> str:
    """A document of one to three displays cut from the real ones, re-wrapped and mutated."""
    parts, total = [], 0
    for _ in range(rng.choice([1, 1, 2, 3])):
        pragma, env, rows = rng.choice(blocks)
        start = 0 if rng.random() < 0.5 else rng.randrange(len(rows))
        rows = list(rows[start : start + rng.choice([1, 2, 3, 4, 6])])[: max(1, 12 - total)]
        total += len(rows)
        out = []
        for row in rows:
            r = rng.random()
            if r < 0.25:
                row, _ = mutator.mutate(row)
            elif r < 0.3:
                changed = value_mutation(rng, row.replace("&", " "), ["4", "5", "6", "7", "1", "2", "3"])
                row = changed[0] if changed else row
            elif r < 0.38 and "&=" in row:
                row = "&=" + row.split("&=", 1)[1]  # a continuation with nothing before it
            elif r < 0.42:
                row = row.replace("&", "")
            out.append(row)
        if rng.random() < 0.1:
            rng.shuffle(out)
        if rng.random() < 0.08:
            pragma = rng.choice(LEMMA_PRAGMAS)
        elif rng.random() < 0.05:
            pragma = None
        joiner = rng.choice([" \\\\\n", " \\\\\n", "\\\\[2pt]\n", " \\\\ "])
        body = joiner.join(out)
        wrap = rng.choice(["env", "env", "align*", "aligned", "equation", "gather", "$$", "\\[", "plain"])
        if wrap == "env":
            text = f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}"
        elif wrap == "aligned":
            text = f"\\begin{{equation}}\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n\\end{{equation}}"
        elif wrap == "$$":
            text = f"$$ {body} $$"
        elif wrap == "\\[":
            text = f"\\[ {body} \\]"
        elif wrap == "plain":
            text = "\n".join(out)
        else:
            text = f"\\begin{{{wrap}}}\n{body}\n\\end{{{wrap}}}"
        if pragma:
            text = pragma + "\n" + text
        parts.append(text)
        if rng.random() < 0.5:
            parts.append(
                rng.choice(
                    ["Then, by the chain rule, $x$ follows:", "% a comment \\begin{align} x = 1 \\end{align}",
                     "\\section{Backward pass}", "\\paragraph{softmax} $\\sum_i t_i = 1$:", "\\tag{3}\\label{eq:x}",
                     "% verify: lemma", "$$", "\\begin{align}", "输出层的误差项：", ""]
                )
            )  # fmt: skip
    return "\n\n".join(parts)


# --- jobs ------------------------------------------------------------------------------------------


def build_jobs(args) -> tuple[list[dict], list[dict]]:
    rng = random.Random(args.seed)
    seeds = load_seeds()
    pools = name_pools()
    correct = [s for s in seeds if s["verdict"] == "correct"]
    mutator, grammar = Mutator(rng, seeds), Grammar(rng, pools)
    units = {
        "fc-3-2-2": list("4567123"),
        "fc-3-2-2-softmax": list("4567123"),
        "ufldl-3-3-1": list("123"),
        "cs231n-neuron": list("012"),
    }
    answers = []
    for idx in range(args.answers):
        r = rng.random()
        job = {"idx": idx, "kind": "answer", "ops": [], "source": None, "source_verdict": None}
        if r < 0.12:
            source = rng.choice(correct)
            changed = value_mutation(rng, source["answer"], units.get(source["spec"], ["1", "2"]))
            if changed is None:
                text, ops = mutator.mutate(source["answer"])
                job.update(origin="mutated", ops=ops)
            else:
                text = changed[0]
                job.update(origin="value", ops=["value_" + changed[1]])
            job.update(
                source=source["answer"], source_verdict=source["verdict"], spec=source["spec"],
                notation=source["notation"], target=source["target"], answer=text,
            )  # fmt: skip
        elif r < 0.75:
            source = rng.choice(seeds)
            text, ops = mutator.mutate(source["answer"])
            job.update(
                origin="mutated", ops=ops, source=source["answer"], source_verdict=source["verdict"],
                spec=source["spec"], notation=source["notation"], target=source["target"], answer=text,
            )  # fmt: skip
        else:
            key = rng.choice(sorted(pools, key=str))
            text, target = grammar.answer(key)
            job.update(origin="generated", spec=key[0], notation=key[1], target=target, answer=text)
        if job["origin"] != "value" and rng.random() < 0.2:  # another spec, notation or target
            s = rng.random()
            if s < 0.6:
                job["spec"], job["notation"] = rng.choice(SPECS), None
            elif s < 0.8:
                job["notation"] = rng.choice(NOTATIONS)
            else:
                job["target"] = rng.choice(
                    ["delta_6", "w_64", "\\delta^{(2)}", "W^{(1)}", "b_4", "delta_99", "\\frac{", "", "dE/dw_75",
                     "\\frac{\\partial E}{\\partial net_4}", "w_{kj}", "\\delta_j", "q", "w0", "\\delta^{(l)}_i"]
                )  # fmt: skip
        answers.append(job)
    docs = []
    blocks = displays(documents())
    keys = sorted(blocks, key=str)
    for idx in range(args.documents):
        key = rng.choice(keys)
        docs.append(
            {"idx": idx, "kind": "document", "spec": key[0], "notation": key[1],
             "text": make_document(rng, mutator, blocks[key], key)}
        )  # fmt: skip
    return answers, docs


# --- the worker ------------------------------------------------------------------------------------


def _json_problem(verdict) -> str | None:
    try:
        json.dumps(verdict.to_json(), allow_nan=False)
    except (ValueError, TypeError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def frames(err: BaseException, keep: int = 8) -> str:
    """The traceback's last frames inside symbackprop, then the frames below them, then the error."""
    tb = traceback.extract_tb(err.__traceback__)
    ours = [i for i, f in enumerate(tb) if "symbackprop" in f.filename and "fuzz_verify" not in f.filename]
    start = max(0, (ours[-1] if ours else len(tb)) - keep + 1)
    if ours:
        start = min(start, ours[-1])
    picked = tb[start:]
    if len(picked) > keep + 3:  # a deep library tail: the first frames below ours, and the last three
        picked = traceback.StackSummary.from_list([*picked[:keep], *picked[-3:]])
    lines = traceback.format_list(picked)
    return "".join(lines) + "".join(traceback.format_exception_only(err))


def run_job(job: dict) -> dict:
    from symbackprop.verify.check import verify_answer, verify_document
    from symbackprop.verify.latex import math_blocks

    start = time.perf_counter()
    out = {"idx": job["idx"], "kind": job["kind"], "escaped": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if job["kind"] == "answer":
                v = verify_answer(job["spec"], job["answer"], target=job.get("target"), notation=job.get("notation"))
                out.update(
                    verdict=v.verdict, message=v.message, diagnosis=list(v.diagnosis or []), decided_by=v.decided_by,
                    json=_json_problem(v), counterexample=json.dumps(v.counterexample, sort_keys=True, default=str),
                )  # fmt: skip
            elif job["kind"] == "document":
                vs = verify_document(job["spec"], job["text"], notation=job.get("notation"))
                try:
                    texts = {line.number: line.text for line in math_blocks(job["text"])}
                except Exception:  # noqa: BLE001
                    texts = {}
                out.update(
                    lines=[
                        {"line": v.line, "verdict": v.verdict, "message": v.message, "json": _json_problem(v),
                         "text": texts.get(v.line)}
                        for v in vs
                    ]
                )  # fmt: skip
            elif job["kind"] == "minimize":
                out.update(minimize(job))
            elif job["kind"] == "trace":
                out.update(trace=trace(job))
        except BaseException as err:  # exactly what is being looked for
            if isinstance(err, KeyboardInterrupt):
                raise
            out["escaped"] = {
                "type": type(err).__name__,
                "message": str(err).split("\n")[0][:200],
                "traceback": frames(err),
            }
    out["warnings"] = sorted(
        {f"{w.category.__name__} at {Path(w.filename).name}:{w.lineno}: {str(w.message)[:90]}" for w in caught}
    )
    out["seconds"] = time.perf_counter() - start
    return out


def warm():
    from symbackprop.verify.check import verify_answer
    from symbackprop.verify.context import context

    for spec in SPECS:
        for notation in NOTATIONS:
            context(spec, notation)
        verify_answer(spec, "x = 1")
    verify_answer("fc-3-2-2", r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)")


def worker_main(conn):
    warm()
    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(run_job(job))


# --- minimising and tracing an internal error -----------------------------------------------------

INTERNAL = re.compile(
    r"internal error (?P<type>[A-Za-z_][\w.]*): ?(?P<text>.*?)(?: \(step \d+ of the chain\))?(?: In: .*)?$"
)


def error_key(message: str) -> tuple[str, str] | None:
    """(exception type, first line of its message) of an internal error, else None."""
    m = INTERNAL.search(message or "")
    if not m:
        return None
    return m.group("type"), m.group("text").split("\n")[0].strip()


def _generalize(text: str) -> str:
    """Digits and quoted fragments blanked, so that one bug is one group."""
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'…'", text))


def minimize(job: dict, budget: int = 250, seconds: float = 90.0) -> dict:
    """Greedy token deletion that keeps the failure: the same internal-error group (or the same
    escaping exception type)."""
    from symbackprop.verify.check import verify_answer

    def key_of(text):
        try:
            v = verify_answer(job["spec"], text, target=job.get("target"), notation=job.get("notation"))
        except Exception as err:  # noqa: BLE001
            return ("escaped", type(err).__name__)
        k = error_key(v.message)
        return (k[0], _generalize(k[1])) if k else None

    want = key_of(job["answer"])
    if want is None:
        return {"minimal": job["answer"], "reproduced": False}
    toks, calls, start = tokens(job["answer"]), 0, time.monotonic()
    chunk = max(1, len(toks) // 2)
    while chunk >= 1 and calls < budget and time.monotonic() - start < seconds:
        i, changed = 0, False
        while i < len(toks) and calls < budget and time.monotonic() - start < seconds:
            candidate = toks[:i] + toks[i + chunk :]
            calls += 1
            if candidate and "".join(candidate).strip() and key_of("".join(candidate)) == want:
                toks, changed = candidate, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    # drop spaces that do not matter
    text = re.sub(r"\s+", " ", "".join(toks)).strip()
    if key_of(text) != want:
        text = "".join(toks)
    return {"minimal": text, "reproduced": True, "calls": calls}


def trace(job: dict) -> str:
    """The traceback of an internal error: check._verify without verify_answer's catch-all, line by
    line for a several-line answer or a document."""
    from symbackprop.core.limits import time_limit
    from symbackprop.verify import check
    from symbackprop.verify.context import context
    from symbackprop.verify.latex import math_blocks
    from symbackprop.verify.lemma import LemmaBlock, judge_lemma_line

    def attempt(fn):
        try:
            with time_limit(10.0):
                fn()
        except TimeoutError:
            return None
        except Exception as err:  # noqa: BLE001
            return frames(err)
        return None

    text = job.get("answer") or job.get("text")
    if job.get("kind_of") != "document":
        found = attempt(lambda: check._verify(job["spec"], text, job.get("target"), job.get("notation")))
        if found:
            return found
    try:
        lines = math_blocks(text)
    except Exception as err:  # noqa: BLE001
        return frames(err)
    previous_lhs, block = None, LemmaBlock()
    for line in lines:
        body = line.text.replace("&", " ").strip()
        if body.startswith("=") and previous_lhs:
            body = previous_lhs + " " + body
        elif not body.startswith("="):
            previous_lhs = check._lhs_text(body)
        if line.lemma is not None:
            table = context(job["spec"], job.get("notation")).table
            found = attempt(lambda table=table, body=body: judge_lemma_line(table, body, block))
        else:
            found = attempt(lambda body=body: check._verify(job["spec"], body, None, job.get("notation")))
        if found:
            return f"(line {line.number}: {body})\n" + found
    return "(not reproduced without the catch-all: the error happens only in the first run, or only in _follows)"


# --- the pool ------------------------------------------------------------------------------------


class Pool:
    """Worker processes fed one job at a time; a job past its deadline kills its worker."""

    def __init__(self, n: int):
        self.ctx = mp.get_context("spawn")
        self.workers = [self._start() for _ in range(n)]

    def _start(self):
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=worker_main, args=(child,), daemon=True)
        proc.start()
        child.close()
        if parent.recv() != "ready":
            raise RuntimeError("worker did not start")
        return {"proc": proc, "conn": parent, "job": None, "since": 0.0}

    def run(self, jobs: list[dict], deadline_of, progress: str = "") -> dict[int, dict]:
        results, queue, done, last = {}, list(reversed(jobs)), 0, time.monotonic()
        while queue or any(w["job"] is not None for w in self.workers):
            for w in self.workers:
                if w["job"] is None and queue:
                    w["job"], w["since"] = queue.pop(), time.monotonic()
                    w["conn"].send(w["job"])
            busy = {w["conn"]: w for w in self.workers if w["job"] is not None}
            for conn in wait(list(busy), timeout=1.0):
                w = busy[conn]
                try:
                    result = conn.recv()
                except EOFError:  # the worker died
                    result = {"idx": w["job"]["idx"], "kind": w["job"]["kind"], "died": True, "seconds": 0.0}
                    self._replace(w)
                results[w["job"]["idx"]] = result
                w["job"] = None
                done += 1
            now = time.monotonic()
            for w in self.workers:
                if w["job"] is not None and now - w["since"] > deadline_of(w["job"]):
                    job = w["job"]
                    results[job["idx"]] = {
                        "idx": job["idx"],
                        "kind": job["kind"],
                        "hang": True,
                        "seconds": now - w["since"],
                    }
                    self._replace(w)
                    w["job"] = None
                    done += 1
            if progress and now - last > 30:
                print(f"  {progress}: {done}/{len(jobs)}", file=sys.stderr, flush=True)
                last = now
        return results

    def _replace(self, w):
        w["proc"].kill()
        w["proc"].join()
        fresh = self._start()
        w.update(proc=fresh["proc"], conn=fresh["conn"])

    def close(self):
        for w in self.workers:
            try:
                w["conn"].send(None)
            except OSError:
                pass
        for w in self.workers:
            w["proc"].join(timeout=5)
            if w["proc"].is_alive():
                w["proc"].kill()


# --- report ----------------------------------------------------------------------------------------


def _pct(n, total):
    return f"{n} ({100.0 * n / total:.1f} %)" if total else "0"


def _short(text, n=110):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--json", help="write every job and result to this file")
    parser.add_argument("--no-minimize", action="store_true", help="skip minimising the internal-error groups")
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    answers, docs = build_jobs(args)
    print(f"built {len(answers)} answers and {len(docs)} documents in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    pool = Pool(args.processes)
    t1 = time.monotonic()
    results = pool.run(answers, lambda job: ANSWER_DEADLINE, "answers")
    t_answers = time.monotonic() - t1
    doc_jobs = [dict(d, idx=len(answers) + d["idx"]) for d in docs]
    t2 = time.monotonic()
    doc_results = pool.run(doc_jobs, lambda job: DOCUMENT_DEADLINE, "documents")
    t_docs = time.monotonic() - t2

    # non-determinism: a sample judged again, by whichever worker, after everything else
    sample = random.Random(args.seed + 1).sample(range(len(answers)), min(REJUDGE, len(answers)))
    again = pool.run([dict(answers[i], idx=i) for i in sample], lambda job: ANSWER_DEADLINE, "again")

    # --- tallies ---
    total = len(answers)
    verdicts = collections.Counter()
    by_origin = collections.defaultdict(collections.Counter)
    by_op = collections.defaultdict(collections.Counter)
    invalid_kinds = collections.Counter()
    groups = collections.defaultdict(list)
    escaped = collections.defaultdict(list)
    hangs, died, json_bad, slow = [], [], [], []
    warned = collections.defaultdict(list)
    for job in answers:
        res = results[job["idx"]]
        for w in res.get("warnings", []):
            warned[w].append(job)
        if res.get("hang") or res.get("died"):
            (hangs if res.get("hang") else died).append((job, res))
            verdicts["(hang)" if res.get("hang") else "(died)"] += 1
            continue
        if res["escaped"]:
            escaped[(res["escaped"]["type"], _generalize(res["escaped"]["message"]))].append((job, res))
            verdicts["(exception)"] += 1
            continue
        v = res["verdict"]
        verdicts[v if v in VERDICTS else f"(bad verdict {v!r})"] += 1
        by_origin[job["origin"]][v] += 1
        for op in set(job["ops"]):
            by_op[op][v] += 1
        if res["seconds"] > SLOW:
            slow.append((res["seconds"], job, res))
        if res["json"]:
            json_bad.append((job, res))
        if v == "invalid":
            message = res["message"]
            kind = (
                "internal error" if "internal error" in message
                else "time limit" if "took longer than" in message
                else "too large / deep" if "too large or too deeply nested" in message
                else "cannot read" if "cannot read" in message
                else "other"
            )  # fmt: skip
            invalid_kinds[kind] += 1
        key = error_key(res["message"])
        if key:
            groups[(key[0], _generalize(key[1]))].append((job, res))
    suspicious = [
        (job, results[job["idx"]])
        for job in answers
        if job["origin"] == "value" and results[job["idx"]].get("verdict") == "correct"
    ]
    nondet = []
    for i in sample:
        a, b = results[i], again[i]
        fa = (a.get("verdict"), a.get("message"), bool(a.get("hang")))
        fb = (b.get("verdict"), b.get("message"), bool(b.get("hang")))
        if fa != fb:
            nondet.append((answers[i], a, b))
    decided_by_differs = sum(
        1 for i in sample if results[i].get("verdict") == again[i].get("verdict") and
        results[i].get("message") == again[i].get("message") and results[i].get("decided_by") != again[i].get("decided_by")
    )  # fmt: skip

    # documents
    doc_lines = doc_verdicts = 0
    doc_counter = collections.Counter()
    doc_groups = collections.defaultdict(list)
    doc_escaped = collections.defaultdict(list)
    doc_hangs, doc_json = [], []
    doc_slow = []
    for job in doc_jobs:
        res = doc_results[job["idx"]]
        for w in res.get("warnings", []):
            warned[w].append(job)
        if res.get("hang") or res.get("died"):
            doc_hangs.append((job, res))
            continue
        if res["escaped"]:
            doc_escaped[(res["escaped"]["type"], _generalize(res["escaped"]["message"]))].append((job, res))
            continue
        doc_slow.append((res["seconds"], job))
        doc_lines += len(res["lines"])
        for line in res["lines"]:
            doc_verdicts += 1
            doc_counter[line["verdict"] if line["verdict"] in VERDICTS else f"(bad {line['verdict']!r})"] += 1
            if line["json"]:
                doc_json.append((job, line))
            key = error_key(line["message"])
            if key:
                doc_groups[(key[0], _generalize(key[1]))].append((job, line))

    # minimise and trace each group
    details = {}
    if groups or escaped or doc_groups or doc_escaped:
        jobs, k = [], 10**9
        for category, table in (("answer", groups), ("answer-escaped", escaped)):
            for key, members in table.items():
                job = min((m[0] for m in members), key=lambda j: len(j["answer"]))
                details[(category, key)] = {"shortest": job}
                if not args.no_minimize:
                    jobs.append(dict(job, kind="minimize", idx=k, group=(category, key)))
                    k += 1
                jobs.append(dict(job, kind="trace", idx=k, group=(category, key)))
                k += 1
        for category, table in (("document", doc_groups), ("document-escaped", doc_escaped)):
            for key, members in table.items():
                job, line = min(members, key=lambda m: (len(m[1].get("text") or ""), len(m[0]["text"])))
                details[(category, key)] = {"shortest": job, "line": line.get("text")}
                jobs.append(dict(job, kind="trace", kind_of="document", idx=k, group=(category, key)))
                k += 1
        done = pool.run(jobs, lambda job: 400.0, "minimise")
        for job in jobs:
            res = done.get(job["idx"], {})
            slot = details[job["group"]]
            if job["kind"] == "minimize":
                slot["minimal"] = res.get("minimal") if not res.get("escaped") else None
            else:
                slot["trace"] = res.get("trace") or (res.get("escaped") or {}).get("traceback")
    pool.close()
    wall = time.monotonic() - t0

    # --- the table ---
    print()
    print("=" * 100)
    print(f"fuzz_verify  seed={args.seed}  answers={total}  documents={len(docs)}  processes={args.processes}")
    print("=" * 100)
    rows = [
        ("answers judged", f"{total} in {t_answers:.0f} s ({1000 * t_answers / max(total, 1):.0f} ms each, wall)"),
        ("  origin", ", ".join(f"{o} {sum(c.values())}" for o, c in sorted(by_origin.items()))),
    ]
    for v in ["correct", "incorrect", "invalid", "undecided"] + sorted(set(verdicts) - VERDICTS):
        rows.append((f"  {v}", _pct(verdicts[v], total)))
    rows.append(("  invalid because", ", ".join(f"{k} {n}" for k, n in invalid_kinds.most_common())))
    rows += [
        ("exceptions escaping verify_answer", f"{sum(len(m) for m in escaped.values())} in {len(escaped)} groups"),
        ("'internal error' answers", f"{sum(len(m) for m in groups.values())} in {len(groups)} groups"),
        ("hangs (past the deadline) / deaths", f"{len(hangs)} / {len(died)}"),
        ("to_json() not strict JSON", str(len(json_bad))),
        ("answers that emit warnings", f"{sum(1 for j in answers if results[j['idx']].get('warnings'))} ({len(warned)} kinds)"),
        (f"answers over {SLOW:g} s", f"{len(slow)} (slowest {max((s for s, *_ in slow), default=0):.1f} s)"),
        ("non-deterministic (of the re-judged)", f"{len(nondet)} / {len(sample)} (decided_by alone differs: {decided_by_differs})"),
        ("soundness candidates (value probes judged correct)", f"{len(suspicious)} / {sum(by_origin['value'].values())}"),
        ("documents judged", f"{len(docs)} in {t_docs:.0f} s, {doc_lines} lines"),
        ("  line verdicts", ", ".join(f"{k} {n}" for k, n in doc_counter.most_common())),
        ("  exceptions escaping verify_document", f"{sum(len(m) for m in doc_escaped.values())} in {len(doc_escaped)} groups"),
        ("  'internal error' lines", f"{sum(len(m) for m in doc_groups.values())} in {len(doc_groups)} groups"),
        ("  hangs / deaths", str(len(doc_hangs))),
        ("  lines whose to_json() is not strict JSON", str(len(doc_json))),
        ("  slowest document", f"{max((s for s, _ in doc_slow), default=0):.1f} s"),
        ("wall time", f"{wall:.0f} s"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")

    print("\nverdicts by mutation (an answer counts once per operator it went through):")
    print(f"  {'operator':<22}{'n':>6}{'correct':>9}{'incorr.':>9}{'invalid':>9}{'undec.':>8}")
    for op in sorted(by_op):
        c = by_op[op]
        n = sum(c.values())
        print(f"  {op:<22}{n:>6}{c['correct']:>9}{c['incorrect']:>9}{c['invalid']:>9}{c['undecided']:>8}")

    def show_groups(title, table, category):
        if not table:
            return
        print(f"\n{title}:")
        for key, members in sorted(table.items(), key=lambda kv: -len(kv[1])):
            slot = details.get((category, key), {})
            job = slot.get("shortest") or members[0][0]
            print(f"\n  [{len(members)}x] {key[0]}: {key[1]}")
            print(f"    spec={job['spec']} notation={job.get('notation')} target={job.get('target')!r}")
            if category.startswith("document"):
                print(f"    line: {slot.get('line')!r}")
                print(f"    document: {job['text']!r}")
            else:
                print(f"    shortest: {job['answer']!r}")
            if slot.get("minimal"):
                print(f"    minimised: {slot['minimal']!r}")
            if slot.get("trace"):
                print("    traceback (last frames):\n      " + slot["trace"].rstrip().replace("\n", "\n      "))

    show_groups("internal errors (verify_answer)", groups, "answer")
    show_groups("exceptions escaping verify_answer", escaped, "answer-escaped")
    show_groups("internal errors (verify_document lines)", doc_groups, "document")
    show_groups("exceptions escaping verify_document", doc_escaped, "document-escaped")
    if warned:
        print("\nwarnings emitted while judging (they reach a grader's stderr):")
        for text, members in sorted(warned.items(), key=lambda kv: -len(kv[1])):
            job = min(members, key=lambda j: len(j.get("answer") or j.get("text")))
            print(f"  [{len(members)}x] {text}")
            print(f"        e.g. {job['spec']}: {_short(job.get('answer') or job.get('text'), 160)!r}")
    if hangs or died or doc_hangs:
        print("\nhangs and deaths:")
        for job, res in [*hangs, *died, *doc_hangs]:
            print(f"  {res['seconds']:.0f} s {job['spec']}: {_short(job.get('answer') or job.get('text'), 300)!r}")
    if json_bad or doc_json:
        print("\nnot strict JSON:")
        for job, res in (json_bad + doc_json)[:10]:
            print(f"  {res['json']}: {job['spec']} {_short(job.get('answer') or job.get('text'))!r}")
    if slow:
        print(f"\nthe 10 slowest answers (of {len(slow)} over {SLOW:g} s):")
        for seconds, job, res in sorted(slow, key=lambda s: -s[0])[:10]:
            print(f"  {seconds:5.1f} s  {job['spec']:<16} {res['verdict']:<9} {job['answer']!r}")
            print(f"           -> {_short(res['message'], 140)}")
    if nondet:
        print("\nnon-deterministic:")
        for job, a, b in nondet:
            print(f"  {job['spec']} {job['answer']!r}")
            print(f"    1st: {a.get('verdict')} {_short(a.get('message'), 150)} ({a.get('seconds', 0):.1f} s)")
            print(f"    2nd: {b.get('verdict')} {_short(b.get('message'), 150)} ({b.get('seconds', 0):.1f} s)")
    if suspicious:
        print("\nsoundness candidates (a value-changing mutation of a correct answer, judged correct):")
        for job, res in suspicious:
            print(f"  {job['ops'][0]:<18} {job['spec']:<16} {job['answer']!r}")
            print(f"  {'':<18} {'from':<16} {job['source']!r}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"answers": [dict(j, result=results[j["idx"]]) for j in answers],
                 "documents": [dict(d, result=doc_results[d["idx"]]) for d in doc_jobs],
                 "again": {str(i): again[i] for i in sample},
                 "details": {repr(k): v for k, v in details.items()}},
                handle, default=str,
            )  # fmt: skip
    bad = escaped or groups or doc_escaped or doc_groups or hangs or died or doc_hangs or nondet or json_bad or doc_json
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
