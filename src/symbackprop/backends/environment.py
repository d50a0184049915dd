"""The Jinja environment: templates from the package (installed) or the source tree.

LaTeX templates use LaTeX-safe delimiters (``\\VAR{...}``, ``\\BLOCK{...}``, ``%#``) so that
braces in TeX never clash with Jinja; every other template uses Jinja's defaults. Undefined
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


def py_text(text: object) -> str:
    """Text safe inside a Python string or docstring: one line, backslashes and quotes escaped."""
    line = " ".join(str(text).split())
    return line.replace("\\", "\\\\").replace('"', '\\"')


def md_escape(text: object) -> str:
    """Plain text for Markdown: one line, with the characters that start markup escaped."""
    line = " ".join(str(text).split())
    return re.sub(r"([\\`*_{}\[\]<>#|$])", r"\\\1", line)


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
    return env


def render(template: str, **context: object) -> str:
    """Render ``template`` (a path under templates/) with ``context``."""
    return environment(template.startswith("latex/")).get_template(template).render(**context)
