"""The Jinja environment: templates from the package (installed) or the source tree.

LaTeX templates use LaTeX-safe delimiters (``\\VAR{...}``, ``\\BLOCK{...}``, ``%#``) so that
braces in TeX never clash with Jinja; every other template uses Jinja's defaults. The web
pages' templates (``templates/web/``, :func:`html_environment`) escape every value for HTML
unless it is ``Markup`` already (the server's MathML, rebuilt from a whitelist). Undefined
names fail loudly (``StrictUndefined``). Templates receive strings made by the printers and
hold no mathematics of their own.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "#": r"\#",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIALS))


def tex_escape(text: object) -> str:
    """Escape text for LaTeX so that no spec can inject commands (\\input, \\write18)."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIALS[m.group()], str(text))


_TITLE_MATH = re.compile(r"[A-Za-z0-9 +\-*/=(),.]*(?:[\^_][A-Za-z0-9(][A-Za-z0-9 +\-*/=(),.]*)*")
_TITLE_WORD = re.compile(r"([A-Za-z]+)(\d*)")


@lru_cache(maxsize=None)
def _title_functions() -> dict[str, str]:
    """Words a title's formula may use for a function, from the registry: an activation's names
    (sigmoid -> its LaTeX) and the math functions' (max -> \\max)."""
    from symbackprop.registry import ACTIVATIONS, FUNCTIONS

    words = {
        w: f.commands and "\\" + f.commands[0] or r"\operatorname{%s}" % f.name
        for f in FUNCTIONS.values()
        for w in f.spellings
    }
    words.update({w: a.latex for a in ACTIVATIONS.values() for w in (a.name, *a.spellings)})
    return {w: tex for w, tex in words.items() if w.isalpha() and tex != "\\sqrt"}  # \\sqrt takes an argument


def _title_math(segment: str) -> str:
    """A formula from a title (letters, digits, + - * / = ( ) , . ^ _) as LaTeX: one letter is
    a variable (w0 is w_0), a known function its command (sigmoid is sigma), another word
    upright; * a thin product. Nothing else reaches LaTeX."""

    def word(m: re.Match) -> str:
        name, digits = m.groups()
        text = _title_functions().get(name) or (name if len(name) == 1 else r"\mathrm{%s}" % name)
        return text + (f"_{{{digits}}}" if digits else "")

    return _TITLE_WORD.sub(word, segment).replace("*", r"\,")


def _title(text: str, escape_all, escape_part) -> str:
    """Text escaped, and each $...$ part that is a plain formula (see _title_math) set as maths;
    a title with an odd $ or another formula is escaped whole."""
    parts = text.split("$")
    if len(parts) % 2 == 0 or not all(_TITLE_MATH.fullmatch(p) for p in parts[1::2]):
        return escape_all(text)
    return "".join(escape_part(p) if i % 2 == 0 else f"${_title_math(p)}$" for i, p in enumerate(parts))


def title_tex(text: object) -> str:
    """A spec's title for LaTeX (see _title)."""
    return _title(str(text), tex_escape, tex_escape)


def title_md(text: object) -> str:
    """The same for Markdown, on one line."""
    return _title(" ".join(str(text).split()), md_escape, lambda part: _MD_MARKUP.sub(r"\\\1", part))


def py_text(text: object) -> str:
    """Text safe inside a Python string or docstring: one line, backslashes and quotes escaped."""
    line = " ".join(str(text).split())
    return line.replace("\\", "\\\\").replace('"', '\\"')


_MD_MARKUP = re.compile(r"([\\`*_{}\[\]<>#|$])")


def md_escape(text: object) -> str:
    """Plain text for Markdown: one line, with the characters that start markup escaped."""
    line = " ".join(str(text).split())
    return _MD_MARKUP.sub(r"\\\1", line)


def template_dir() -> Path:
    """``symbackprop/templates`` in an installed wheel, else ``templates/`` of the checkout."""
    installed = resources.files("symbackprop").joinpath("templates")
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[3] / "templates"


@lru_cache(maxsize=None)
def environment(latex: bool) -> jinja2.Environment:
    options = dict(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    if latex:
        options.update(
            block_start_string=r"\BLOCK{",
            block_end_string="}",
            variable_start_string=r"\VAR{",
            variable_end_string="}",
            comment_start_string=r"\#{",
            comment_end_string="}",
            line_comment_prefix="%#",
        )
    env = jinja2.Environment(**options)
    env.filters["tex"] = tex_escape
    env.filters["py"] = py_text
    env.filters["md"] = md_escape
    env.filters["title_tex"] = title_tex
    env.filters["title_md"] = title_md
    return env


@lru_cache(maxsize=None)
def html_environment() -> jinja2.Environment:
    """The web pages' templates: Jinja's default delimiters with autoescape on, so that every
    string a user typed or a spec holds reaches the page escaped."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=True,
    )


def render(template: str, **context: object) -> str:
    """Render ``template`` (a path under templates/) with ``context``."""
    return environment(template.startswith("latex/")).get_template(template).render(**context)
