"""Derivation -> Jupyter notebook (nbformat 4): the derivation as Markdown cells, train.py as code
cells in its own order, then a gradient check of that code at the spec's example.

The Markdown cells are the Markdown document (:func:`.document.markdown_document`, maths in
``$$``) cut at its ``##`` sections; the code cells are the generated module's text cut at its
top-level pieces (imports and constants, helper functions, then ``forward``, ``backward``,
``loss``, ``step``, ``train``, ``initial_values`` and ``main``), each under a heading from the
message catalogue, so that the code cells together are train.py line for line. The last cells
(``templates/notebook/``) compare ``backward`` with finite differences of ``loss`` at
``initial_values()``, print the largest relative error per leaf and fail the cell when the check
fails.

Pictures, when given, travel inside the notebook as cell attachments (``attachment:NAME`` links
in the Markdown, base64 SVG in the cell), so the notebook is one self-contained file.

The notebook's bytes are deterministic: no outputs or execution counts, fixed metadata and
``nbformat_minor``, and cell ids made from each cell's position, kind and text.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import re
from collections.abc import Mapping

from symbackprop.backends.environment import render
from symbackprop.backends.messages import catalogue

NBFORMAT_MINOR = 5  # cell ids; fixed so that every nbformat release writes the same notebook
TOLERANCE = 1e-6  # largest relative error the notebook's gradient check accepts
CHECKED_ENTRIES = 16  # entries of a leaf the check compares, at most (the largest and some spread out)
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

# Functions of train.py that get a code cell of their own, and the message heading that cell.
CELL_FUNCTIONS = {
    "forward": "forward",
    "backward": "delta",
    "loss": "notebook_loss",
    "step": "notebook_step",
    "train": "notebook_train",
    "initial_values": "notebook_initial",
    "main": "notebook_main",
}


def markdown_sections(markdown: str) -> list[str]:
    """The Markdown document cut before each ``## `` heading (the first piece holds the title)."""
    pieces, current = [], []
    for line in markdown.splitlines():
        if line.startswith("## ") and current:
            pieces.append("\n".join(current).strip())
            current = []
        current.append(line)
    pieces.append("\n".join(current).strip())
    return [piece for piece in pieces if piece]


def code_pieces(source: str) -> list[tuple[str, str]]:
    """train.py cut into (message key, code) pieces, in order, covering every line.

    The first piece (docstring, imports, constants) ends where two blank lines first separate
    top-level statements; the helpers run from there to the first function of CELL_FUNCTIONS;
    each of those starts a piece that keeps what follows it (``step = jax.jit(step)``, the
    ``if __name__`` block). A statement's piece starts at the comment lines directly above it.
    """
    lines = source.splitlines()
    starts: list[tuple[int, str]] = []
    previous_end = 0
    for node in ast.parse(source).body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]) - 1
        while first > previous_end and lines[first - 1].lstrip().startswith("#"):
            first -= 1
        gap = lines[previous_end:first]
        name = getattr(node, "name", None) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
        if not starts:
            starts.append((0, "notebook_setup"))
        elif name in CELL_FUNCTIONS:
            starts.append((first, CELL_FUNCTIONS[name]))
        elif starts[-1][1] == "notebook_setup" and len(gap) >= 2 and not any(line.strip() for line in gap):
            starts.append((first, "notebook_helpers"))
        previous_end = node.end_lineno
    pieces = []
    for k, (begin, key) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        text = "\n".join(lines[begin:end]).strip("\n")
        if text:
            pieces.append((key, text))
    return pieces


def cell_id(position: int, kind: str, text: str) -> str:
    """A stable id (nbformat >= 4.5 wants one per cell): position, kind and a hash of the text."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{kind}-{position:03d}-{digest}"


def notebook_cells(markdown: str, code: str, lang: str = "en") -> list[tuple[str, str]]:
    """Every cell as (kind, text), kind "markdown" or "code", in order."""
    msg = catalogue(lang)
    cells = [("markdown", section) for section in markdown_sections(markdown)]
    cells.append(("markdown", f"## {msg.notebook_code}\n\n{msg.notebook_code_words}"))
    for key, text in code_pieces(code):
        cells += [("markdown", f"### {getattr(msg, key)}"), ("code", text)]
    words = f"## {msg.notebook_check}\n\n{msg.notebook_check_words.format(half=CHECKED_ENTRIES // 2)}"
    check = render("notebook/gradcheck.py.j2", msg=msg, most=CHECKED_ENTRIES).strip("\n")
    run = render("notebook/gradcheck_run.py.j2", msg=msg, tolerance=repr(TOLERANCE)).strip("\n")
    cells += [("markdown", words), ("code", check), ("code", run)]
    return cells


ATTACHMENT = re.compile(r"\]\(attachment:([^)\s]+)\)")


def cell_attachments(text: str, attachments: Mapping[str, bytes]) -> dict:
    """The attachments a Markdown cell links to, as nbformat wants them (base64 in a mime bundle)."""
    return {
        name: {"image/svg+xml": base64.b64encode(attachments[name]).decode("ascii")}
        for name in dict.fromkeys(ATTACHMENT.findall(text))
    }


def notebook_json(markdown: str, code: str, lang: str = "en", attachments: Mapping[str, bytes] | None = None) -> str:
    """The notebook as nbformat 4 JSON text, validated, ending in a newline. ``attachments``: SVG
    files by name, for the Markdown's ``![...](attachment:NAME)`` links (every link needs one)."""
    import nbformat  # here: only the notebook output needs it

    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = NBFORMAT_MINOR
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for position, (kind, text) in enumerate(notebook_cells(markdown, code, lang)):
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cell = make(text, id=cell_id(position, kind, text))
        if kind == "markdown" and ATTACHMENT.search(text):
            cell.attachments = cell_attachments(text, attachments or {})
        nb.cells.append(cell)
    nbformat.validate(nb)
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"
