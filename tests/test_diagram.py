"""TikZ diagrams: determinism, structure, and a real pdflatex compile of all four figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from symbackprop.backends.diagram import TIKZ_LIBRARIES, graph_diagram, layered_diagram


def net_3_2_2() -> str:
    layers = [["x_{1}", "x_{2}", "x_{3}"], ["4", "5"], ["6", "7"]]
    edges = [(0, i, 1, j, f"w_{{{j + 3}{i}}}") for j in (1, 2) for i in (1, 2, 3)]
    edges += [(1, i, 2, j, f"w_{{{j + 5}{i + 3}}}") for j in (1, 2) for i in (1, 2)]
    return layered_diagram(layers, edges, biases=["+1", "+1", None], caption_layers=["input", "hidden", "output"])


def net_8_8_4(edge_labels: bool = False) -> str:
    sizes = [8, 8, 4]
    layers = [[f"a^{{({l + 1})}}_{{{i}}}" for i in range(1, k + 1)] for l, k in enumerate(sizes)]
    edges = [
        (l, i, l + 1, j, f"W^{{({l + 1})}}_{{{j}{i}}}")
        for l in range(2)
        for j in range(1, sizes[l + 1] + 1)
        for i in range(1, sizes[l] + 1)
    ]
    return layered_diagram(layers, edges, biases=["+1", "+1", None], edge_labels=edge_labels)


def cs231n_circuit() -> str:
    nodes = [
        ("x", "input", "x"),
        ("y", "input", "y"),
        ("z", "input", "z"),
        ("q", "gate", "+"),
        ("f", "gate", r"\times"),
        ("out", "output", "f"),
    ]
    edges = [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f"), ("f", "out")]
    values = {"x": "-2.00", "y": "5.00", "z": "-4.00", "q": "3.00", "f": "-12.00", "out": "-12.00"}
    grads = {"x": "-4.00", "y": "-4.00", "z": "3.00", "q": "-4.00", "f": "1.00", "out": "1.00"}
    return graph_diagram(nodes, edges, values, grads)


def sigmoid_neuron() -> str:
    nodes = [
        ("w0", "input", "w_{0}"),
        ("x0", "input", "x_{0}"),
        ("w1", "input", "w_{1}"),
        ("x1", "input", "x_{1}"),
        ("w2", "input", "w_{2}"),
        ("m0", "gate", r"\times"),
        ("m1", "gate", r"\times"),
        ("s1", "gate", "+"),
        ("s2", "gate", "+"),
        ("sig", "gate", r"\sigma"),
        ("f", "output", "f"),
    ]
    edges = [
        ("w0", "m0"),
        ("x0", "m0"),
        ("w1", "m1"),
        ("x1", "m1"),
        ("m0", "s1"),
        ("m1", "s1"),
        ("s1", "s2"),
        ("w2", "s2"),
        ("s2", "sig"),
        ("sig", "f"),
    ]
    values = {
        "w0": "2.00",
        "x0": "-1.00",
        "w1": "-3.00",
        "x1": "-2.00",
        "w2": "-3.00",
        "m0": "-2.00",
        "m1": "6.00",
        "s1": "4.00",
        "s2": "1.00",
        "sig": "0.73",
        "f": "0.73",
    }
    grads = {
        "w0": "-0.20",
        "x0": "0.39",
        "w1": "-0.39",
        "x1": "-0.59",
        "w2": "0.20",
        "m0": "0.20",
        "m1": "0.20",
        "s1": "0.20",
        "s2": "0.20",
        "sig": "1.00",
        "f": "1.00",
    }
    return graph_diagram(nodes, edges, values, grads)


def net_4_4_4_3() -> str:
    """Four layers in layer notation, all weights labelled (the widest case)."""
    sizes = [4, 4, 4, 3]
    layers = [[f"a^{{({l + 1})}}_{{{i}}}" for i in range(1, k + 1)] for l, k in enumerate(sizes)]
    edges = [
        (l, i, l + 1, j, f"W^{{({l + 1})}}_{{{j}{i}}}")
        for l in range(3)
        for j in range(1, sizes[l + 1] + 1)
        for i in range(1, sizes[l] + 1)
    ]
    return layered_diagram(layers, edges, biases=["b", "b", "b", None])


FIGURES = {
    "3-2-2": net_3_2_2,
    "8-8-4": net_8_8_4,
    "4-4-4-3": net_4_4_4_3,
    "cs231n-circuit": cs231n_circuit,
    "sigmoid-neuron": sigmoid_neuron,
}
PT_PER_CM = 72.27 / 2.54


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_deterministic_and_complete_picture(name):
    text = FIGURES[name]()
    assert text == FIGURES[name]()
    assert text.startswith("\\begin{tikzpicture}") and text.rstrip().endswith("\\end{tikzpicture}")
    assert "nan" not in text and "-0cm" not in text


def test_layered_counts():
    text = net_3_2_2()
    lines = text.splitlines()
    assert sum(line.startswith("\\node[unit]") for line in lines) == 7
    assert sum(line.startswith("\\node[bias]") for line in lines) == 2
    assert sum(line.startswith("\\draw[conn]") for line in lines) == 10
    assert sum(line.startswith("\\draw[biasconn]") for line in lines) == 2 + 2
    assert sum("node[wlabel, pos=" in line for line in lines) == 10
    assert sum(line.startswith("\\node[caption") for line in lines) == 3
    assert "(L0N1)" in text and "(L2N2)" in text and "{$w_{41}$}" in text and "{$x_{1}$}" in text
    unlabeled = net_8_8_4(edge_labels=False)
    assert "node[wlabel" not in unlabeled
    assert unlabeled.count("\\draw[conn]") == 8 * 8 + 8 * 4
    assert unlabeled.count("\\draw[biasconn]") == 8 + 4


def test_layered_units_fit_page():
    for text in (net_3_2_2(), net_8_8_4(), net_4_4_4_3()):
        x = float(re.search(r"x=([\d.]+)cm", text).group(1))
        y = float(re.search(r"y=([\d.]+)cm", text).group(1))
        cols = 1 + max(int(c) for c in re.findall(r"\(L(\d+)N", text))
        rows = [float(r) for r in re.findall(r"at \(\d+,(-?[\d.]+)\)", text)]
        assert (cols - 1) * x + 1 <= 15
        assert (max(rows) - min(rows)) * y + 1 <= 9


def test_graph_layout_and_labels():
    text = cs231n_circuit()
    lines = text.splitlines()
    assert sum(line.startswith("\\node[inputnode]") for line in lines) == 3
    assert sum(line.startswith("\\node[gatenode]") for line in lines) == 2
    assert sum(line.startswith("\\node[outputnode]") for line in lines) == 1
    assert sum(line.startswith("\\draw[wire]") for line in lines) == 5
    # columns: inputs 0, q 1, f 2, output 3
    assert re.search(r"\(G3\) at \(1,", text) and re.search(r"\(G4\) at \(2,", text)
    assert re.search(r"\(G5\) at \(3,", text)
    assert "node[val, sloped, above, pos=0.5] {$-2.00$}" in text
    assert "node[grad, sloped, below, pos=0.5] {$-4.00$}" in text
    assert "{$-12.00$}" in text and "anchor=north west" in text  # output: value/gradient at its right


def test_graph_columns_and_rows():
    text = sigmoid_neuron()
    at = {int(i): (int(c), float(r)) for i, c, r in re.findall(r"\(G(\d+)\) at \((\d+),(-?[\d.]+)\)", text)}
    assert [at[i][0] for i in range(11)] == [0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5]
    assert [at[i][1] for i in range(5)] == [2, 1, 0, -1, -2]  # inputs stacked in listed order
    assert at[5][1] == 1.5 and at[6][1] == -0.5  # each * gate level with its two operands
    assert at[9][1] == at[10][1] == at[8][1]  # sigma and output on the last + gate's row
    assert text.count("\\draw[wire]") == 10 and text.count("node[val, sloped, above") == 10


def test_bad_input():
    with pytest.raises(ValueError):
        layered_diagram([["a"], ["b"]], [(0, 1, 1, 2, "")])
    with pytest.raises(ValueError):
        layered_diagram([["a"], ["b"]], [], biases=["+1"])
    with pytest.raises(ValueError):
        graph_diagram([("a", "gate", "+"), ("b", "gate", "+")], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError):
        graph_diagram([("a", "blob", "+")], [])
    with pytest.raises(ValueError):
        graph_diagram([("a", "input", "a")], [("a", "zz")])


def overfull_widths(log: str) -> list[float]:
    return [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def test_overfull_parser():
    assert overfull_widths("Overfull \\hbox (12.3pt too wide) in paragraph") == [12.3]


def test_compiles_with_pdflatex(tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: cannot check that the TikZ diagrams compile")
    pictures = []
    for name, figure in FIGURES.items():  # measure each picture in a box, then put it on its own page
        pictures.append(
            f"\\sbox\\pic{{{figure()}}}\\typeout{{PICSIZE {name} \\the\\wd\\pic\\space\\the\\ht\\pic\\space\\the\\dp\\pic}}"
            "\n\\noindent\\usebox\\pic\n"
        )
    body = "\\newsavebox\\pic\n" + "\\clearpage\n".join(pictures)
    doc = (
        "\\documentclass{article}\n\\usepackage[a4paper,margin=2.5cm]{geometry}\n\\usepackage{tikz}\n"
        f"\\usetikzlibrary{{{TIKZ_LIBRARIES}}}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
    (tmp_path / "diagrams.tex").write_text(doc)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "diagrams.tex"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = (tmp_path / "diagrams.log").read_text(errors="replace")
    assert run.returncode == 0, log[-3000:]
    assert [w for w in overfull_widths(log) if w > 10] == [], log
    sizes = {
        m[0]: [float(v) / PT_PER_CM for v in m[1:]]
        for m in re.findall(r"PICSIZE (\S+) ([\d.]+)pt ([\d.]+)pt ([\d.]+)pt", log)
    }
    assert sorted(sizes) == sorted(FIGURES)
    for name, (width, height, depth) in sizes.items():
        print(f"{name}: {width:.2f} cm x {height + depth:.2f} cm")
        assert width <= 15, (name, width)
        assert height + depth <= 9.3, (name, height + depth)
    assert (tmp_path / "diagrams.pdf").stat().st_size > 0
    png_dir = os.environ.get("SYMBACKPROP_DIAGRAM_PNG")  # set to look at the pictures
    if png_dir and shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", str(tmp_path / "diagrams.pdf"), str(Path(png_dir) / "diagram")], check=True
        )
