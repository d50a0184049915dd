"""TikZ diagrams: no label touches another label, a node, an arrow head or a caption; a circuit's
labels touch no wire but their own; a weight sits centred on its own edge, and another wire may
pass under it only steeply, crossing its edge inside the box clear of its ends, with no second
weight near that crossing (checked by a checker of its own here, itself shown to catch bad
geometry; built-in examples in both notations and languages, layers of 6 to 8 units, random
networks and graphs); circuit inputs ordered without crossings; names and operators on the
gates; each wire's own gradient; circuit numbers printed at 7 pt or more; label boxes at least
as large as TeX prints them; a real pdflatex compile."""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import subprocess
import time
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
from symbackprop.backends.diagram_geometry import (
    AMBIGUITY_CM,
    CLEARANCE,
    END_CM,
    MIN_CROSS_DEG,
    SIDE_CM,
    VISIBLE_CM,
    Geometry,
    Piece,
    box,
    circle,
    touch,
)
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


# --- the rule, checked here on its own terms ------------------------------------------------


def _frame(outline):
    """Centre, unit vector along the width, width and height of a label box."""
    (x0, y0), (x1, y1), (x2, y2), _ = outline
    width, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1)
    return ((x0 + x2) / 2, (y0 + y2) / 2), ((x1 - x0) / width, (y1 - y0) / width), width, height


def _in_frame(outline, point):
    (cx, cy), (ux, uy), _, _ = _frame(outline)
    dx, dy = point[0] - cx, point[1] - cy
    return dx * ux + dy * uy, -dx * uy + dy * ux


def _meet(p, q):
    """Where segments p and q cross strictly inside both, and the angle between them in degrees."""
    (ax, ay), (bx, by) = p
    (cx, cy), (dx, dy) = q
    rx, ry, sx, sy = bx - ax, by - ay, dx - cx, dy - cy
    det = rx * sy - ry * sx
    if abs(det) < 1e-12:
        return None
    t = ((cx - ax) * sy - (cy - ay) * sx) / det
    u = ((cx - ax) * ry - (cy - ay) * rx) / det
    if not (1e-9 < t < 1 - 1e-9 and 1e-9 < u < 1 - 1e-9):
        return None
    angle = math.degrees(math.acos(min(1.0, abs(rx * sx + ry * sy) / math.hypot(rx, ry) / math.hypot(sx, sy))))
    return (ax + t * rx, ay + t * ry), angle


def _to_box(outline, point) -> float:
    u, v = _in_frame(outline, point)
    _, _, width, height = _frame(outline)
    return math.hypot(max(abs(u) - width / 2, 0.0), max(abs(v) - height / 2, 0.0))


def rule_breaks(geometry: Geometry, weights: bool) -> list[str]:
    """What breaks the labelling rule, computed afresh.  Every label (weight, value, name,
    caption) touches no other label, no node and no arrow head but its own wire's.  In a circuit
    (``weights`` False) a label touches no wire but its own.  In a layered picture a weight is
    centred on its own edge and turned along it; another wire may touch it only by crossing its
    edge inside the box, at MIN_CROSS_DEG or steeper, END_CM or more from its ends and, if it
    slants, far enough from them to leave an end SIDE_CM from the weight's own wire; and two
    weights on crossing edges do not crowd the crossing: if one covers it, the other keeps
    VISIBLE_CM of bare wire beyond the first one's strip, else together they keep AMBIGUITY_CM."""
    pieces = geometry.pieces
    segments = {p.name: p.outline for p in pieces if p.kind == "wire" and len(p.outline) == 2}
    heads = [p for p in pieces if p.kind == "wire" and len(p.outline) == 3]
    nodes = geometry.of_kind("node")
    labels = geometry.of_kind("label")
    out = []
    for k, a in enumerate(labels):
        for b in labels[k + 1 :]:
            if touch(a.outline, b.outline, CLEARANCE):
                out.append(f"{a.name} touches {b.name}")
        for b in nodes:
            if touch(a.outline, b.outline, CLEARANCE):
                out.append(f"{a.name} touches node {b.name}")
        for b in heads:
            if b.name != a.owner and touch(a.outline, b.outline, CLEARANCE):
                out.append(f"{a.name} touches the arrow head of {b.name}")
        weight = weights and a.owner in segments
        if weights and a.owner and not weight:
            out.append(f"{a.name} is not on a wire of the picture")
        if weight:  # centred on its own edge, turned along it
            own = segments[a.owner]
            u0, v0 = _in_frame(a.outline, own[0])
            u1, v1 = _in_frame(a.outline, own[1])
            if abs(v0) > 1e-3 or abs(v1) > 1e-3 or not (u0 < 0 < u1 or u1 < 0 < u0):
                out.append(f"{a.name} is not centred on its own wire")
        for name, seg in segments.items():
            if name == a.owner or not touch(a.outline, seg, CLEARANCE):
                continue
            if not weight:
                out.append(f"{a.name} touches wire {name}")
                continue
            met = _meet(segments[a.owner], seg)
            if met is None:
                out.append(f"{a.name} touches wire {name}, which does not cross its wire")
                continue
            point, angle = met
            u, _ = _in_frame(a.outline, point)
            _, _, width, height = _frame(a.outline)
            margin = max(END_CM, min(SIDE_CM, height / 2) / math.tan(math.radians(angle)))
            if angle < MIN_CROSS_DEG - 1e-6:
                out.append(f"{a.name} is crossed by {name} at {angle:.1f} degrees")
            elif abs(u) > width / 2 - margin + 1e-6:
                out.append(f"{a.name} is crossed by {name} {width / 2 - abs(u):.3f} cm from its end")
    weight_labels = [p for p in labels if weights and p.owner in segments]
    for k, a in enumerate(weight_labels):
        for b in weight_labels[k + 1 :]:
            met = _meet(segments[a.owner], segments[b.owner])
            if met is None:
                continue
            away_a, away_b = _to_box(a.outline, met[0]), _to_box(b.outline, met[0])
            sine = math.sin(math.radians(met[1]))
            if away_a == 0 or away_b == 0:  # one covers the crossing: bare wire beyond its strip
                cover, other = (a, away_b) if away_a == 0 else (b, away_a)
                if other < _frame(cover.outline)[3] / 2 / sine + VISIBLE_CM - 1e-6:
                    out.append(f"{a.name} and {b.name} crowd the crossing of their wires")
            elif away_a + away_b < AMBIGUITY_CM - 1e-6:
                out.append(f"{a.name} and {b.name} both sit by the crossing of their wires")
    return out


def bad_geometries() -> dict[str, tuple[Geometry, bool]]:
    """Small pictures that each break the rule once (and the good one that breaks nothing): a
    weight 0.7 x 0.4 cm on the wire (0,0) -> (4,0), its centre at (2,0)."""

    def picture(*extra: Piece, weights: bool = True, at: tuple[float, float] = (2, 0)) -> tuple[Geometry, bool]:
        g = Geometry()
        g.add(Piece("A", "node", circle(0, 0, 0.4)))
        g.add(Piece("B", "node", circle(4, 0, 0.4)))
        g.add(Piece("a", "wire", ((0, 0), (4, 0))))
        g.add(Piece("weight a", "label", box(*at, 0.35, 0.2), "a", crossable=weights))
        for piece in extra:
            g.add(piece)
        return g, weights

    def across(x: float, degrees: float, name: str = "b") -> Piece:  # a wire crossing a at (x, 0)
        dx, dy = 3 * math.cos(math.radians(degrees)), 3 * math.sin(math.radians(degrees))
        return Piece(name, "wire", ((x - dx, -dy), (x + dx, dy)))

    steep, upright = across(2, 80), across(2, 90)
    return {
        "good": picture(steep),
        "shallow crossing": picture(across(2, 20)),
        "grazes its end": picture(across(2.39, 80)),
        "crosses at its end": picture(across(2.33, 80)),
        "slants out beside its wire": picture(across(2.27, 35)),
        "runs along it": picture(Piece("b", "wire", ((0.5, 0.1), (3.5, 0.1)))),
        "off its wire": picture(steep, at=(2, 0.05)),
        "on an arrow head": picture(Piece("c", "wire", ((1.9, 0.15), (2.1, 0.3), (2.1, 0.0)))),
        "a weight just beyond one at a crossing": picture(upright, _weight_on(upright, 0.4)),
        "two weights beside a crossing": picture(upright, _weight_on(upright, 0.04), at=(2 - 0.2 - 0.35, 0)),
        "circuit label under a wire": picture(steep, weights=False),
    }


def _weight_on(wire: Piece, away: float) -> Piece:
    """A 0.6 x 0.3 weight on ``wire`` (crossing a at (2, 0), its middle), ``away`` beyond it."""
    (ax, ay), (bx, by) = wire.outline
    length = math.hypot(bx - ax, by - ay)
    ux, uy = (bx - ax) / length, (by - ay) / length
    d = away + 0.3
    return Piece("weight b", "label", box(2 + d * ux, d * uy, 0.3, 0.15, math.atan2(uy, ux)), wire.name, True)


@pytest.mark.parametrize("case", sorted(bad_geometries()))
def test_the_checks_see_every_break_of_the_rule(case):
    geometry, weights = bad_geometries()[case]
    found, collisions = rule_breaks(geometry, weights), geometry.collisions()
    if case == "good":
        assert found == [] and collisions == []
    else:
        assert found, case
        if case != "off its wire":  # where a weight sits is the layout's business, checked by the tests
            assert collisions, case


def test_a_second_weight_clear_of_the_crossing_is_fine():
    beyond, _ = bad_geometries()["good"]  # a covers the crossing: b beyond its strip and 0.25 cm more
    steep = beyond.pieces[-1]
    beyond.add(_weight_on(steep, 0.2 / math.sin(math.radians(80)) + VISIBLE_CM + 0.01))
    beside, _ = bad_geometries()["two weights beside a crossing"]  # neither covers it: 0.2 + 0.06 cm
    beside.pieces[-1] = _weight_on(beside.pieces[-2], 0.06)
    for geometry in (beyond, beside):
        assert rule_breaks(geometry, True) == [] and geometry.collisions() == []


@pytest.mark.parametrize(("name", "notation", "lang"), list(document_layouts()))
def test_no_label_touches_anything_in_the_documents(name, notation, lang):
    layout = layout_of(name, notation, lang)
    assert layout is not None
    assert layout.geometry.collisions() == []
    assert rule_breaks(layout.geometry, weights=notation is not None) == []
    labels = layout.geometry.of_kind("label")
    assert labels, "every built-in picture has labels"
    if notation is not None:  # the built-in networks are small: every weight is on its edge
        assert layout.labelled
        sizes = builder(name, lang, notation).net.sizes
        assert sum(p.owner.startswith("L") for p in labels) == sum(a * b for a, b in itertools.pairwise(sizes))
    else:  # a circuit's labels are strict: no wire passes under any of them
        assert not any(p.crossable for p in labels)


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


def weight_font(tikz: str) -> float:
    return float(re.search(r"wlabel/\.style=\{[^\n]*?font=\\fontsize\{([\d.]+)\}", tikz).group(1))


def check_layered(layout: diagram.Layout, edges) -> None:
    """The rule on a layered picture, every weight drawn if any is, and the page's limits."""
    geometry = layout.geometry
    assert geometry.collisions() == []
    assert rule_breaks(geometry, weights=True) == []
    weights = [p for p in geometry.of_kind("label") if p.owner]
    x0, y0, x1, y1 = geometry.extent()
    if layout.labelled:
        assert len(weights) == sum(bool(e[4]) for e in edges)
        assert weight_font(layout.tikz) >= 7
        assert x1 - x0 <= diagram.FIT_WIDTH_CM and y1 - y0 <= diagram.MAX_LABELLED_HEIGHT_CM
    else:
        assert weights == [] and "\\node[wlabel" not in layout.tikz


def random_layout(sizes, notation, bias):
    layers, edges = layered_labels(sizes, notation)
    biases = [("+1" if bias else None) for _ in sizes[:-1]] + [None]
    captions = ["input"] + ["hidden"] * (len(sizes) - 2) + ["output"]
    return layered_layout(layers, edges, biases=biases, caption_layers=captions), edges


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 8), min_size=3, max_size=6),
    notation=st.sampled_from(["node", "layer"]),
    bias=st.booleans(),
)
def test_random_layered_networks_keep_the_rule(sizes, notation, bias):
    layout, edges = random_layout(sizes, notation, bias)
    check_layered(layout, edges)
    if layout.labelled:
        assert max(sizes) <= MAX_LABELLED_UNITS
    if max(sizes) <= 3:  # small layers always have room for their weights
        assert layout.labelled
    x0, y0, x1, y1 = layout.geometry.extent()
    assert x1 - x0 <= diagram.FIT_WIDTH_CM and y1 - y0 <= diagram.MAX_LABELLED_HEIGHT_CM


# Layers of 6 to 8 units with their weights: wires pass (steeply) under some of them.  Not every
# such network: an 8 x 8 pair in layer notation (its weights 0.41 cm high), or 7 or 8 units in
# three or more layers, leave some weight no place under the rule within the page; those are
# drawn without weights (checked below as well).
WIDE_LABELLED = [
    ("6-6", "node"),
    ("6-6", "layer"),
    ("7-7", "node"),
    ("7-7", "layer"),
    ("8-8", "node"),
    ("3-8-2", "node"),
    ("3-8-2", "layer"),
    ("8-4", "layer"),
    ("2-8-2", "layer"),
    ("6-6-3", "node"),
    ("6-6-3", "layer"),
    ("6-6-6", "layer"),
    ("4-8-4", "node"),
    ("5-5-5-5", "layer"),
]


@pytest.mark.parametrize(("sizes", "notation"), WIDE_LABELLED, ids=[f"{s}-{n}" for s, n in WIDE_LABELLED])
def test_layers_of_6_to_8_units_carry_their_weights(sizes, notation):
    start = time.perf_counter()
    layout, edges = random_layout([int(k) for k in sizes.split("-")], notation, True)
    took = time.perf_counter() - start
    x0, y0, x1, y1 = layout.geometry.extent()
    wires = [p for p in layout.geometry.of_kind("wire") if len(p.outline) == 2]
    weights = [p for p in layout.geometry.of_kind("label") if p.owner]
    crossed = [p for p in weights if any(q.name != p.owner and touch(p.outline, q.outline, CLEARANCE) for q in wires)]
    print(
        f"{sizes} {notation}: {x1 - x0:.2f} x {y1 - y0:.2f} cm, {took:.2f} s, {len(crossed)} of {len(weights)} crossed"
    )
    assert layout.labelled
    check_layered(layout, edges)
    assert took < 10


@pytest.mark.parametrize("sizes", ["8-8", "8-8-8", "7-7-7-7", "8-8-8-8"])
def test_no_place_for_every_weight_means_no_weights(sizes):
    start = time.perf_counter()
    layout, edges = random_layout([int(k) for k in sizes.split("-")], "layer", True)
    print(f"{sizes}: labelled {layout.labelled}, {time.perf_counter() - start:.2f} s")
    check_layered(layout, edges)  # labelled or not, nothing breaks the rule
    assert time.perf_counter() - start < 10


def test_wide_layers_have_no_edge_labels():
    layers, edges = layered_labels([3, MAX_LABELLED_UNITS + 1, 2], "layer")
    layout = layered_layout(layers, edges, biases=["+1", "+1", None])
    assert not layout.labelled and "wlabel]" not in layout.tikz and "\\node[wlabel" not in layout.tikz
    assert layout.geometry.collisions() == []


def test_the_checks_see_a_shallow_crossing_in_a_real_picture():
    """Moving one weight of a real 6 x 6 picture onto a crossing it may not sit on is caught."""
    layout, _ = random_layout([6, 6], "layer", True)
    geometry = layout.geometry
    segments = {p.name: p.outline for p in geometry.pieces if p.kind == "wire" and len(p.outline) == 2}
    moved = None
    for k, piece in enumerate(geometry.pieces):
        if piece.kind != "label" or not piece.owner:
            continue
        (ax, ay), (bx, by) = segments[piece.owner]
        for name, seg in segments.items():
            met = _meet(segments[piece.owner], seg)
            if name != piece.owner and met is not None and met[1] < MIN_CROSS_DEG - 5:
                _, _, width, height = _frame(piece.outline)
                angle = math.atan2(by - ay, bx - ax)
                moved = replace(piece, outline=box(*met[0], width / 2, height / 2, angle))
                geometry.pieces[k] = moved
                break
        if moved is not None:
            break
    assert moved is not None
    assert any("degrees" in b for b in rule_breaks(geometry, weights=True))
    assert geometry.collisions()


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


def printed_number_pt(tikz: str) -> float:
    """The size at which a circuit's numbers come out: their font times the picture's scale."""
    font = float(re.search(r"val/\.style=\{[^\n]*?font=\\fontsize\{([\d.]+)\}", tikz).group(1))
    scale = re.search(r"^\\begin\{tikzpicture\}\[scale=([\d.]+), transform shape", tikz)
    return font * (float(scale.group(1)) if scale else 1.0)


def test_printed_size_parser():
    assert (
        printed_number_pt("\\begin{tikzpicture}[scale=0.5, transform shape,\n val/.style={font=\\fontsize{8}{10}}") == 4
    )
    assert printed_number_pt("\\begin{tikzpicture}[>=x,\n val/.style={fill=white, font=\\fontsize{7}{8}}") == 7


@pytest.mark.parametrize("name", GRAPHS)
def test_circuit_numbers_print_at_7_pt_or_more(name):
    layout = layout_of(name, None, "en")
    x0, _, x1, _ = layout.geometry.extent()
    printed = printed_number_pt(layout.tikz)
    print(f"{name}: numbers at {printed:.2f} pt, {(x1 - x0) * layout.scale:.2f} cm wide on the page")
    assert printed >= 7
    assert (x1 - x0) * layout.scale <= diagram.FIT_WIDTH_CM + 1e-6


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


def net_8_8() -> str:
    layers, edges = layered_labels([8, 8], "node")
    return layered_diagram(layers, edges, biases=["+1", None], caption_layers=["input", "output"])


def net_6_6_3() -> str:
    layers, edges = layered_labels([6, 6, 3], "layer")
    return layered_diagram(layers, edges, biases=["+1", "+1", None], caption_layers=["input", "hidden", "output"])


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
    "8-8": net_8_8,
    "6-6-3": net_6_6_3,
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
        assert width <= diagram.FIT_WIDTH_CM + 0.2, (name, width)  # within the documents' 16.6 cm text width
        assert height + depth <= diagram.MAX_LABELLED_HEIGHT_CM + 0.2, (name, height + depth)
    drawn = float(re.search(r"GATEWIDTH ([\d.]+)pt", log).group(1))
    size = float(re.search(r"minimum size=([\d.]+)cm\] \(G2\)", max_gate()).group(1)) * PT_PER_CM
    print(f"max gate drawn {drawn:.2f} pt, set {size:.2f} pt")
    assert drawn <= size + 1.0, (drawn, size)  # the set size (and the line), not grown to fit "max"
    png_dir = os.environ.get("SYMBACKPROP_DIAGRAM_PNG")  # set to look at the pictures
    if png_dir and shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", str(tmp_path / "diagrams.pdf"), str(Path(png_dir) / "diagram")], check=True
        )
