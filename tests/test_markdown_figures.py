"""``derive --format md``: the pictures as SVG files beside the .md, linked from it.

Compiling needs the TeX engine of the language and poppler's pdftocairo (CI installs both);
without them those tests are skipped with the reason shown. Without a tool the command itself
fails with one line and exit status 2, and writes nothing.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from conftest import derivation_of

from symbackprop.backends import svg
from symbackprop.backends.messages import catalogue
from symbackprop.cli import main, render_outputs

needs = {
    "en": pytest.mark.skipif(
        shutil.which("pdflatex") is None or shutil.which("pdftocairo") is None,
        reason="pdflatex or pdftocairo not installed (Debian: texlive-latex-base, poppler-utils)",
    ),
    "zh": pytest.mark.skipif(
        shutil.which("xelatex") is None or shutil.which("pdftocairo") is None,
        reason="xelatex or pdftocairo not installed (Debian: texlive-xetex texlive-lang-chinese, poppler-utils)",
    ),
}
LINK = re.compile(r"^!\[([^\]]+)\]\(([^)]+)\)$", re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "slot"),
    [("fc-3-2-2", "figure_network"), ("ufldl-3-3-1", "figure_network"), ("cs231n-circuit", "figure_circuit")],
)
def test_markdown_links_each_picture_once_under_its_file_name(name, slot):
    d = derivation_of(name)
    for lang, stem in (("en", "derivation"), ("zh", "derivation.zh")):
        doc = d.to_markdown_document(lang, stem=stem)
        links = LINK.findall(doc.text)
        assert [target for _, target in links] == list(doc.figures)
        assert links == [(getattr(catalogue(lang), slot), f"{stem}.fig1.svg")]
        (tikz,) = doc.figures.values()
        assert tikz.startswith("\\begin{tikzpicture}") and tikz in d.to_latex(lang)
    assert "![" not in d.to_markdown()  # no files beside it (Jupyter's _repr_markdown_)


def _svg_root(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@pytest.mark.parametrize(
    ("name", "lang"),
    [pytest.param("fc-3-2-2", "en", marks=needs["en"]), pytest.param("cs231n-circuit", "zh", marks=needs["zh"])],
)
def test_derive_md_writes_deterministic_svgs_beside_the_markdown(tmp_path, name, lang):
    for run in ("a", "b"):
        assert main(["derive", name, "-o", str(tmp_path / run), "--format", "md", "--lang", lang]) == 0
    stem = "derivation" if lang == "en" else f"derivation.{lang}"
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted([f"{stem}.md", f"{stem}.fig1.svg", "train.py"])
    data = (tmp_path / "a" / f"{stem}.fig1.svg").read_bytes()
    assert data == (tmp_path / "b" / f"{stem}.fig1.svg").read_bytes()
    root = _svg_root(data)
    assert float(root.get("width").removesuffix("pt")) > 100  # a picture, not an empty page
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10  # glyphs and lines as paths
    assert f"]({stem}.fig1.svg)" in (tmp_path / "a" / f"{stem}.md").read_text(encoding="utf-8")
    text = data.decode()
    assert not re.search(r"20\d\d-\d\d-\d\d|CreationDate", text)  # no date in the bytes


@needs["en"]
def test_every_picture_of_a_document_gets_its_own_svg():
    pictures = [
        derivation_of("fc-3-2-2").to_markdown_document().figures["derivation.fig1.svg"],
        derivation_of("cs231n-circuit").to_markdown_document().figures["derivation.fig1.svg"],
    ]
    first, second = svg.tikz_to_svg(pictures, "en")
    assert first != second
    assert [first, second] == [svg.tikz_to_svg([p], "en")[0] for p in pictures]  # same page, same bytes
    assert svg.tikz_to_svg([], "en") == []


@pytest.mark.parametrize(("missing", "fmt"), [("pdftocairo", "md"), ("pdflatex", "md"), ("pdftocairo", "ipynb")])
def test_a_missing_tool_is_one_line_and_exit_2_and_nothing_is_written(tmp_path, monkeypatch, capsys, missing, fmt):
    real = shutil.which
    monkeypatch.setattr(svg.shutil, "which", lambda cmd, *a, **k: None if cmd == missing else real(cmd, *a, **k))
    out = tmp_path / "out"
    assert main(["derive", "fc-3-2-2", "-o", str(out), "--format", fmt]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("symbackprop: error: ") and f"{missing} is not installed" in err[0]
    assert not out.exists()


def test_regenerate_without_pdf_writes_no_svgs():
    files = render_outputs(derivation_of("fc-3-2-2"), ("en", "zh"), ("tex", "md"), figures=False)
    assert not [name for name in files if name.endswith(".svg")]
    assert "](derivation.fig1.svg)" in files["derivation.md"].decode()
