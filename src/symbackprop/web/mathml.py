"""LaTeX -> MathML on the server, and text with ``$...$`` maths -> safe HTML.

Browsers display MathML natively, so the pages need no script and no network to show maths.
:func:`to_mathml` converts with latex2mathml after three rewrites it lacks: ``aligned``-style
environments become a matrix (an ``mtable``, its columns aligned right, left, right, ...),
``\\tag{n}`` becomes an equation number beside the display, and ``\\label``/``\\nonumber`` go.

Whatever the converter makes is parsed back as XML and rebuilt from a whitelist of MathML
elements and attributes, text escaped; a formula the converter cannot convert (an exception,
output that is not well-formed, an element outside the list, a command it passed through as
text such as ``\\foo``) is shown as its LaTeX source, escaped, in a ``<code>``: a student's
``\\text{<script>}`` can never become markup, and a formula never breaks the page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import lru_cache

from markupsafe import Markup, escape

MAX_FORMULA = 20_000

_ELEMENTS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac",
    "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded",
    "mphantom", "menclose", "merror", "semantics", "annotation",
}  # fmt: skip
_ATTRIBUTES = {
    "display", "mathvariant", "stretchy", "fence", "form", "accent", "accentunder", "separator",
    "columnalign", "columnspacing", "rowspacing", "displaystyle", "scriptlevel", "linebreak", "width",
    "height", "depth", "lspace", "rspace", "notation", "movablelimits", "largeop", "symmetric",
    "minsize", "maxsize", "linethickness", "columnlines", "rowlines", "frame", "encoding",
}  # fmt: skip
_NS = "{http://www.w3.org/1998/Math/MathML}"
_ALIGNED = re.compile(r"\\(begin|end)\{(aligned|align\*?|split|gathered|alignedat)\}(\{\d+\})?")
_TAG = re.compile(r"\\tag\*?\{((?:[^{}]|\{[^{}]*\})*)\}")
_DROP = re.compile(r"\\label\{[^{}]*\}|\\nonumber|\\notag")


def source(latex: str) -> Markup:
    """A formula shown as its escaped LaTeX source."""
    return Markup('<code class="tex">%s</code>') % latex


def _clean(element: ET.Element) -> str:
    """The element rebuilt from the whitelist (ValueError for anything else), text escaped."""
    tag = element.tag.removeprefix(_NS)
    if tag not in _ELEMENTS:
        raise ValueError(tag)
    attributes = ""
    for name, value in element.attrib.items():
        if name not in _ATTRIBUTES:
            raise ValueError(name)
        attributes += f' {name}="{escape(value)}"'
    if tag == "math":
        attributes = ' xmlns="http://www.w3.org/1998/Math/MathML"' + attributes
    text = element.text or ""
    if tag in ("mi", "mo", "mtext") and text.startswith("\\") and len(text) > 1:
        raise ValueError(text)  # a command the converter does not know, passed through as text
    inner = str(escape(text)) + "".join(_clean(child) + str(escape(child.tail or "")) for child in element)
    return f"<{tag}{attributes}>{inner}</{tag}>"


def _columns(mathml: str) -> str:
    """aligned's columns: right, left, right, left, ... and no space between a pair."""
    return mathml.replace(
        "<mtable>", '<mtable columnalign="right left right left right left" columnspacing="0 2em 0 2em 0">', 1
    )


@lru_cache(maxsize=4096)
def to_mathml(latex: str, display: bool = False) -> Markup:
    """``latex`` as one ``<math>`` element (with its number for a ``\\tag``), or as escaped source."""
    import latex2mathml.converter

    if len(latex) > MAX_FORMULA:
        return source(latex)
    tags = _TAG.findall(latex)
    text = _DROP.sub("", _TAG.sub("", latex))
    aligned = bool(_ALIGNED.search(text))
    text = _ALIGNED.sub(lambda m: f"\\{m.group(1)}{{matrix}}", text)
    try:
        converted = latex2mathml.converter.convert(text.strip(), display="block" if display else "inline")
        if aligned:
            converted = _columns(converted)
        html = Markup(_clean(ET.fromstring(converted)))
    except Exception:  # noqa: BLE001 - the converter's own errors are many and unlisted: show the source
        return source(latex)
    if tags and display:
        numbers = "".join(f"({tag})" for tag in tags if re.fullmatch(r"[\w.\- ]{1,20}", tag))
        if numbers:
            html = Markup('%s<span class="eqno">%s</span>') % (html, numbers)
    return html


_INLINE = re.compile(r"\\\[(.+?)\\\]|\$\$(.+?)\$\$|(?<!\\)\$(.+?)(?<!\\)\$", re.DOTALL)


def with_maths(text: str) -> Markup:
    """Plain text with ``$...$`` (and ``\\[...\\]``) maths, as from the message catalogue: the
    text escaped, each formula as MathML."""
    out, end = [], 0
    for m in _INLINE.finditer(text):
        out.append(escape(text[end : m.start()]))
        display = m.group(3) is None
        formula = to_mathml((m.group(1) or m.group(2) or m.group(3)).strip(), display)
        out.append(Markup('<span class="display">%s</span>') % formula if display else formula)
        end = m.end()
    out.append(escape(text[end:]))
    return Markup("").join(out)
