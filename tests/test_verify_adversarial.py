"""Adversarial answers to the derivation checker: each is refused, quickly and safely.

The contract (from the issue): no student text is ever executed. Limits: 10,000 characters,
nesting depth 100, exponent and factorial sizes bounded, 5 s per answer by default. Each
adversarial answer (Python code, SymPy-string tricks, LaTeX tricks, size attacks, unicode
look-alikes, empty input, binary junk) gets the verdict "invalid" with a clear one-line
message in bounded time, and no file appears.

Every case runs with the working directory set to an empty ``tmp_path``; the injection
payloads would create ``pwned`` there if anything executed them, so the directory listing
is compared before and after. The same is checked through the command line for a few
representative cases (a real subprocess) and for ``verify_document`` with malicious files.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symbackprop.verify.check import verify_answer, verify_document

SPEC = "fc-3-2-2"
BOUND = 10.0  # seconds; the checker's own default limit is 5 s, parse errors take milliseconds
MAX_MESSAGE = 500  # characters: a "clear message" says what is wrong, it does not echo pages of input
CORRECT = r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)"  # the reference answer, for sanity and for tricks around it
SRC = Path(__file__).resolve().parents[1] / "src"

# Signs that Python's internals leaked into a message meant for a student.
INTERNALS = re.compile(
    r"Traceback|File \"|internal error|\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b|object at 0x|sys\.|__\w+__"
)


def _bytes_as_latin1(seed: int, n: int) -> str:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(n)).decode("latin-1")


TINY = "0." + "0" * 28 + "1"  # 1e-29: 30 digits, the longest number the tokenizer accepts

CORPUS = [
    # --- Python code -----------------------------------------------------------------------
    pytest.param("__import__('os').system('touch pwned')", id="py-import-os-system"),
    pytest.param(r"\delta_6 = __import__('os').system('touch pwned')", id="py-import-after-lhs"),
    pytest.param("().__class__.__bases__", id="py-class-bases"),
    pytest.param("().__class__.__bases__[0].__subclasses__()", id="py-subclasses"),
    pytest.param('eval("1")', id="py-eval"),
    pytest.param("exec('import os')", id="py-exec"),
    pytest.param("open('/etc/passwd').read()", id="py-open-passwd"),
    pytest.param(r"\delta_6 = open('/etc/passwd').read()", id="py-open-after-lhs"),
    pytest.param("lambda: 0", id="py-lambda"),
    pytest.param("[x for x in ()]", id="py-listcomp"),
    pytest.param("__builtins__", id="py-builtins"),
    pytest.param("getattr(x, 'y')", id="py-getattr"),
    pytest.param("x.__class__", id="py-dunder-attribute"),
    pytest.param("import os; os.system('touch pwned')", id="py-import-statement"),
    pytest.param("\\delta_6 = y_6 # ').system('touch pwned')", id="py-comment"),
    # --- SymPy-string tricks ---------------------------------------------------------------
    pytest.param("Symbol('x')", id="sympy-Symbol"),
    pytest.param('sympify("x")', id="sympy-sympify"),
    pytest.param("Function('f')(x)", id="sympy-Function"),
    pytest.param("S.Half", id="sympy-S-Half"),
    pytest.param("Integer(10)**Integer(10)**Integer(10)", id="sympy-Integer-tower"),
    pytest.param(r"\delta_6 = y_6**2", id="sympy-double-star"),
    pytest.param(r"\delta_6 = Lambda(x, x)(1)", id="sympy-Lambda"),
    # --- LaTeX tricks -----------------------------------------------------------------------
    pytest.param(r"\input{/etc/passwd}", id="tex-input"),
    pytest.param(r"\delta_6 = \input{/etc/passwd}", id="tex-input-after-lhs"),
    pytest.param(r"\include{x}", id="tex-include"),
    pytest.param(r"\def\x{1}", id="tex-def"),
    pytest.param(r"\newcommand{\x}{1}", id="tex-newcommand"),
    pytest.param(r"\renewcommand{\delta}{y}", id="tex-renewcommand"),
    pytest.param(r"\write18{touch pwned}", id="tex-write18"),
    pytest.param(r"\immediate\write18{ls}", id="tex-immediate-write18"),
    pytest.param(r"\csname relax\endcsname", id="tex-csname"),
    pytest.param(r"\catcode`\^=11", id="tex-catcode"),
    pytest.param(r"\openin1=/etc/passwd", id="tex-openin"),
    pytest.param(r"\read1 to\x", id="tex-read"),
    pytest.param(r"\usepackage{x}", id="tex-usepackage"),
    pytest.param(r"\begin{document}", id="tex-begin-document"),
    pytest.param(r"\url{x}", id="tex-url"),
    pytest.param(r"\href{x}{y}", id="tex-href"),
    pytest.param(r"\delta_6 = \text{\input{/etc/passwd}}", id="tex-input-inside-text"),
    pytest.param(r"\delta_6 = y_6 ^^5cinput{/etc/passwd}", id="tex-caret-caret-escape"),
    pytest.param(r"\delta_6 = y_6 % \input{/etc/passwd}", id="tex-comment"),
    pytest.param(r"\verb|\input{/etc/passwd}|", id="tex-verb"),
    pytest.param(r"$\delta_6 = y_6$ \input{x}", id="tex-dollars"),
    # --- size attacks -----------------------------------------------------------------------
    pytest.param(r"\delta_6 = 10^{10^{10}}", id="size-power-tower-10"),
    pytest.param(r"\delta_6 = 2^{2^{2^{2^{2^{2}}}}}", id="size-power-tower-2"),  # 2^65536: exponent bounded
    pytest.param(r"\delta_6 = 99^{99^{99}}", id="size-power-tower-99"),
    pytest.param(r"\delta_6 = 999999^{999999}", id="size-big-base-big-exponent"),
    pytest.param(r"\delta_6 = 2^{" + r"999999^{100} " * 7 + "}", id="size-exponent-4200-digits"),
    pytest.param(r"\delta_6 = 2^{" + r"999999^{100} " * 8 + "}", id="size-exponent-4800-digits"),
    pytest.param(rf"\delta_6 = ({TINY})^{{-100}}", id="size-tiny-base-negative-exponent"),
    pytest.param("9!!!!!!", id="size-factorials"),
    pytest.param(r"\delta_6 = 9!!!!!!", id="size-factorials-after-lhs"),
    pytest.param(r"\delta_6 = " + "(" * 5000 + "y_6" + ")" * 5000, id="size-5000-parentheses"),
    pytest.param(r"\delta_6 = " + "(" * 1000 + "y_6" + ")" * 1000, id="size-1000-parentheses"),
    pytest.param(r"\delta_6 = " + r"\frac{1}{" * 150 + "y_6" + "}" * 150, id="size-150-nested-frac"),
    pytest.param(r"\delta_6 = " + r"\sigma(" * 200 + "y_6" + ")" * 200, id="size-200-nested-sigma"),
    pytest.param(r"\delta_6 = " + r"\sqrt{" * 200 + "y_6" + "}" * 200, id="size-200-nested-sqrt"),
    pytest.param(r"\delta_6 = " + "{" * 200 + "y_6" + "}" * 200, id="size-200-nested-braces"),
    pytest.param(r"\delta_6 = " + "-" * 9000 + "y_6", id="size-9000-minus-signs"),
    pytest.param(r"\delta_6 = y_6" + "^{" * 150 + "2" + "}" * 150, id="size-deep-superscripts"),
    pytest.param(r"\delta_6 = y_6^{" + "2^{" * 200 + "2" + "}" * 201, id="size-deep-power-tower"),
    pytest.param(r"\sum_{k=1}^{1000000} k", id="size-million-term-sum"),
    pytest.param(r"\delta_6 = \sum_{k=1}^{1000000} y_6", id="size-million-term-sum-after-lhs"),
    pytest.param(r"\delta_6 = \sum_{k=1}^{10^{9}} k", id="size-sum-to-10-to-the-9"),
    pytest.param(r"\delta_6 = \sum_{k=1}^{999999999999999999999999999999} y_6", id="size-sum-30-digit-range"),
    pytest.param(r"\delta_6 = \sum_{i=1}^{1000}\sum_{j=1}^{1000}\sum_{k=1}^{1000} 1", id="size-nested-sums-1e9-terms"),
    pytest.param(CORRECT + " " * (10_001 - len(CORRECT)), id="size-10001-characters"),
    pytest.param("x" * 10_001, id="size-10001-letters"),
    pytest.param(r"\delta_6 = " + "y_6 + " * 3000 + "1", id="size-3000-terms"),
    pytest.param(r"\delta_6 = 2^{" + r"999999^{100} " * 700 + "}", id="size-700-factor-exponent"),
    pytest.param(r"\delta_6 = w_{" + "1" * 5000 + "}", id="size-5000-digit-subscript"),
    pytest.param(r"\delta_6 = w_{" + "1," * 4000 + "1}", id="size-4001-index-subscript"),
    pytest.param("\\" + "a" * 9990, id="size-9990-letter-command"),
    # --- unicode look-alikes ------------------------------------------------------------------
    pytest.param("\u03b4_6 = y_6", id="unicode-greek-delta"),
    pytest.param("\\delta_6 = \u0443_6", id="unicode-cyrillic-u"),
    pytest.param("\\delta_6 = \uff59_6", id="unicode-fullwidth-y"),
    pytest.param("\\delta_6 = y\u200b_6", id="unicode-zero-width-space"),
    pytest.param("\\delta_6 = \u202ey_6 - t_6", id="unicode-right-to-left-override"),
    pytest.param("\\delta_6 = y_6 \u2212 t_6", id="unicode-minus-sign"),
    pytest.param("\\delta_6 = y_6\u00a0-\u00a0t_6", id="unicode-no-break-space"),
    pytest.param("\\delta_6 = (y_6 - t_6) y_6 (1 - y_6)\ufeff", id="unicode-byte-order-mark"),
    # --- empty and junk -------------------------------------------------------------------------
    pytest.param("", id="empty"),
    pytest.param("   \n\t  ", id="whitespace-only"),
    pytest.param("=", id="lone-equals"),
    pytest.param("= =", id="two-equals"),
    pytest.param(r"\delta_6 =", id="no-right-hand-side"),
    pytest.param("\x00\x01\xff\xfe", id="binary-junk"),
    pytest.param(_bytes_as_latin1(0, 200), id="random-bytes-latin1"),
    pytest.param(_bytes_as_latin1(1, 2000), id="random-bytes-latin1-long"),
    pytest.param("\\delta_6 = (y_6 - t_6)\x00 y_6 (1 - y_6)", id="nul-inside-valid-answer"),
    pytest.param("\\delta_6 = (y_6 - t_6) y_6 (1 - y_6)\x1b[2J", id="ansi-escape"),
]


def _assert_clear(message: object) -> None:
    assert isinstance(message, str) and message.strip(), "the message is empty"
    assert "\n" not in message and "\r" not in message, f"the message spans several lines: {message!r}"
    assert not INTERNALS.search(message), f"the message shows Python internals: {message!r}"
    assert "root:" not in message, "the message shows /etc/passwd"
    assert len(message) <= MAX_MESSAGE, f"the message has {len(message)} characters: {message[:200]!r}..."


def test_the_reference_answer_is_correct(tmp_path, monkeypatch):
    """Sanity: the corpus is refused for what it is, not because the checker refuses everything."""
    monkeypatch.chdir(tmp_path)
    assert verify_answer(SPEC, CORRECT).verdict == "correct"


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("text", CORPUS)
def test_adversarial_answer_is_invalid(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    start = time.monotonic()
    verdict = verify_answer(SPEC, text)
    elapsed = time.monotonic() - start
    assert sorted(os.listdir(tmp_path)) == before, "a file appeared in the working directory"
    assert not (tmp_path / "pwned").exists()
    assert elapsed < BOUND, f"took {elapsed:.1f} s"
    assert verdict.verdict == "invalid", f"{verdict.verdict}: {verdict.message}"
    _assert_clear(verdict.message)


# --- the command line -----------------------------------------------------------------------------

CLI_CASES = [
    pytest.param("__import__('os').system('touch pwned')", id="py-import-os-system"),
    pytest.param(r"\immediate\write18{touch pwned}", id="tex-write18"),
    pytest.param(r"\delta_6 = \input{/etc/passwd}", id="tex-input"),
    pytest.param(r"\delta_6 = 10^{10^{10}}", id="size-power-tower"),
    pytest.param(r"\delta_6 = " + "(" * 5000 + "y_6" + ")" * 5000, id="size-5000-parentheses"),
    pytest.param("\u03b4_6 = \u0443_6", id="unicode-look-alikes"),
]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(SRC) + (os.pathsep + path if path else "")}


@pytest.mark.parametrize("text", CLI_CASES)
def test_cli_refuses_adversarial_answer(text, tmp_path):
    before = sorted(os.listdir(tmp_path))
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "symbackprop", "verify", SPEC, "--answer", text, "--json"],
        check=False,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - start
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    result = json.loads(done.stdout)
    assert result["verdict"] == "invalid"
    _assert_clear(result["message"])
    assert sorted(os.listdir(tmp_path)) == before
    assert not (tmp_path / "pwned").exists()
    assert elapsed < 30, f"took {elapsed:.1f} s"


# --- documents --------------------------------------------------------------------------------

DOCUMENTS = [
    pytest.param("\\begin{align}\n\\delta_6 &= \\input{/etc/passwd}\n\\end{align}\n", id="input-inside-align"),
    pytest.param(
        "\\begin{align}\n" + CORRECT.replace("=", "&=") + " \\\\\n&= \\input{/etc/passwd}\n\\end{align}\n",
        id="input-on-a-continuation-line",
    ),
    pytest.param(
        "\\begin{equation}\n\\delta_6 = \\csname relax\\endcsname\n\\end{equation}\n", id="csname-in-equation"
    ),
    pytest.param("$$ \\def\\x{1} \\x $$", id="def-in-dollars"),
    pytest.param("\\[ \\write18{touch pwned} \\]", id="write18-in-display-maths"),
    pytest.param("\\immediate\\write18{touch pwned}\n", id="write18-only"),
    pytest.param("\x00\x01\xff\xfe junk", id="binary-junk"),
    pytest.param("%" * 1_000_000, id="one-megabyte"),
    pytest.param(
        "\\begin{align}\n" + (CORRECT.replace("=", "&=") + " \\\\\n") * 30_000 + "\\end{align}\n",
        id="one-megabyte-of-correct-lines",
    ),
]


def _judge_document(text: str, tmp_path: Path, monkeypatch) -> list:
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    start = time.monotonic()
    verdicts = verify_document(SPEC, text)
    elapsed = time.monotonic() - start
    assert sorted(os.listdir(tmp_path)) == before, "a file appeared in the working directory"
    assert elapsed < BOUND, f"took {elapsed:.1f} s"
    for v in verdicts:
        assert "root:" not in v.message, "the message shows /etc/passwd"
        assert "Traceback" not in v.message
    return verdicts


@pytest.mark.parametrize("text", DOCUMENTS)
def test_malicious_document_is_invalid(text, tmp_path, monkeypatch):
    verdicts = _judge_document(text, tmp_path, monkeypatch)
    assert verdicts, "no verdict at all"
    assert verdicts[-1].verdict == "invalid", [(v.verdict, v.message) for v in verdicts]
    assert verdicts[-1].message.strip()
    assert all(v.verdict == "correct" for v in verdicts[:-1])


def test_write18_outside_maths_is_ignored(tmp_path, monkeypatch):
    text = (
        "\\documentclass{article}\n\\immediate\\write18{touch pwned}\n\\input{/etc/passwd}\n\\begin{document}\n"
        "\\begin{align}\n" + CORRECT.replace("=", "&=") + "\n\\end{align}\n\\end{document}\n"
    )
    verdicts = _judge_document(text, tmp_path, monkeypatch)
    assert [(v.verdict, v.line) for v in verdicts] == [("correct", 6)] or (
        verdicts
        and verdicts[-1].verdict == "invalid"
        and ("write" in verdicts[-1].message or "input" in verdicts[-1].message)
    ), [(v.verdict, v.message) for v in verdicts]
    assert not (tmp_path / "pwned").exists()


# --- expensive but within limits ------------------------------------------------------------------


_SIX = ("y_4", "y_5", "y_6", "y_7", "t_6", "t_7")
_SUM6 = " + ".join(_SIX)
_SQUARE6 = " + ".join(f"{a} {b}" for a in _SIX for b in _SIX)


def _sigmoids(argument: str, n: int) -> str:
    return " ".join([rf"\sigma({argument})"] * n)


EXPENSIVE = [
    pytest.param(r"\delta_6 = " + _sigmoids(r"y_4 + y_5 w_{64}", 150), id="product-of-150-sigmoids"),
    pytest.param(  # the same product written two ways, subtracted: the difference must cancel
        r"\delta_6 = "
        + CORRECT.split("= ")[1]
        + " + "
        + _sigmoids(r"y_4 + y_5 w_{64}", 80)
        + " - "
        + _sigmoids(r"w_{64} y_5 + y_4", 80),
        id="difference-of-sigmoid-products",
    ),
    pytest.param(  # (s^2/100)^50 against its expansion: proving equality expands a degree-100 polynomial in 6 symbols
        r"\delta_6 = " + CORRECT.split("= ")[1] + rf" + (({_SUM6})^{{2}}/100)^{{50}} - (({_SQUARE6})/100)^{{50}}",
        id="expansion-bomb",
    ),
]


@pytest.mark.parametrize("text", EXPENSIVE)
def test_expensive_answer_returns_in_bounded_time(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(text) <= 10_000
    start = time.monotonic()
    verdict = verify_answer(SPEC, text)
    elapsed = time.monotonic() - start
    assert elapsed < BOUND, f"took {elapsed:.1f} s"
    assert verdict.verdict in ("correct", "incorrect", "invalid")
    assert verdict.message.strip() and "Traceback" not in verdict.message
    assert os.listdir(tmp_path) == []


def test_a_long_but_legal_answer_is_judged_not_refused():
    """2,400 terms fit the limits: the answer is evaluated (wrong here), not refused."""
    start = time.monotonic()
    verdict = verify_answer("fc-3-2-2", r"\delta_6 = " + "y_6+" * 2400 + "1")
    assert verdict.verdict == "incorrect" and time.monotonic() - start < 10
