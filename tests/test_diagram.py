"""TikZ diagrams: no label touches another label, a node or a wire other than its own (built-in
examples, both notations and languages, random networks and graphs); circuit inputs ordered
without crossings; names and operators on the gates; each wire's own gradient; label boxes
at least as large as TeX prints them; a real pdflatex compile."""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import subprocess
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from conftest import EXAMPLES, derivation_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop import derive, load_spec
from symbackprop.backends import diagram
from symbackprop.backends.diagram import (
    MAX_LABELLED_UNITS,
    TIKZ_LIBRARIES,
    graph_diagram,
    graph_layout,
    graph_order,
    layered_diagram,
    layered_layout,
)
from symbackprop.backends.diagram_geometry import Geometry, Piece, box, circle, touch
from symbackprop.backends.diagram_text import text_box
from symbackprop.backends.document import _Builder
from symbackprop.core.network import LayeredNetwork

GRAPHS = [n for n in EXAMPLES if not isinstance(load_spec(n), LayeredNetwork)]
LAYERED = [n for n in EXAMPLES if isinstance(load_spec(n), LayeredNetwork)]
PT_PER_CM = 72.27 / 2.54


# --- pictures of the built-in examples, as the documents draw them -------------------------


@cache
def builder(name: str, lang: str = "en", notation: str | None = None) -> _Builder:
    network = load_spec(name)
    d = derivation_of(name) if notation is None else derive(replace(network, notation=notation))
    return _Builder(d.analysis, {}, lang)


def document_layouts():
    for name in LAYERED:
        for notation in dict.fromkeys(("node", "layer", load_spec(name).notation)):  # d2l-mlp: its own too
            for lang in ("en", "zh"):
                yield pytest.param(name, notation, lang, id=f"{name}-{notation}-{lang}")
    for name in GRAPHS:
        yield pytest.param(name, None, "en", id=name)


def layout_of(name: str, notation: str | None, lang: str) -> diagram.Layout:
    b = builder(name, lang, notation)
    return b._picture_layout if b.layered else b.circuit_layout(b.a.example)


@pytest.mark.parametrize(("name", "notation", "lang"), list(document_layouts()))
def test_no_label_touches_anything_in_the_documents(name, notation, lang):
    layout = layout_of(name, notation, lang)
    assert layout is not None
    assert layout.geometry.collisions() == []
    labels = layout.geometry.of_kind("label")
    assert labels, "every built-in picture has labels"
    if notation is not None:  # the built-in networks are small: every weight is on its edge
        assert layout.labelled
        sizes = builder(name, lang, notation).net.sizes
        assert sum(p.owner.startswith("L") for p in labels) == sum(a * b for a, b in itertools.pairwise(sizes))


def test_the_check_sees_a_collision():
    g = Geometry()
    g.add(Piece("n", "node", circle(0, 0, 0.4)))
    g.add(Piece("w", "wire", ((0, 0), (3, 0))))
    g.add(Piece("v", "wire", ((1, -1), (1, 1))))
    g.add(Piece("on w", "label", box(2, 0, 0.3, 0.1), "w"))  # on its own wire: fine
    assert g.collisions() == []
    g.add(Piece("on v", "label", box(1, 0.1, 0.1, 0.3), "v"))  # on its own wire, but across w
    assert g.collisions() == [("w", "on v")]
    g.add(Piece("near n", "label", box(0.45, 0.2, 0.1, 0.1), ""))
    assert ("n", "near n") in g.collisions()
    assert not touch(box(0, 0, 1, 1), box(2.5, 0, 1, 1)) and touch(box(0, 0, 1, 1), box(1.9, 0, 1, 1, 0.3))


# --- random networks and graphs -------------------------------------------------------------


def layered_labels(sizes: list[int], notation: str) -> tuple[list[list[str]], list[tuple]]:
    """Unit and weight labels as the documents print them, in node or layer notation."""
    first = [0]
    for k in sizes[:-1]:
        first.append(first[-1] + k)
    if notation == "node":
        layers = [[f"x_{{{i + 1}}}" for i in range(sizes[0])]]
        layers += [[str(first[l] + i + 1) for i in range(k)] for l, k in enumerate(sizes) if l]
        weight = lambda l, j, i: f"w_{{{first[l + 1] + j},{first[l] + i}}}"
    else:
        layers = [[f"a^{{({l + 1})}}_{{{i + 1}}}" for i in range(k)] for l, k in enumerate(sizes)]
        weight = lambda l, j, i: f"W^{{({l + 1})}}_{{{j}{i}}}"
    edges = [
        (l, i, l + 1, j, weight(l, j, i))
        for l in range(len(sizes) - 1)
        for j in range(1, sizes[l + 1] + 1)
        for i in range(1, sizes[l] + 1)
    ]
    return layers, edges


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 8), min_size=3, max_size=6),
    notation=st.sampled_from(["node", "layer"]),
    bias=st.booleans(),
)
def test_random_layered_networks_have_no_collisions(sizes, notation, bias):
    layers, edges = layered_labels(sizes, notation)
    biases = [("+1" if bias else None) for _ in sizes[:-1]] + [None]
    captions = ["input"] + ["hidden"] * (len(sizes) - 2) + ["output"]
    layout = layered_layout(layers, edges, biases=biases, caption_layers=captions)
    assert layout.geometry.collisions() == []
    if layout.labelled:
        assert max(sizes) <= MAX_LABELLED_UNITS
        assert sum(p.kind == "label" and p.owner != "" for p in layout.geometry.pieces) == len(edges)
    if max(sizes) <= 2:  # small layers always have room for their weights
        assert layout.labelled
    x0, y0, x1, y1 = layout.geometry.extent()
    assert x1 - x0 <= 15.5 and y1 - y0 <= diagram.MAX_LABELLED_HEIGHT_CM + 2


def test_wide_layers_have_no_edge_labels():
    layers, edges = layered_labels([3, MAX_LABELLED_UNITS + 1, 2], "layer")
    layout = layered_layout(layers, edges, biases=["+1", "+1", None])
    assert not layout.labelled and "wlabel]" not in layout.tikz and "\\node[wlabel" not in layout.tikz
    assert layout.geometry.collisions() == []


OPERATORS = [("+", 2), (r"\times", 2), (r"\max", 2), (r"\sigma", 1), (r"\exp", 1), ("+", 3)]
NUMBERS = st.floats(-99, 99, allow_nan=False).map(lambda v: f"{v:.4g}")


@st.composite
def graph_specs(draw):
    inputs = draw(st.integers(1, 5))
    gates = draw(st.integers(1, 6))
    names = [f"x_{{{i}}}" for i in range(inputs)]
    nodes = [(f"i{i}", "input", names[i]) for i in range(inputs)]
    edges = []
    for g in range(gates):
        op, arity = draw(st.sampled_from(OPERATORS))
        earlier = [n for n, _, _ in nodes]
        operands = draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=arity, unique=True))
        kind = "output" if g == gates - 1 else "gate"
        nodes.append((f"g{g}", kind, op))
        edges += [(a, f"g{g}") for a in operands]
    labels = {n: draw(NUMBERS) for n, _, _ in nodes}
    gradients = {n: draw(NUMBERS) for n, _, _ in nodes}
    flows = {e: draw(NUMBERS) for e in edges}
    shown = {n: draw(st.sampled_from(["c", "p_{0}", r"\mathrm{dot}", "q"])) for n, k, _ in nodes if k != "input"}
    return nodes, edges, labels, gradients, shown, flows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_specs())
def test_random_graphs_have_no_collisions(spec):
    nodes, edges, values, gradients, names, flows = spec
    layout = graph_layout(nodes, edges, values, gradients, names, flows)
    assert layout.geometry.collisions() == []
    drawn = [p for p in layout.geometry.of_kind("label") if p.name.startswith("grad G") and "-" in p.name.split()[1]]
    assert len(drawn) == len(edges)  # every wire shows its gradient


# --- circuits: order, names, operators, gradients along wires -------------------------------


def fewest_crossings(graph) -> int:
    """The fewest crossings of any order of every column (brute force): with a bend point in each
    column a long wire passes, every segment joins neighbouring columns, and two cross exactly
    when their ends come in opposite orders."""
    columns = [[i for i in range(len(graph.col)) if graph.col[i] == c] for c in range(max(graph.col) + 1)]
    segments = [(a, b) for chain in graph.chains for a, b in itertools.pairwise(chain)]
    best = None
    for orders in itertools.product(*(itertools.permutations(c) for c in columns)):
        place = {i: k for order in orders for k, i in enumerate(order)}
        count = sum(
            (place[a] - place[c]) * (place[b] - place[d]) < 0
            for k, (a, b) in enumerate(segments)
            for c, d in segments[k + 1 :]
            if graph.col[a] == graph.col[c] and a != c and b != d
        )
        best = count if best is None else min(best, count)
    return best


@pytest.mark.parametrize("name", GRAPHS)
def test_built_in_circuits_cross_only_where_every_order_crosses(name):
    b = builder(name)
    ex, net = b.a.example, b.net
    layout = layout_of(name, None, "en")
    nodes = [(s.name, "input", "") for s in net.leaves] + [(n.name, "gate", "") for n in net.nodes]
    edges = [(s.name, n.name) for n, e in net.nodes.items() for s in sorted(e.free_symbols, key=str)]
    least = fewest_crossings(diagram._graph_structure(nodes, edges))
    print(f"{name}: {layout.geometry.wire_crossings()} crossings, fewest possible {least}")
    assert layout.geometry.wire_crossings() == least
    assert ex is not None
    if name in ("colah-graph", "cs231n-circuit", "cs231n-neuron"):
        assert least == 0


def test_cs231n_neuron_inputs_in_the_lecture_order():
    b = builder("cs231n-neuron")
    tikz = b._circuit(b.a.example)
    rows = {label: float(y) for y, label in re.findall(r"at \(0,(-?[\d.]+)\) \{\$([^$]*)\$\}", tikz)}
    assert sorted(rows, key=lambda k: -rows[k]) == ["w_{0}", "x_{0}", "w_{1}", "x_{1}", "w_{2}"]


def test_inputs_reordered_when_the_listed_order_crosses():
    nodes = [("x", "input", "x"), ("z", "input", "z"), ("y", "input", "y"), ("q", "gate", "+"), ("f", "output", "*")]
    edges = [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")]
    assert graph_order(nodes, edges) == ["x", "y", "z"]
    assert graph_layout(nodes, edges).geometry.wire_crossings() == 0
    assert graph_order(nodes, [("x", "q"), ("z", "q"), ("q", "f"), ("y", "f")]) == ["x", "z", "y"]


def test_gates_show_name_and_operator_and_max_fits():
    nodes = [("a", "input", "a"), ("b", "input", "b"), ("m", "gate", r"\max"), ("dot", "output", r"\times")]
    edges = [("a", "m"), ("b", "m"), ("m", "dot"), ("a", "dot")]
    layout = graph_layout(nodes, edges, names={"m": "m", "dot": r"\mathrm{dot}"})
    assert layout.geometry.collisions() == []
    gate = re.search(r"\\node\[gatenode, minimum size=([\d.]+)cm\] \(G2\) at \S+ \{\$\\max\$\}", layout.tikz)
    assert gate is not None
    t = text_box(r"$\max$", diagram.NODE_FONT)
    assert float(gate.group(1)) * PT_PER_CM >= math.hypot(t.width, t.total)  # the operator inside the circle
    assert r"{$\mathrm{dot}$}" in layout.tikz and "{$m$}" in layout.tikz


def test_document_circuit_names_upright_words():
    b = builder("cs231n-neuron")
    tikz = b._circuit(b.a.example)
    assert r"{$\mathrm{dot}$}" in tikz and "{$p_{0}$}" in tikz and r"{$\sigma$}" in tikz


def wire_gradients(name: str) -> dict[tuple[str, str], float]:
    return derivation_of(name).analysis.example.edge_gradients


def test_colah_wires_out_of_b_carry_2_and_3():
    flows = wire_gradients("colah-graph")
    assert flows["b", "c"] == 2.0 and flows["b", "d"] == 3.0
    assert derivation_of("colah-graph").analysis.example.gradient_of["b"] == 5.0
    layout = layout_of("colah-graph", None, "en")
    shown = {p.name for p in layout.geometry.of_kind("label") if p.name.startswith("grad")}
    assert {"grad G1-G2 2", "grad G1-G3 3"} <= shown  # b -> c: 2, b -> d: 3 (not 5 on both)


@pytest.mark.parametrize("name", GRAPHS)
def test_wire_gradients_out_of_a_node_add_up_to_its_gradient(name):
    ex = derivation_of(name).analysis.example
    flows = ex.edge_gradients
    assert flows
    for node, gradient in ex.gradient_of.items():
        leaving = [v for (a, _), v in flows.items() if a == node]
        if leaving:
            assert math.isclose(sum(leaving), gradient, rel_tol=1e-9, abs_tol=1e-12), (node, leaving, gradient)


# --- fixed pictures: determinism, structure, bad input ---------------------------------------


def net_3_2_2() -> str:
    layers, edges = layered_labels([3, 2, 2], "node")
    return layered_diagram(layers, edges, biases=["+1", "+1", None], caption_layers=["input", "hidden", "output"])


def net_4_4_4_3() -> str:
    layers, edges = layered_labels([4, 4, 4, 3], "layer")
    return layered_diagram(layers, edges, biases=["+1", "+1", "+1", None])


def net_8_8_4() -> str:
    layers, edges = layered_labels([8, 8, 4], "layer")
    return layered_diagram(layers, edges, biases=["+1", "+1", None])


def cs231n_circuit() -> str:
    nodes = [("x", "input", "x"), ("y", "input", "y"), ("z", "input", "z"), ("q", "gate", "+")]
    nodes.append(("f", "output", r"\times"))
    edges = [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")]
    values = {"x": "-2", "y": "5", "z": "-4", "q": "3", "f": "-12"}
    grads = {"f": "1"}
    flows = {("x", "q"): "-4", ("y", "q"): "-4", ("q", "f"): "-4", ("z", "f"): "3"}
    return graph_diagram(nodes, edges, values, grads, {"q": "q", "f": "f"}, flows)


def max_gate() -> str:
    """A max gate with its width as TikZ drew it in the log: the circle must not grow past its set size."""
    nodes = [("a", "input", "a"), ("b", "input", "b"), ("g", "gate", r"\max"), ("m", "output", r"\times")]
    picture = graph_diagram(nodes, [("a", "g"), ("b", "g"), ("g", "m"), ("a", "m")], names={"g": "g", "m": "m"})
    measure = (
        "\\pgfpointdiff{\\pgfpointanchor{G2}{west}}{\\pgfpointanchor{G2}{east}}"
        "\\pgfgetlastxy{\\gx}{\\gy}\\typeout{GATEWIDTH \\gx}\n"
    )
    return picture.replace("\\end{tikzpicture}", measure + "\\end{tikzpicture}")


FIGURES = {
    "3-2-2": net_3_2_2,
    "4-4-4-3": net_4_4_4_3,
    "8-8-4": net_8_8_4,
    "cs231n-circuit": cs231n_circuit,
    "max-gate": max_gate,
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_deterministic_and_complete_picture(name):
    text = FIGURES[name]()
    assert text == FIGURES[name]()
    assert text.startswith("\\begin{tikzpicture}") and text.rstrip().endswith("\\end{tikzpicture}")
    assert "nan" not in text and "-0cm" not in text and "(-0," not in text


def test_layered_counts():
    lines = net_3_2_2().splitlines()
    assert sum(line.startswith("\\node[unit") for line in lines) == 7
    assert sum(line.startswith("\\node[bias") for line in lines) == 2
    assert sum(line.startswith("\\draw[conn]") for line in lines) == 10
    assert sum(line.startswith("\\draw[biasconn]") for line in lines) == 2 + 2
    assert sum(line.startswith("\\node[wlabel") for line in lines) == 10
    assert sum(line.startswith("\\node[caption") for line in lines) == 3
    unlabelled = net_8_8_4()
    assert unlabelled.count("\\draw[conn]") == 8 * 8 + 8 * 4 and "\\node[wlabel" not in unlabelled


def test_circuit_structure():
    text = cs231n_circuit()
    assert text.count("\\node[inputnode") == 3 and text.count("\\node[gatenode") == 1
    assert text.count("\\node[outputnode") == 1 and text.count("\\draw[wire]") == 4
    assert text.count("\\node[val") == 4 + 1 and text.count("\\node[grad") == 4 + 1  # wires, then the output
    assert text.count("\\node[nodename") == 2


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


# --- TeX: label boxes hold what TeX prints, and the pictures compile --------------------------


def picture_texts(tikz: str) -> set[tuple[str, float]]:
    """(text, font size) of every node of a picture, the size from the node's style."""
    sizes = {m[0]: float(m[1]) for m in re.findall(r"(\w+)/\.style=\{[^\n]*?font=\\fontsize\{([\d.]+)\}", tikz)}
    return {(m[1], sizes[m[0]]) for m in re.findall(r"^\\node\[(\w+)[^\n]* \{(.*)\};$", tikz, re.MULTILINE)}


def all_label_texts() -> list[tuple[str, float]]:
    """Every (text, font size) the pictures of the built-in examples set, plus random-network labels."""
    found: set[tuple[str, float]] = set()
    pictures = [layout_of(*p.values) for p in document_layouts()]
    pictures += [layered_layout(*layered_labels([3, 3, 3], n)) for n in ("node", "layer")]
    pictures += [layered_layout(*layered_labels([12, 3, 2], n)) for n in ("node", "layer")]
    for layout in pictures:
        found |= picture_texts(layout.tikz)
    found |= {(t, size) for t in ("$-0.3932$", "$\\mathrm{undefined}$", "$-\\infty$", "$w_{12,5}$") for size in (7, 8)}
    return sorted(found)


def tex_boxes(items: list[tuple[str, float]], engine: str, preamble: str, tmp: Path) -> list[tuple[float, ...]]:
    body = "\n".join(
        f"\\sbox0{{\\fontsize{{{size:g}}}{{{round(1.2 * size)}}}\\selectfont {text}}}"
        f"\\typeout{{BOX {k} \\the\\wd0/\\the\\ht0/\\the\\dp0}}"
        for k, (text, size) in enumerate(items)
    )
    (tmp / "boxes.tex").write_text(preamble + "\\begin{document}\n" + body + "\n\\end{document}\n", encoding="utf-8")
    run = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", "boxes.tex"],
        check=False,
        cwd=tmp,
        capture_output=True,
        timeout=300,
    )
    log = (tmp / "boxes.log").read_text(errors="replace")
    assert run.returncode == 0, log[-2000:]
    found = {
        int(k): (float(w), float(h), float(d))
        for k, w, h, d in re.findall(r"BOX (\d+) ([\d.]+)pt/([\d.]+)pt/([\d.]+)pt", log)
    }
    return [found[k] for k in range(len(items))]


PREAMBLES = {
    "pdflatex": "\\documentclass[11pt]{article}\\usepackage[T1]{fontenc}\\usepackage{lmodern}\\usepackage{amsmath}\n",
    "xelatex": "\\documentclass[11pt,fontset=fandol]{ctexart}\\usepackage{amsmath}\n",
}


@pytest.mark.parametrize("engine", sorted(PREAMBLES))
def test_estimated_boxes_hold_what_tex_prints(engine, tmp_path):
    if shutil.which(engine) is None:
        pytest.skip(f"{engine} not installed: cannot measure the labels")
    items = [(t, size) for t, size in all_label_texts() if engine == "xelatex" or t.isascii()]
    assert len(items) > 50
    for (text, size), (w, h, d) in zip(items, tex_boxes(items, engine, PREAMBLES[engine], tmp_path)):
        est = text_box(text, size)
        assert w <= est.width and h <= est.height and d <= est.depth, (text, size, (w, h, d), est)


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
            f"\\sbox\\pic{{{figure()}}}\\typeout{{PICSIZE {name} \\the\\wd\\pic/\\the\\ht\\pic/\\the\\dp\\pic}}"
            "\n\\noindent\\usebox\\pic\n"
        )
    body = "\\newsavebox\\pic\n" + "\\clearpage\n".join(pictures)
    doc = (
        "\\documentclass[11pt]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"
        "\\usepackage[a4paper,margin=2.2cm]{geometry}\n\\usepackage{tikz}\n"
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
    assert overfull_widths(log) == [], log
    sizes = {
        m[0]: [float(v) / PT_PER_CM for v in m[1:]]
        for m in re.findall(r"PICSIZE (\S+) ([\d.]+)pt/([\d.]+)pt/([\d.]+)pt", log)
    }
    assert sorted(sizes) == sorted(FIGURES)
    for name, (width, height, depth) in sizes.items():
        print(f"{name}: {width:.2f} cm x {height + depth:.2f} cm")
        assert width <= 16.6, (name, width)  # the text width of the documents
        assert height + depth <= diagram.MAX_LABELLED_HEIGHT_CM + 2, (name, height + depth)
    drawn = float(re.search(r"GATEWIDTH ([\d.]+)pt", log).group(1))
    size = float(re.search(r"minimum size=([\d.]+)cm\] \(G2\)", max_gate()).group(1)) * PT_PER_CM
    print(f"max gate drawn {drawn:.2f} pt, set {size:.2f} pt")
    assert drawn <= size + 1.0, (drawn, size)  # the set size (and the line), not grown to fit "max"
    png_dir = os.environ.get("SYMBACKPROP_DIAGRAM_PNG")  # set to look at the pictures
    if png_dir and shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", str(tmp_path / "diagrams.pdf"), str(Path(png_dir) / "diagram")], check=True
        )
