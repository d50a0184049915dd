"""``derive --format ipynb``: the notebook's structure and bytes, and a run of it with nbclient.

The run executes every cell, top to bottom, in a python3 kernel (ipykernel, from the test extra)
and reads the gradient check's printed result; a notebook made from a broken train.py must fail
that check, so the check is known to be able to fail.
"""

from __future__ import annotations

import base64
import json
import re
import shutil

import nbformat
import pytest
from conftest import derivation_of, module_of
from nbclient import NotebookClient

from symbackprop import LayeredNetwork, derive
from symbackprop.backends.messages import catalogue
from symbackprop.backends.notebook import CHECKED_ENTRIES, code_pieces, notebook_json
from symbackprop.backends.svg import tikz_to_svg
from symbackprop.cli import main

CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # nbformat 4.5's pattern


def run(text: str) -> nbformat.NotebookNode:
    nb = nbformat.reads(text, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def printed(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.mark.parametrize(("name", "lang"), [("fc-3-2-2", "en"), ("cs231n-circuit", "zh"), ("ufldl-3-3-1", "en")])
def test_notebook_runs_top_to_bottom_and_the_gradient_check_passes(name, lang):
    d = derivation_of(name)
    nb = run(d.to_notebook(lang))
    msg = catalogue(lang)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)  # every code cell ran
    assert not [out for cell in code for out in cell.outputs if out.output_type == "error"]
    result = printed(code[-1])
    assert msg.notebook_check_passed in result, result
    rows = [re.match(r"^(\w+)[:：].* (\S+)$", line) for line in result.splitlines()[:-1]]
    module = module_of(name)
    values = module.initial_values()
    leaves = {leaf for leaf in module.backward(values, inputs=True) if leaf in values}
    assert all(rows) and {row[1] for row in rows} == leaves, result  # one row per leaf with a gradient
    assert max(float(row[2]) for row in rows) < 1e-6, result
    assert "epoch  20" in printed(code[-3])  # main() trained on the example


def test_a_wide_network_is_checked_at_sampled_entries_and_passes():
    x = [[0.1 * (i - 4) for i in range(10)], [0.05 * i for i in range(10)]]
    t = [[0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]]
    net = LayeredNetwork(
        "wide", (10, 8, 6), ("tanh", "softmax"), "cross_entropy", weight_decay=0.1, example={"x": x, "t": t}
    )
    nb = run(derive(net).to_notebook())
    result = printed(nb.cells[-1])
    assert catalogue("en").notebook_check_passed in result, result
    assert {line.split(":")[0] for line in result.splitlines()[:-1]} == {"W1", "b1", "W2", "b2", "x"}
    assert "most=16" in nb.cells[-2].source and CHECKED_ENTRIES == 16 < 10 * 8


def test_the_gradient_check_fails_on_a_wrong_backward():
    d = derivation_of("fc-3-2-2")
    source = d.to_numpy()
    wrong = source.replace("delta3 = y3 * (1 - y3) * (y3 - t)  # eq. (50)\n    delta2", "delta3 = (y3 - t)\n    delta2")
    assert wrong != source
    text = notebook_json(d.to_markdown(), wrong)
    nb = nbformat.reads(text, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    last = nb.cells[-1]
    assert catalogue("en").notebook_check_failed in printed(last)
    assert [out.ename for out in last.outputs if out.output_type == "error"] == ["AssertionError"]
    before = [out for cell in nb.cells[:-1] if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in before if out.output_type == "error"]  # only the check failed


def test_notebook_is_valid_deterministic_and_holds_train_py_in_order():
    d = derivation_of("fc-3-2-2")
    text = d.to_notebook()
    assert text == d.to_notebook() and text.endswith("\n")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nb.metadata.kernelspec.name == "python3"
    ids = [cell.id for cell in nb.cells]
    assert len(set(ids)) == len(ids) and all(CELL_ID.match(i) for i in ids)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in nb.cells if cell.cell_type == "code")
    pieces = [text for _, text in code_pieces(d.to_numpy())]
    assert code[: len(pieces)] == pieces and len(code) == len(pieces) + 2  # then the check's two cells
    assert "\n\n\n".join(pieces) + "\n" == d.to_numpy()  # train.py, line for line
    assert [p.split("(", 1)[0] for p in pieces[2:]] == [
        "def forward",
        "def backward",
        "def loss",
        "def step",
        "def train",
        "def initial_values",
        "def main",
    ]
    markdown = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    assert markdown[0].startswith("# ") and any("$$" in m and "\\tag{" in m for m in markdown)
    assert json.loads(text)["cells"][0]["id"] == ids[0]


def test_jax_target_keeps_its_jit_line_with_step():
    pieces = dict(code_pieces(derivation_of("fc-3-2-2").to_numpy("jax")))
    assert pieces["notebook_step"].endswith("step = jax.jit(step)")
    assert "import jax" in pieces["notebook_setup"]


def test_chinese_notebook_has_chinese_headings():
    text = derivation_of("fc-3-2-2").to_notebook("zh")
    msg = catalogue("zh")
    assert f"## {msg.notebook_code}" in text and msg.notebook_check_passed in text and "反向传播" in text


needs_zh = pytest.mark.skipif(
    shutil.which("xelatex") is None or shutil.which("pdftocairo") is None,
    reason="xelatex or pdftocairo not installed (Debian: texlive-xetex texlive-lang-chinese, poppler-utils)",
)


@needs_zh
def test_cli_writes_the_notebook_with_its_pictures_attached_and_refuses_pdf(tmp_path, capsys):
    assert main(["derive", "cs231n-neuron", "-o", str(tmp_path), "--format", "ipynb", "--lang", "zh"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["derivation.zh.ipynb", "train.py"]
    data = (tmp_path / "derivation.zh.ipynb").read_bytes()
    nb = nbformat.reads(data.decode(), as_version=4)
    nbformat.validate(nb)
    linked = [cell for cell in nb.cells if "](attachment:derivation.fig1.svg)" in cell.source]
    assert len(linked) == 1 and list(linked[0].attachments) == ["derivation.fig1.svg"]
    svg = base64.b64decode(linked[0].attachments["derivation.fig1.svg"]["image/svg+xml"])
    picture = derivation_of("cs231n-neuron").to_markdown_document("zh").figures["derivation.fig1.svg"]
    assert svg == tikz_to_svg([picture], "zh")[0]  # the same SVG the Markdown gets
    assert main(["derive", "cs231n-neuron", "-o", str(tmp_path / "again"), "--format", "ipynb", "--lang", "zh"]) == 0
    assert (tmp_path / "again" / "derivation.zh.ipynb").read_bytes() == data
    assert main(["derive", "cs231n-neuron", "-o", str(tmp_path / "b"), "--format", "ipynb", "--pdf"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--format ipynb" in err[0]
    assert not (tmp_path / "b").exists()


def test_a_notebook_without_pictures_needs_no_tex():
    nb = nbformat.reads(derivation_of("cs231n-neuron").to_notebook(), as_version=4)
    assert not [cell for cell in nb.cells if "attachment:" in cell.source or cell.get("attachments")]


def test_no_figures_writes_the_notebook_without_tex(tmp_path, monkeypatch):
    """--no-figures needs no TeX: with no program on PATH the notebook is still written, with no
    picture links; without the flag the command refuses in one line (exit 2) and writes nothing."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["derive", "fc-3-2-2", "--format", "ipynb", "-o", str(tmp_path / "a")]) == 2
    assert not (tmp_path / "a").exists()
    assert main(["derive", "fc-3-2-2", "--format", "ipynb", "--no-figures", "-o", str(tmp_path / "b")]) == 0
    text = (tmp_path / "b" / "derivation.ipynb").read_text()
    nbformat.validate(nbformat.reads(text, as_version=4))
    assert "](derivation.fig" not in text and "attachment:" not in text


def test_regenerated_notebooks_link_the_svg_files_written_beside_them(tmp_path):
    """regenerate writes each example's notebooks; their picture links name the Markdown's SVG
    files (derivation.fig1.svg, derivation.zh.fig1.svg), the same bytes with or without --pdf."""
    assert main(["regenerate", str(tmp_path)]) == 0
    for lang, stem in (("en", "derivation"), ("zh", "derivation.zh")):
        nb = nbformat.reads((tmp_path / "fc-3-2-2" / f"{stem}.ipynb").read_text(), as_version=4)
        links = [
            m for cell in nb.cells if cell.cell_type == "markdown" for m in re.findall(r"\]\(([^)]+)\)", cell.source)
        ]
        md_links = re.findall(r"\]\(([^)]+\.svg)\)", (tmp_path / "fc-3-2-2" / f"{stem}.md").read_text())
        assert links and links == md_links, lang
        assert all(link.startswith(f"{stem}.fig") for link in links)
