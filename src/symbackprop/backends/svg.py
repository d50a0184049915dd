"""TikZ pictures -> SVG files, for the Markdown document (which cannot hold TikZ).

All pictures of one document are compiled together, one page each, by the engine the PDF of that
language uses (:mod:`.pdf`: pdflatex for English, xelatex with ctex for Chinese, so the labels
look as they do in the PDF), with the same preamble as the document. Each page is then turned
into an SVG by poppler's ``pdftocairo``, whose glyphs are paths: the SVG needs no fonts. The
output carries no date or random id, so the same pictures give the same bytes.

A missing program raises :class:`MissingTool` (its message is one line naming the package to
install); a picture LaTeX cannot compile raises :class:`~symbackprop.backends.pdf.CompileError`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from symbackprop.backends.diagram import TIKZ_LIBRARIES
from symbackprop.backends.pdf import ENGINES, TIMEOUT_SECONDS, CompileError, compile_pdf

CONVERTER = "pdftocairo"
PACKAGES = {"pdflatex": "texlive-latex-base", "xelatex": "texlive-xetex texlive-lang-chinese"}

_PREAMBLE = {
    "en": "\\documentclass[11pt,tikz,border=3pt]{standalone}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n",
    "zh": "\\documentclass[11pt,tikz,border=3pt]{standalone}\n\\usepackage[fontset=fandol]{ctex}\n",
}


class MissingTool(RuntimeError):
    """A program the SVG figures need is not installed; the message says which and how to get it."""


def standalone_source(pictures: Sequence[str], lang: str = "en") -> str:
    """A LaTeX document with each ``tikzpicture`` on a page of its own, cropped to the picture."""
    return (
        _PREAMBLE[lang]
        + "\\usepackage{amsmath,amssymb}\n"
        + f"\\usetikzlibrary{{{TIKZ_LIBRARIES}}}\n"
        + "\\begin{document}\n"
        + "".join(pictures)
        + "\\end{document}\n"
    )


def require_tools(lang: str = "en") -> None:
    """Raise :class:`MissingTool` unless the TeX engine for ``lang`` and pdftocairo are installed."""
    engine = ENGINES[lang]
    if shutil.which(engine) is None:
        raise MissingTool(f"Markdown figures: {engine} is not installed (Debian: {PACKAGES[engine]})")
    if shutil.which(CONVERTER) is None:
        raise MissingTool(f"Markdown figures: {CONVERTER} is not installed (Debian: poppler-utils)")


def tikz_to_svg(pictures: Sequence[str], lang: str = "en") -> list[bytes]:
    """One SVG per ``tikzpicture`` source, in order (an empty list needs no tools)."""
    if not pictures:
        return []
    require_tools(lang)
    pdf = compile_pdf(standalone_source(pictures, lang), lang).pdf
    with tempfile.TemporaryDirectory(prefix="symbackprop-svg-") as tmp:
        path = Path(tmp) / "figures.pdf"
        path.write_bytes(pdf)
        svgs = []
        for page in range(1, len(pictures) + 1):
            run = subprocess.run(
                [CONVERTER, "-svg", "-f", str(page), "-l", str(page), str(path), "-"],
                check=False,
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )
            if run.returncode != 0 or not run.stdout.lstrip().startswith(b"<?xml"):
                detail = run.stderr.decode(errors="replace").strip().splitlines()[:1]
                raise CompileError(f"{CONVERTER} failed on figure {page}: {' '.join(detail) or 'no SVG written'}")
            svgs.append(run.stdout)
    return svgs
