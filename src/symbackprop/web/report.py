"""The grading report that ``grade`` writes as index.html: one self-contained HTML file.

    html = report_html("fc-3-2-2", rows, per_question, lang="en")

Per question: the share of correct answers and a bar per diagnosis of the wrong ones. Per
answer: the student, the question, the answer rendered as MathML (or its escaped source), the
verdict, the diagnosis in words, the checker's message and the counterexample's values. The
stylesheet and the script that sorts and filters the tables (``templates/web/static/report.*``)
are copied into the file, so it works offline, from a folder, a mail or ``serve --report``.
Every string from the submissions is escaped by the template (autoescape); the answers' MathML
is rebuilt from a whitelist (symbackprop.web.mathml).
"""

from __future__ import annotations

from markupsafe import Markup

from symbackprop.backends.environment import html_environment, template_dir
from symbackprop.backends.messages import catalogue
from symbackprop.verify.grade import VERDICTS
from symbackprop.web.mathml import source, to_mathml

MAX_RENDERED = 2_000  # longer answers are shown as their source


def answer_html(answer: str) -> Markup:
    """An answer as MathML, a line per row; escaped source where a row cannot be converted."""
    if not answer or len(answer) > MAX_RENDERED:
        return source(answer or "")
    rows = [row.replace("&", " ").strip() for row in answer.replace("\\\\", "\n").splitlines()]
    return Markup("<br>").join(to_mathml(row) for row in rows if row)


def _values(example: dict | None) -> list[tuple[str, str]]:
    if not isinstance(example, dict):
        return []
    values = example.get("values") if isinstance(example.get("values"), dict) else {}
    shown = [(str(k), _number(v)) for k, v in values.items()]
    for key in ("answer", "correct"):
        if key in example:
            shown.append((key, _number(example[key])))
    return shown


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "—" if value is None else str(value)


def report_html(spec: str, rows: list[dict], per_question: dict, lang: str = "en") -> str:
    """index.html for ``grade``'s rows (each with its "answer") and per-question statistics."""
    msg = catalogue(lang)
    static = template_dir() / "web" / "static"
    questions = []
    for question, stats in per_question.items():
        wrong = sum(stats["diagnoses"].values()) or 1
        bars = [(code, n, round(100 * n / wrong)) for code, n in stats["diagnoses"].items()]
        questions.append((question, stats, bars))
    answers = [
        {
            **row,
            "rendered": answer_html(row.get("answer", "")),
            "words": [getattr(msg, f"web_diagnosis_{c}", c) for c in row.get("diagnosis") or []],
            "shown_values": _values(row.get("counterexample")),
        }
        for row in rows
    ]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    return (
        html_environment()
        .get_template("web/report.html.j2")
        .render(
            msg=msg,
            lang=lang,
            spec=spec,
            questions=questions,
            answers=answers,
            summary=msg.web_summary.format(total=len(rows), **counts),
            verdict_words={v: getattr(msg, f"web_verdict_{v}") for v in VERDICTS},
            diagnosis_words={
                c: getattr(msg, f"web_diagnosis_{c}", c) for q in per_question.values() for c in q["diagnoses"]
            },
            css=Markup(
                (static / "style.css").read_text(encoding="utf-8") + (static / "report.css").read_text(encoding="utf-8")
            ),
            js=Markup((static / "report.js").read_text(encoding="utf-8")),
        )
    )
