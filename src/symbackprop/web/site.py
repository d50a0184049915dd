"""What the pages show about each network offered, computed on first use and kept in memory.

A :class:`Site` holds the specs a server offers (every built-in example, or the files given to
``serve``), each parsed at start-up by the spec parser, so a bad spec stops the server before it
listens. Everything else is made when a page first asks for it and cached: the derivation (one
per notation), its Markdown document turned into HTML (markdown-it, raw HTML off, every formula
MathML or escaped source), the pictures as SVG (TeX Live and pdftocairo, as for ``derive
--format md``; without them the page says so), the downloads (``render_outputs``, as ``derive``
writes them), and the check page's table of what each name means (the document's own forward
equations, objective and error-term definitions, printed as the document prints them).

SymPy is not thread-safe, so one lock serialises the derivation work; the server runs page
handlers in its thread pool, and the answers students type never reach this module: they go to
the checker processes (symbackprop.verify.pool).
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

from symbackprop.api import Derivation, derive, render_outputs
from symbackprop.backends.messages import catalogue
from symbackprop.core.examples import example_names
from symbackprop.core.network import LayeredNetwork, NetworkError
from symbackprop.core.spec import SpecError, load_spec
from symbackprop.web.mathml import to_mathml, with_maths

NOTATIONS = ("node", "layer", "d2l")
MAX_QUANTITIES = 40
DOWNLOADS = {  # what the page offers -> (format, file name suffix)
    "pdf": ("tex", "pdf"),
    "md": ("md", "md"),
    "ipynb": ("ipynb", "ipynb"),
    "train.py": ("tex", None),
}


@dataclass(frozen=True)
class Offered:
    """A network the server offers: its name in URLs, what the parser and checker are given
    (a built-in name or a file's path), its titles and the notations it can be shown in."""

    name: str
    spec: str
    title: str
    title_zh: str
    notation: str | None  # a layered network's own notation; None for a computational graph
    notations: tuple[str, ...]

    def title_in(self, lang: str) -> str:
        return (self.title_zh if lang == "zh" and self.title_zh else self.title) or self.name


def _notations(network) -> tuple[str, ...]:
    if not isinstance(network, LayeredNetwork):
        return ()
    usable = []
    for notation in NOTATIONS:
        try:
            replace(network, notation=notation)
        except (NetworkError, ValueError):
            continue
        usable.append(notation)
    return tuple(usable)


def offered_specs(specs: list[str] | tuple[str, ...] = ()) -> dict[str, Offered]:
    """The networks to offer: every built-in example, or exactly the specs given (built-in
    names or .toml files). SpecError (file and field named) for one that does not parse,
    ValueError for two that would have the same name."""
    found: dict[str, Offered] = {}
    for spec in specs or example_names():
        network = load_spec(spec)
        builtin = spec in example_names() and not Path(spec).is_file()
        name = spec if builtin else Path(spec).stem
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise SpecError(spec, "spec", "the file's name must be letters, digits, '-', '_' or '.'")
        if name in found:
            raise SpecError(spec, "spec", f"another spec given is also called {name!r}")
        notation = network.notation if isinstance(network, LayeredNetwork) else None
        found[name] = Offered(name, spec, network.title, network.title_zh, notation, _notations(network))
    return found


@dataclass(frozen=True)
class Download:
    """A file to download, or the reason there is none (no TeX Live for the PDF)."""

    filename: str
    data: bytes | None
    missing: str = ""


class Site:
    """The offered networks and everything their pages show (see the module's docstring)."""

    def __init__(self, offered: dict[str, Offered]) -> None:
        self.offered = offered
        self._lock = threading.RLock()
        self._files: dict[tuple, Download] = {}

    def notation(self, name: str, notation: str | None) -> str | None:
        """The notation asked for if this network can be shown in it, else its own."""
        item = self.offered[name]
        return notation if notation in item.notations else item.notation

    def derivation(self, name: str, notation: str | None = None) -> Derivation:
        return self._derivation(name, self.notation(name, notation))

    @lru_cache(maxsize=64)  # noqa: B019 - one Site per server, kept for its whole life
    def _derivation(self, name: str, notation: str | None) -> Derivation:
        with self._lock:
            network = load_spec(self.offered[name].spec)
            if notation is not None and isinstance(network, LayeredNetwork):
                network = replace(network, notation=notation)
            return derive(network)

    # --- the derivation page ---------------------------------------------------------------------

    @lru_cache(maxsize=64)  # noqa: B019
    def document(self, name: str, lang: str, notation: str | None) -> Markup:
        """The derivation document as HTML: its Markdown through markdown-it, maths as MathML."""
        notation = self.notation(name, notation)
        with self._lock:
            derivation = self._derivation(name, notation)
            stem = f"/figure/{name}/{notation or 'graph'}/{lang}"
            markdown = derivation.to_markdown_document(lang, "numpy", stem)
            figures = self._figures(name, lang, notation, tuple(markdown.figures.values()))
        html = markdown_html(markdown.text)
        if figures is None and markdown.figures:
            note = Markup('<p class="note">%s</p>') % catalogue(lang).web_figures_missing
            html = Markup(re.sub(r'<p><img src="/figure/[^"]*" alt="[^"]*" */?></p>', "", str(html)))
            html = note + html
        return html

    def figure(self, name: str, lang: str, notation: str | None, index: int) -> bytes | None:
        """The SVG of the document's picture number ``index`` (from 1), None without one."""
        notation = self.notation(name, notation)
        with self._lock:
            markdown = self._derivation(name, notation).to_markdown_document(lang, "numpy", "x")
            figures = self._figures(name, lang, notation, tuple(markdown.figures.values()))
        if figures is None or not 1 <= index <= len(figures):
            return None
        return figures[index - 1]

    @lru_cache(maxsize=64)  # noqa: B019
    def _figures(self, name: str, lang: str, notation: str | None, tikz: tuple[str, ...]) -> tuple[bytes, ...] | None:
        from symbackprop.backends.svg import MissingTool, require_tools, tikz_to_svg

        if not tikz:
            return ()
        try:
            require_tools(lang)
            return tuple(tikz_to_svg(list(tikz), lang))
        except (MissingTool, OSError, RuntimeError):
            return None

    def picture(self, name: str, lang: str) -> Markup | None:
        """The network's first picture, inline (an <img> of the SVG as a data: URL), or None."""
        svg = self.figure(name, lang, None, 1)
        if svg is None:
            return None
        data = base64.b64encode(svg).decode()
        return Markup('<img class="diagram" alt="" src="data:image/svg+xml;base64,%s">') % data

    def download(self, name: str, lang: str, notation: str | None, kind: str) -> Download:
        """A file of the derivation as ``derive`` writes it, rendered once and kept."""
        from symbackprop.api import document_name

        notation = self.notation(name, notation)
        key = (name, lang, notation, kind)
        if key in self._files:
            return self._files[key]
        fmt, suffix = DOWNLOADS[kind]
        filename = document_name(lang, suffix) if suffix else "train.py"
        with self._lock:
            derivation = self._derivation(name, notation)
            if kind == "pdf":
                from symbackprop.backends.pdf import CompileError

                try:
                    files = render_outputs(derivation, (lang,), ("tex",), pdf=True)
                except (CompileError, OSError) as err:
                    found = Download(filename, None, str(err).splitlines()[0] if str(err) else "")
                    self._files[key] = found
                    return found
            else:
                files = render_outputs(derivation, (lang,), (fmt,), figures=self._figures_available(lang))
        found = Download(filename, files[filename])
        self._files[key] = found
        return found

    @staticmethod
    def _figures_available(lang: str) -> bool:
        from symbackprop.backends.svg import MissingTool, require_tools

        try:
            require_tools(lang)
        except MissingTool:
            return False
        return True

    @staticmethod
    def pdf_possible(lang: str) -> bool:
        import shutil

        return shutil.which("xelatex" if lang == "zh" else "pdflatex") is not None

    # --- the check page ----------------------------------------------------------------------------

    @lru_cache(maxsize=64)  # noqa: B019
    def quantities(self, name: str, lang: str) -> tuple[list[Markup], list[tuple[Markup, Markup]]]:
        """The network's notation, in words (the document's introduction), and the table of what
        each name means here: (name, its definition) as MathML."""
        from symbackprop.backends.document import context

        with self._lock:
            derivation = self._derivation(name, self.notation(name, None))
            ctx = context(derivation.analysis, derivation.module().locations, lang)
        words = [with_maths(text) for text in ctx["intro"]]
        rows: list[tuple[str, str]] = []
        for part in ctx["parts"]:
            for block in part.blocks:
                if part.key in ("forward", "loss"):
                    rows.append((block.result.lhs, block.result.rhs))
                elif part.key.startswith("delta"):
                    rows += [(s.lhs, s.rhs) for s in block.steps if s.reason == ctx["msg"].reason_definition][:1]
        table = [(to_mathml(lhs), to_mathml(rhs)) for lhs, rhs in rows[:MAX_QUANTITIES]]
        return words, table

    @lru_cache(maxsize=64)  # noqa: B019
    def example_answer(self, name: str, lang: str) -> str:
        """The check page's placeholder: the network's own first error term as its document
        writes it (the output's, \\delta^{(4)}_k = a^{(4)}_k - y_k for lenet-tiny), a line the
        checker judges correct."""
        from symbackprop.backends.document import context

        with self._lock:
            derivation = self._derivation(name, self.notation(name, None))
            ctx = context(derivation.analysis, derivation.module().locations, lang)
        index = ctx.get("index")
        if index:  # a network of layers: its first error term entry by entry
            for words, lines in index["groups"]:
                if lines and words == ctx["msg"].index_delta:
                    return _UNBRACED.sub(r"\1", f"{lines[0].lhs} = {lines[0].rhs}")
        for part in ctx["parts"]:
            if part.key.startswith("delta") and part.blocks:
                result = part.blocks[0].result
                return f"{result.lhs} = {result.rhs}"
        return ""


# an entry as the documents group it, {\\delta^{(4)}_{k}}: as a student types it, without the braces
_UNBRACED = re.compile(r"\{(\\?[A-Za-z]+\^\{\([0-9,]+\)\}_\{[^{}]*\})\}")


# --- Markdown -> HTML ------------------------------------------------------------------------------

_MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.DOTALL)


def markdown_html(text: str) -> Markup:
    """Markdown with $ and $$ maths as HTML: each formula is set aside (a placeholder markdown
    leaves alone), the rest rendered by markdown-it with raw HTML off (so any HTML in the text
    is shown as text), then each placeholder replaced by the formula's MathML."""
    from markdown_it import MarkdownIt

    formulas: list[Markup] = []

    def hold(m: re.Match) -> str:
        inline = m.group(3) is not None
        latex = (m.group(1) or m.group(2) or m.group(3) or "").strip()
        html = to_mathml(latex, display=not inline)
        formulas.append(html if inline else Markup('<div class="display">%s</div>') % html)
        return f"MATHFORMULA{len(formulas) - 1}X"

    held = _MATH.sub(hold, text)
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(held)
    html = re.sub(r"<p>(MATHFORMULA\d+X)</p>", r"\1", html)  # a display on its own is no paragraph
    html = re.sub(r"MATHFORMULA(\d+)X", lambda m: str(formulas[int(m.group(1))]), html)
    return Markup(html)


def target_latex(target: str) -> Markup:
    """A question's target (delta_4, dE/dw_64, update:w_64) as maths, or as escaped text."""
    text = target.strip()
    update = text.startswith("update:")
    text = text.removeprefix("update:").strip()

    def name(part: str) -> str:
        m = re.fullmatch(r"([A-Za-z]+)_?\{?([0-9A-Za-z,]*)\}?", part.strip())
        if not m:
            raise ValueError(part)
        base, sub = m.groups()
        greek = {"delta", "eta", "alpha", "lambda", "sigma"}
        base = "\\" + base if base in greek else (base if len(base) == 1 else rf"\mathrm{{{base}}}")
        return base + (f"_{{{sub}}}" if sub else "")

    try:
        m = re.fullmatch(r"d([A-Za-z]\w*)\s*/\s*d(.+)", text)
        latex = rf"\frac{{\partial {name(m.group(1))}}}{{\partial {name(m.group(2))}}}" if m else name(text)
    except ValueError:
        return Markup("<code>%s</code>") % target
    if update:
        latex += r" \leftarrow \ldots"
    return to_mathml(latex)


def escape_text(text: str) -> Markup:
    return escape(text)
