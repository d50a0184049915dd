"""``--brief``: a handout with one representative unit per layer in index form, the matrix form,
the lemmas and the worked example, short enough to hand out (a 4-5-3 network in 4 pages)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from symbackprop.api import derive
from symbackprop.core.network import LayeredNetwork
from symbackprop.core.spec import load_spec
from symbackprop.verify.check import verify_document

NET = LayeredNetwork(
    "net453",
    (4, 5, 3),
    ("tanh", "softmax"),
    "cross_entropy",
    example={"x": [[0.5, -0.2, 0.1, 0.3]], "t": [[1.0, 0.0, 0.0]]},
)


def test_brief_keeps_one_unit_per_layer_and_every_matrix_equation():
    full, brief = derive(NET).analysis.equations, derive(NET, brief=True).analysis.equations
    levels = {eq.level for eq in brief}
    assert levels == {"tensor", "representative"}
    assert [eq.lhs for eq in full if eq.level == "tensor"] == [eq.lhs for eq in brief if eq.level == "tensor"]
    deltas = [eq for eq in brief if eq.level == "representative" and eq.kind == "delta"]
    assert len(deltas) == 2  # one unit of the hidden layer, one of the output layer
    assert len([eq for eq in full if eq.level == "unit" and eq.kind == "delta"]) == 8


def test_brief_document_has_no_appendix_and_is_denser():
    text = derive(NET, brief=True).to_latex("en")
    assert r"\appendix" not in text and r"\documentclass[10pt]" in text
    assert r"\appendix" in derive(NET).to_latex("en")


@pytest.mark.parametrize("name", ["fc-3-2-2", "fc-3-2-2-softmax", "ufldl-3-3-1"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_line_of_a_brief_document_verifies(name, lang):
    text = derive(load_spec(name), brief=True).to_latex(lang)
    verdicts = verify_document(name, text)
    assert len(verdicts) >= 10
    bad = [f"line {v.line}: {v.verdict}: {v.message}" for v in verdicts if v.verdict != "correct"]
    assert not bad, "\n".join(bad[:5])


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdfinfo") is None, reason="needs TeX, poppler")
def test_brief_handout_of_a_453_network_fits_in_four_pages(tmp_path):
    from symbackprop.backends.pdf import compile_pdf

    compiled = compile_pdf(derive(NET, brief=True).to_latex("en"), "en")
    assert not compiled.overfull, compiled.overfull
    (tmp_path / "brief.pdf").write_bytes(compiled.pdf)
    info = subprocess.run(["pdfinfo", str(tmp_path / "brief.pdf")], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    assert pages <= 4
    full = compile_pdf(derive(NET).to_latex("en"), "en")
    (tmp_path / "full.pdf").write_bytes(full.pdf)
    info = subprocess.run(["pdfinfo", str(tmp_path / "full.pdf")], capture_output=True, text=True, check=True)
    assert int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1)) > 2 * pages
