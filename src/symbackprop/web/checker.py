"""The checker the server's worker processes run: an answer of one or several lines -> JSON.

    check("fc-3-2-2", "\\\\delta_6 = (y_6 - t_6) y_6 (1 - y_6)") -> {"verdict": "correct", ...}

It is named to the worker pool as ``"symbackprop.web.checker:check"`` and runs only inside the
workers, under their time and memory limits. One line is judged by ``verify_answer`` (with the
question's target, if any) and gives the JSON of ``verify --answer --json``; several lines (one
equation a line, or rows split by ``\\\\``) are judged by ``verify_document`` and give the JSON of
``verify --file --json``, each line's verdict under "lines" with the line number it has in the
input. With a target, the last line is also judged as the answer to the question ("answer").

An invalid line gets a "column": where in its input line the parser stopped (the first
character it could not read, or the end of the line when the text ends too early), so that
the page can mark it. The parser reports a position in the text it was given; a line is given
to it as the verifier does (``&`` read as a space, a continuation ``= ...`` after a left-hand
side), so the position is mapped back to the line as typed.
"""

from __future__ import annotations

import re

from symbackprop.verify.check import document_json, verify_answer, verify_document
from symbackprop.verify.latex import ParseError, math_blocks, parse_line

_POSITION = re.compile(r"position (\d+)")
_ENDS = ("ends too early", "missing", "needs its closing")


def check(spec: str, answer: str, target: str | None = None) -> dict:
    """The JSON of the verdict(s) on ``answer`` (see the module's docstring)."""
    try:
        lines = math_blocks(answer)
    except ParseError:
        lines = []
    if len(lines) <= 1:
        data = verify_answer(spec, answer, target).to_json()
        if lines and data["verdict"] == "invalid":
            _add_column(data, lines[0].text, answer.splitlines()[lines[0].number - 1])
        return data
    verdicts = verify_document(spec, answer)
    data = document_json(verdicts)
    raw = answer.splitlines()
    for line, verdict in zip(lines, data["lines"]):
        if verdict["verdict"] == "invalid" and 0 < line.number <= len(raw):
            _add_column(verdict, line.text, raw[line.number - 1])
    if target:
        data["answer"] = verify_answer(spec, _last_equation(lines), target).to_json()
    return data


def _last_equation(lines) -> str:
    """The last line as a whole equation: a continuation ``= rhs`` gets the left-hand side of
    the line that started its chain."""
    last = lines[-1].text.replace("&", " ").strip()
    if not last.startswith("="):
        return last
    for line in reversed(lines[:-1]):
        body = line.text.replace("&", " ").strip()
        if not body.startswith("=") and "=" in body:
            return body.split("=", 1)[0].strip() + " " + last
    return last


def error_column(text: str) -> int | None:
    """Where in ``text`` (one line, as typed) the parser stops, or None if it reads it."""
    body = text.replace("&", " ")
    lead = len(body) - len(body.lstrip())
    body = body.strip()
    prefix = "x " if body.startswith("=") else ""  # a continuation line: any left-hand side will do
    try:
        parse_line(prefix + body)
    except ParseError as err:
        message = str(err)
        found = _POSITION.findall(message)
        if found:
            return lead + max(0, int(found[-1]) - len(prefix))
        if any(words in message for words in _ENDS):
            return lead + len(body)
        return None
    except (RecursionError, MemoryError):
        return None
    return None


def _add_column(verdict: dict, row: str, raw: str) -> None:
    """Mark where the parser stopped in the input line ``raw`` that holds the row ``row``."""
    start = raw.find(row)
    column = error_column(row)
    if start >= 0 and column is not None:
        verdict["column"] = start + column
