"""TikZ pictures for the derivation documents: layered networks and computational graphs.

Plain data in (LaTeX math strings from the caller, already formatted numbers), ``tikzpicture``
source text out; nothing from symbackprop or SymPy is imported.  A document using the pictures
needs ``\\usepackage{tikz}`` and ``\\usetikzlibrary{<TIKZ_LIBRARIES>}``.  Same input, same bytes.

Every picture is laid out here, in cm, before TeX sees it: the size of each text is estimated
from above (:mod:`~symbackprop.backends.diagram_text`), each node and label is drawn at exactly
that size at an explicit position (labels as rotated boxes), and the layout keeps the outlines
of everything it draws (:mod:`~symbackprop.backends.diagram_geometry`). Labels are placed by
:mod:`~symbackprop.backends.diagram_labels` so that no label touches another label, a node, an
arrow head or a caption.  A circuit's numbers and names touch no wire either but their own.  A
weight sits centred on its own edge, turned along it, in a white box; another edge may pass
under it, but only steeply (MIN_CROSS_DEG or more, so that it is hidden for a short stretch
and the weight's slant tells the two apart), meeting the weight's edge inside the box clear of
its ends, and never with the weight of that edge near the same crossing (the rule in full:
:mod:`~symbackprop.backends.diagram_geometry`).  When they do not fit, the rows are spread
further apart and the layout is tried again. :func:`layered_layout` and :func:`graph_layout`
return the geometry with the picture, so that tests check it.

:func:`layered_diagram` -- a fully connected net, left to right
    Layer ``l`` is column ``l``.  Its units, then its optional bias square, form a stack centred
    on the middle row.  Column and row steps come from the layer count and the tallest stack
    (4 layers of 8 units within MAX_WIDTH_CM x MAX_HEIGHT_CM).  With weights on the edges the
    rows are spread until every weight has a place on its own edge (preferably 70% of the way
    to its target), the whole picture within MAX_LABELLED_HEIGHT_CM: first with no other edge
    under any weight (how small layers are drawn), a little taller at the usual width, else at
    the whole width; else with edges passing under some, also at the full page width
    (FIT_WIDTH_CM: the wider the columns, the steeper the crossings).  Layers of more than
    MAX_LABELLED_UNITS units, and the networks whose weights find no such places, get no edge
    labels: the more layers share the width, the narrower each pair of columns and the denser
    its crossings (in practice two layers of up to 8 units (7 with the taller W^{(l)}_{ij}
    weights), three of about 6, four of 5, five or six of 4).

:func:`graph_diagram` -- a CS231n-style circuit
    A node's column is the longest path to it from an input (inputs and parameters are column
    0).  The order of column 0 is chosen so that wires cross as little as possible (among the
    order in which a depth-first walk from the output meets them, the listed order, and, for up
    to MAX_PERMUTED inputs, every order); in later columns nodes sit level with the mean row of
    their operands, one row apart.  Gates are circles sized to their operator (``\\max`` fits)
    with the node's name beside them; each wire shows the value its source sends forward above
    it (green) and the gradient flowing back along it below (red); the output shows its value
    and gradient on its right.  Columns are as close as those numbers allow; a circuit wider
    than FIT_WIDTH_CM is shrunk to it, text and all, and if that would print its numbers under
    MIN_PRINTED_PT it is drawn compact first (gates and boxes down to COMPACT_NODE_MIN_CM,
    columns closer, the output's numbers under it), whichever prints them larger.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

from symbackprop.backends.diagram_geometry import (
    CLEARANCE,
    Geometry,
    Piece,
    box,
    circle,
    crossing_point,
    segments_cross,
)
from symbackprop.backends.diagram_labels import (
    Candidate,
    Slot,
    assign,
    assign_on_wires,
    free_candidates,
    on_wire_offsets,
)
from symbackprop.backends.diagram_text import text_box

TIKZ_LIBRARIES = "arrows.meta,positioning"
MAX_WIDTH_CM = 13.5
MAX_HEIGHT_CM = 7.2
MAX_LABELLED_HEIGHT_CM = 17.0  # a network with weights on every edge may take most of a page
MAX_LABELLED_UNITS = 8
BEND_CM = 0.3  # labels keep this far from where a wire bends
FIT_WIDTH_CM = 15.5  # a wider circuit is scaled down to this (text and all, so nothing comes to overlap)
MAX_PERMUTED = 6
EDGE_LABEL_POS = 0.7
PT = 2.54 / 72.27  # cm per TeX point
ARROW_CM = 0.2  # length of the arrow heads
LINE_CM = 0.03  # half the width of a thick outline, with a little to spare
WEIGHT_FONT = 7  # pt: weights on edges
UNIT_FONTS = (10, 8, 7)
VALUE_FONTS = (8, 7)  # pt: numbers on wires
MIN_PRINTED_PT = 7  # pt: numbers on wires as printed (font x scale), if the circuit can be drawn so
NODE_MIN_CM = 0.8  # the smallest gate circle and input or output box
COMPACT_NODE_MIN_CM = 0.6  # the same for a long circuit that would otherwise be shrunk below MIN_PRINTED_PT
NODE_FONT = 10
NAME_FONT = 9
CAPTION_FONT = 9


@dataclass(frozen=True)
class Layout:
    """A picture and the outlines of everything in it; ``labelled``: whether edges carry labels;
    ``scale``: how much the picture is shrunk to fit the page (text and all); ``number_font``:
    the font size in pt of a circuit's numbers (before the scale)."""

    tikz: str
    geometry: Geometry
    labelled: bool = True
    scale: float = 1.0
    number_font: float = 0.0


def _num(x: float) -> str:
    """A coordinate with at most 3 decimals and no negative zero."""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _font(size: float) -> str:
    return f"\\fontsize{{{size:g}}}{{{round(1.2 * size):g}}}\\selectfont"


def _label_size(latex: str, size: float, pad_pt: float = 0.75) -> tuple[float, float]:
    """Width and height in cm of the box drawn around a label (text plus ``pad_pt`` each side)."""
    t = text_box(latex, size)
    return (t.width + 2 * pad_pt) * PT, (t.total + 2 * pad_pt) * PT


def _circle_diameter(latex: str, size: float) -> float:
    """The diameter in cm of a circle around the text with 1 pt to spare (TikZ's circle shape)."""
    t = text_box(latex, size)
    return (math.hypot(t.width + 2, t.total + 2) + 1) * PT


def _box_node(latex: str, size: float, minimum: float) -> tuple[float, float]:
    w, h = _label_size(latex, size, 2.0)
    return max(w, minimum), max(h, minimum)


def _sized(width: float, height: float) -> str:
    return f"minimum width={_num(width)}cm, minimum height={_num(height)}cm"


def _arrow_head(a: tuple[float, float], b: tuple[float, float], target_reach: float) -> tuple:
    """The triangle of an arrow head ending ``target_reach`` cm before b on the segment a -> b."""
    length = math.hypot(b[0] - a[0], b[1] - a[1]) or 1.0
    ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
    tip = (b[0] - ux * target_reach, b[1] - uy * target_reach)
    base = (tip[0] - ux * ARROW_CM, tip[1] - uy * ARROW_CM)
    half = 0.45 * ARROW_CM + LINE_CM
    return (
        (tip[0] + ux * LINE_CM, tip[1] + uy * LINE_CM),
        (base[0] - uy * half, base[1] + ux * half),
        (base[0] + uy * half, base[1] - ux * half),
    )


# --- layered networks ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Net:
    layers: list[list[str]]
    edges: list[tuple[int, int, int, int, str]]
    bias: list[str | None]
    captions: list[str] | None

    @property
    def stacks(self) -> list[int]:
        return [len(layer) + (self.bias[k] is not None) for k, layer in enumerate(self.layers)]


def layered_layout(
    layers: Sequence[Sequence[str]],
    edges: Sequence[tuple[int, int, int, int, str]],
    biases: Sequence[str | None] | None = None,
    edge_labels: bool = True,
    caption_layers: Sequence[str] | None = None,
) -> Layout:
    """The picture of :func:`layered_diagram` with its geometry."""
    n = len(layers)
    if n == 0 or any(len(layer) == 0 for layer in layers):
        raise ValueError("layered_diagram needs at least one layer and no empty layer")
    for name, extra in (("biases", biases), ("caption_layers", caption_layers)):
        if extra is not None and len(extra) != n:
            raise ValueError(f"{name} has {len(extra)} entries for {n} layers")
    bias = [None] * n if biases is None else list(biases)
    if bias[-1] is not None:
        raise ValueError("the last layer has no next layer for its bias to feed")
    for fl, fi, tl, ti, _ in edges:
        for layer, index in ((fl, fi), (tl, ti)):
            if not (0 <= layer < n and 1 <= index <= len(layers[layer])):
                raise ValueError(f"edge endpoint (layer {layer}, unit {index}) does not exist")
        if tl != fl + 1:
            raise ValueError(f"edge from layer {fl} to layer {tl}: edges join neighbouring layers")
    net = _Net([list(x) for x in layers], list(edges), bias, list(caption_layers) if caption_layers else None)
    rows = max(max(net.stacks) - 1, 1)
    xstep = min(5.0, MAX_WIDTH_CM / max(n - 1, 1))
    ystep = min(1.5, MAX_HEIGHT_CM / rows)
    labelled = edge_labels and max(map(len, layers)) <= MAX_LABELLED_UNITS and any(e[4] for e in edges)
    wide = max(xstep, MAX_WIDTH_CM / max(n - 1, 1))
    # What sticks out beyond the first and last column and above the top and below the bottom
    # row: half the largest unit (its circle drawn as a polygon around it, at least 0.9 cm
    # across with the room labels get), the bias square, the captions under the picture.
    unit = max([0.9] + [_circle_diameter(t, UNIT_FONTS[0]) for layer in net.layers for t in layer])
    side = max([0.7 * unit] + [max(_box_node(b, UNIT_FONTS[0], 0.0)) for b in net.bias if b is not None])
    half = (unit / 2 + LINE_CM) / math.cos(math.pi / 16)
    captions = [_label_size(t, CAPTION_FONT, 0.0) for t in net.captions or []]
    ends = [half, side / 2 + LINE_CM] + [w / 2 for w, _ in captions[:: max(n - 1, 1)]]
    # the widest column step that keeps the picture within FIT_WIDTH_CM
    page = max(wide, (FIT_WIDTH_CM - 2 * max(ends) - 0.01) / max(n - 1, 1))
    # the rows' span that keeps it within MAX_LABELLED_HEIGHT_CM
    below = max(half, side / 2 + LINE_CM, max(unit, side) / 2 + 0.15 + max((h for _, h in captions), default=0.0))
    tall = MAX_LABELLED_HEIGHT_CM - half - below - 0.01
    # A little more height at the usual width, else the whole width and up to most of a page;
    # first with no wire under any weight (the pictures of small layers), else with wires passing
    # steeply under some, and then the full width of the page too (steeper crossings).
    stages = [(False, xstep, 1.3 * ystep * rows), (False, wide, tall)]
    stages += [(True, xstep, 1.3 * ystep * rows), (True, wide, tall)]
    stages += [(True, page, tall)] if page > wide + 1e-9 else []
    for crossable, x, limit in stages if labelled else ():
        steps = [ystep * 1.06**k for k in range(200) if ystep * 1.06**k * rows <= limit + 1e-9]
        if crossable and steps and steps[-1] * rows < limit - 0.05:
            steps.append(limit / rows)  # the whole height, not just the last step of the ladder below it
        layout = _least_room(partial(_attempt_at, net, x, crossable), steps)
        if layout is not None:
            return layout
    while True:  # without edge labels only the nodes must fit, which more room always achieves
        layout = _layered_attempt(net, xstep, ystep, False)
        if layout is not None:
            return layout
        ystep *= 1.1


def _attempt_at(net: _Net, xstep: float, crossable: bool, ystep: float) -> Layout | None:
    return _layered_attempt(net, xstep, ystep, True, crossable)


def _least_room(attempt, steps: list[float]) -> Layout | None:
    """The layout of the smallest step that works, by bisection from the largest (more room
    helps labels fit, so the search assumes a step works whenever a larger one does)."""
    if not steps:
        return None
    best = attempt(steps[-1])
    if best is None:
        return None
    lo, hi = -1, len(steps) - 1  # steps[hi] works; steps[lo] is taken not to
    while hi - lo > 1:
        mid = (lo + hi) // 2
        layout = attempt(steps[mid])
        if layout is not None:
            hi, best = mid, layout
        else:
            lo = mid
    return best


def layered_diagram(
    layers: Sequence[Sequence[str]],
    edges: Sequence[tuple[int, int, int, int, str]],
    biases: Sequence[str | None] | None = None,
    edge_labels: bool = True,
    caption_layers: Sequence[str] | None = None,
) -> str:
    """A fully connected network, left to right, as a ``tikzpicture`` string.

    ``edges`` are (from_layer, from_index, to_layer, to_index, label), layers 0-based and unit
    indices 1-based (node ``L{layer}N{index}``); biases feed every unit of the next layer.
    """
    return layered_layout(layers, edges, biases, edge_labels, caption_layers).tikz


def _layered_attempt(net: _Net, xstep: float, ystep: float, labelled: bool, crossable: bool = False) -> Layout | None:
    stacks = net.stacks
    texts = [t for layer in net.layers for t in layer]
    for font in UNIT_FONTS:
        need = max(_circle_diameter(t, font) for t in texts)
        if need <= 0.75 * ystep:
            break
    diameter = max(need, min(0.9, 0.72 * ystep))
    bias_texts = [b for b in net.bias if b is not None]
    side = max([0.7 * diameter] + [max(_box_node(b, font, 0.0)) for b in bias_texts])
    if max(diameter, side) > 0.85 * ystep or max(diameter, side) > 0.6 * xstep:
        return None
    geometry = Geometry()
    centre: dict[tuple[int, int], tuple[float, float]] = {}  # (layer, 1-based item); the bias after the units
    reach: dict[tuple[int, int], float] = {}  # centre to outline along a wire, at most
    out = [
        f"\\begin{{tikzpicture}}[>={{Stealth[length={_num(ARROW_CM * 10)}mm]}},",
        f"  unit/.style={{circle, draw, thick, fill=white, inner sep=1pt, font={_font(font)}}},",
        f"  bias/.style={{rectangle, draw, fill=black!5, inner sep=1pt, font={_font(font)}}},",
        "  conn/.style={->, draw=black!75}, biasconn/.style={->, dashed, draw=black!45},",
        f"  wlabel/.style={{fill=white, inner sep=0pt, font={_font(WEIGHT_FONT)}}},",
        f"  caption/.style={{inner sep=0pt, font={_font(CAPTION_FONT)}}}]",
    ]
    for k, layer in enumerate(net.layers):
        for i in range(stacks[k]):
            x, y = k * xstep, ((stacks[k] - 1) / 2 - i) * ystep
            centre[k, i + 1] = (x, y)
            if i < len(layer):
                out.append(
                    f"\\node[unit, minimum size={_num(diameter)}cm] (L{k}N{i + 1}) at ({_num(x)},{_num(y)}) {{${layer[i]}$}};"
                )
                geometry.add(Piece(f"L{k}N{i + 1}", "node", circle(x, y, diameter / 2 + LINE_CM)))
                reach[k, i + 1] = diameter / 2
            else:
                out.append(
                    f"\\node[bias, minimum size={_num(side)}cm] (L{k}B) at ({_num(x)},{_num(y)}) {{${net.bias[k]}$}};"
                )
                geometry.add(Piece(f"L{k}B", "node", box(x, y, side / 2 + LINE_CM, side / 2 + LINE_CM)))
                reach[k, i + 1] = side / 2 * math.sqrt(2)
    wires: list[tuple[str, tuple[int, int], tuple[int, int], str]] = []  # name, from, to, label
    for fl, fi, tl, ti, label in net.edges:
        wires.append((f"L{fl}N{fi}-L{tl}N{ti}", (fl, fi), (tl, ti), label))
        out.append(f"\\draw[conn] (L{fl}N{fi}) -- (L{tl}N{ti});")
    for k in range(len(net.layers) - 1):
        if net.bias[k] is not None:
            for j in range(1, len(net.layers[k + 1]) + 1):
                wires.append((f"L{k}B-L{k + 1}N{j}", (k, stacks[k]), (k + 1, j), ""))
                out.append(f"\\draw[biasconn] (L{k}B) -- (L{k + 1}N{j});")
    for name, a, b, _ in wires:
        geometry.add(Piece(name, "wire", (centre[a], centre[b])))
        geometry.add(Piece(name, "wire", _arrow_head(centre[a], centre[b], reach[b])))
    if net.captions is not None:
        bottom = -(max(stacks) - 1) / 2 * ystep - max(diameter, side) / 2 - 0.15
        for k, text in enumerate(net.captions):
            w, h = _label_size(text, CAPTION_FONT, 0.0)
            geometry.add(Piece(f"caption{k}", "label", box(k * xstep, bottom - h / 2, w / 2, h / 2)))
            out.append(f"\\node[caption, {_sized(w, h)}] at ({_num(k * xstep)},{_num(bottom - h / 2)}) {{{text}}};")
    if labelled:
        placed = _weights(net, geometry, wires, centre, reach, crossable)
        if placed is None:
            return None
        for name, (x, y), angle, (w, h), label in placed:
            outline = box(x, y, w / 2, h / 2, math.radians(angle))
            geometry.add(Piece(f"label {name}", "label", outline, name, crossable=True))
            out.append(f"\\node[wlabel, {_sized(w, h)}, rotate={_num(angle)}] at ({_num(x)},{_num(y)}) {{${label}$}};")
    if geometry.collisions():
        return None
    out.append("\\end{tikzpicture}")
    return Layout("\n".join(out) + "\n", geometry, labelled)


def _weights(net: _Net, geometry: Geometry, wires, centre, reach, crossable: bool):
    """Positions of the edge labels on their own edges: (wire name, centre, angle, size, label).
    ``crossable``: whether other wires may pass under a label (steeply), else none may touch it."""
    captions = [p for p in geometry.pieces if p.name.startswith("caption")]
    heads = [p for p in geometry.pieces if p.kind == "wire" and len(p.outline) == 3]
    found: list[tuple] = []
    slots: list[Slot] = []
    for name, a, b, label in wires:
        if not label:
            continue
        start, end = centre[a], centre[b]
        length = math.hypot(end[0] - start[0], end[1] - start[1])
        angle = math.atan2(end[1] - start[1], end[0] - start[0])
        w, h = _label_size(label, WEIGHT_FONT)
        segments = [(centre[p], centre[q]) for o, p, q, _ in wires if o != name and p[0] == a[0]]
        discs = [(centre[key], reach[key] + LINE_CM) for key in centre if key[0] in (a[0], b[0])]
        discs += [_disc(p.outline) for p in heads if p.name != name]
        discs += [_disc(p.outline) for p in captions]
        span = (reach[a] + LINE_CM + w / 2, length - reach[b] - ARROW_CM - LINE_CM - w / 2)
        if span[1] < span[0]:
            return None
        offsets = on_wire_offsets(start, end, w / 2, h / 2, span, segments, discs, CLEARANCE, 0.025, crossable)
        if not offsets:
            return None
        preferred = span[0] + EDGE_LABEL_POS * (span[1] - span[0])
        offsets.sort(key=lambda dc: (dc[1], round(abs(dc[0] - preferred), 6), dc[0]))  # nothing under it first
        slots.append(Slot(start, (math.cos(angle), math.sin(angle)), w / 2, h / 2, tuple(d for d, _ in offsets)))
        found.append((name, (start, end), math.degrees(angle), (w, h), label))
    crossings = {}
    for (k, one), (j, other) in itertools.combinations(enumerate(found), 2):
        point = crossing_point(one[1], other[1])
        if point is not None:
            (ux, uy), (vx, vy) = slots[k].direction, slots[j].direction
            crossings[k, j] = (math.dist(one[1][0], point), math.dist(other[1][0], point), abs(ux * vy - uy * vx))
    chosen = assign_on_wires(slots, crossings, CLEARANCE)
    if chosen is None:
        return None
    placed = []
    for (name, (start, _), angle, size, label), slot, ci in zip(found, slots, chosen):
        d = slot.offsets[ci]
        x, y = start[0] + d * slot.direction[0], start[1] + d * slot.direction[1]
        placed.append((name, (x, y), angle, size, label))
    return placed


def _disc(outline) -> tuple[tuple[float, float], float]:
    """A disc around a small outline: its centroid and the farthest corner."""
    cx = sum(p[0] for p in outline) / len(outline)
    cy = sum(p[1] for p in outline) / len(outline)
    return (cx, cy), max(math.hypot(p[0] - cx, p[1] - cy) for p in outline)


# --- computational graphs --------------------------------------------------------------------


def _longest_path_columns(preds: list[list[int]], succs: list[list[int]]) -> list[int]:
    """Longest-path columns (Kahn's order, ties by index)."""
    count = len(preds)
    indegree = [len(p) for p in preds]
    ready = [i for i in range(count) if indegree[i] == 0]
    col = [0] * count
    done = 0
    while ready:
        node = ready.pop(0)
        done += 1
        for s in succs[node]:
            col[s] = max(col[s], col[node] + 1)
            indegree[s] -= 1
            if indegree[s] == 0:
                ready = sorted(ready + [s])
    if done != count:
        raise ValueError("the graph has a cycle")
    return col


def _rows(
    col: list[int], preds: list[list[int]], first: Sequence[int], orders: Mapping[int, list[int]] | None = None
) -> list[float]:
    """Rows: column 0 in the order ``first``, top down; later columns level with the mean row of
    their operands (in that order unless ``orders`` gives a column's), at least one row apart,
    shifted back to the mean."""
    row = [0.0] * len(col)
    for j, i in enumerate(first):
        row[i] = (len(first) - 1) / 2 - j
    for c in range(1, max(col) + 1):
        members = [i for i in range(len(col)) if col[i] == c]
        want = {i: sum(row[p] for p in preds[i]) / len(preds[i]) if preds[i] else 0.0 for i in members}
        members = list(orders[c]) if orders and c in orders else sorted(members, key=lambda i: (-want[i], i))
        for j, i in enumerate(members):
            row[i] = want[i] if j == 0 else min(want[i], row[members[j - 1]] - 1)
        shift = sum(want[i] - row[i] for i in members) / len(members)
        for i in members:
            row[i] += shift
    return row


def _depth_first_order(preds: list[list[int]], col: list[int], sinks: list[int], count: int) -> list[int]:
    """Column-0 nodes in the order a depth-first walk from the outputs meets them (operands in order)."""
    seen: list[int] = []
    visited: set[int] = set()
    stack = list(reversed(sinks))
    while stack:
        node = stack.pop()
        if node in visited:
            continue
        visited.add(node)
        if col[node] == 0 and node < count:
            seen.append(node)
        stack.extend(reversed(preds[node]))
    return seen + [i for i in range(count) if col[i] == 0 and i not in visited]


def _crossings(col: list[int], row: list[float], chains: list[list[int]]) -> int:
    """Pairs of crossing wire segments (a wire bends at its points in the columns it passes)."""
    segs = [((col[a], row[a]), (col[b], row[b])) for chain in chains for a, b in itertools.pairwise(chain)]
    return sum(segments_cross(p, q) for k, p in enumerate(segs) for q in segs[k + 1 :])


@dataclass(frozen=True)
class _Graph:
    """A graph ready to draw: columns and rows of its nodes, then of the points where long wires
    bend (one per column they pass, indices from ``count`` on), and each wire as its chain of
    indices from its source to its node."""

    count: int
    col: list[int]
    row: list[float]
    first: list[int]
    chains: list[list[int]]
    succs: list[list[int]]


def _graph_structure(nodes, edges) -> _Graph:
    if not nodes:
        raise ValueError("graph_diagram needs at least one node")
    index: dict[str, int] = {}
    for i, (name, kind, _) in enumerate(nodes):
        if name in index or kind not in ("input", "gate", "output"):
            raise ValueError(f"node {name!r}: listed twice or unknown kind {kind!r}")
        index[name] = i
    count = len(nodes)
    preds: list[list[int]] = [[] for _ in nodes]
    succs: list[list[int]] = [[] for _ in nodes]
    for a, b in edges:
        if a not in index or b not in index or nodes[index[b]][1] == "input":
            raise ValueError(f"edge ({a!r}, {b!r}) names an unknown node or enters an input")
        preds[index[b]].append(index[a])
        succs[index[a]].append(index[b])
    col = _longest_path_columns(preds, succs)
    chains: list[list[int]] = []
    vpreds = [list(p) for p in preds]
    for a, b in edges:
        ia, ib = index[a], index[b]
        chain = [ia]
        for c in range(col[ia] + 1, col[ib]):  # a bend point in each column the wire passes
            col.append(c)
            vpreds.append([chain[-1]])
            chain.append(len(col) - 1)
        chain.append(ib)
        if len(chain) > 2:  # the node's operand, for its row, is the wire's last bend
            vpreds[ib] = [chain[-2] if p == ia else p for p in vpreds[ib]]
        chains.append(chain)
    sinks = [i for i in range(count) if not succs[i]]
    zero = [i for i in range(count) if col[i] == 0]
    orders = [_depth_first_order(vpreds, col, sinks, count), zero]
    if len(zero) <= MAX_PERMUTED:
        orders += [list(p) for p in itertools.permutations(zero)]
    scored = [(_crossings(col, _rows(col, vpreds, order), chains), k) for k, order in enumerate(orders)]
    crossings, best = min(scored)
    first = orders[best]
    fixed = _untangle(col, vpreds, first, chains, crossings)
    return _Graph(count, col, _rows(col, vpreds, first, fixed), first, chains, succs)


def _untangle(col, preds, first, chains, crossings: int) -> dict[int, list[int]]:
    """Orders of the later columns that cross less than their operands' mean rows: adjacent
    swaps, kept when they remove crossings, a few sweeps."""
    row = _rows(col, preds, first)
    fixed = {
        c: sorted((i for i in range(len(col)) if col[i] == c), key=lambda i: -row[i]) for c in range(1, max(col) + 1)
    }
    for _ in range(3):
        improved = False
        for members in fixed.values():
            for j in range(len(members) - 1):
                if crossings == 0:
                    return fixed
                members[j], members[j + 1] = members[j + 1], members[j]
                count = _crossings(col, _rows(col, preds, first, fixed), chains)
                if count < crossings:
                    crossings, improved = count, True
                else:
                    members[j], members[j + 1] = members[j + 1], members[j]
        if not improved:
            break
    return fixed


def graph_order(nodes: Sequence[tuple[str, str, str]], edges: Sequence[tuple[str, str]]) -> list[str]:
    """The names of the column-0 nodes, top to bottom, as :func:`graph_diagram` stacks them."""
    return [nodes[i][0] for i in _graph_structure(nodes, edges).first]


def graph_layout(
    nodes: Sequence[tuple[str, str, str]],
    edges: Sequence[tuple[str, str]],
    values: Mapping[str, str] | None = None,
    gradients: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    edge_gradients: Mapping[tuple[str, str], str] | None = None,
) -> Layout:
    """The picture of :func:`graph_diagram` with its geometry."""
    graph = _graph_structure(nodes, edges)
    values, gradients, names = values or {}, gradients or {}, names or {}
    sink_text = [(i, values.get(nodes[i][0]), gradients.get(nodes[i][0])) for i in range(graph.count)]
    sink_text = [s for s in sink_text if not graph.succs[s[0]] and (s[1] is not None or s[2] is not None)]
    texts = _wire_texts(nodes, edges, values, edge_gradients or {})
    columns = max(max(graph.col), 1)
    base_x = min(3.0, (MAX_WIDTH_CM + 0.5 - 1.2 * bool(sink_text)) / columns)
    base_y = min(1.8, MAX_HEIGHT_CM / max(max(graph.row) - min(graph.row), 1))
    best = None
    for compact in (False, True):  # compact: smaller nodes, closer columns, the output's numbers under it
        layout = _graph_search(nodes, graph, texts, names, sink_text, base_x, base_y, compact)
        if layout is not None and (best is None or _printed(layout) > _printed(best)):
            best = layout
        if best is not None and _printed(best) >= MIN_PRINTED_PT - 1e-9:
            break
    if best is not None:
        return best
    for shown, grow in itertools.product((names, {}), (1.0, 1.5, 2.0, 3.0)):  # too crowded for its numbers
        xs = [base_x * c for c in range(max(graph.col) + 1)]
        layout = _graph_attempt(nodes, graph, [[] for _ in texts], shown, [], xs, base_y * grow, VALUE_FONTS[-1])
        if layout is not None:
            return replace(layout, labelled=False)
    raise ValueError("no layout of the graph keeps its nodes apart")


def _printed(layout: Layout) -> float:
    """The size in pt at which a circuit's numbers come out on the page."""
    return layout.number_font * layout.scale


def _graph_search(nodes, graph: _Graph, texts, names, sink_text, base_x, base_y, compact: bool) -> Layout | None:
    """The first layout that works, the columns widened and the rows spread step by step: with
    8 pt numbers unless the columns they need are too wide for the page, then 7 pt (shrunk to
    the page if still too wide)."""
    minimum = COMPACT_NODE_MIN_CM if compact else NODE_MIN_CM
    halves = [_node_half_width(kind, label, minimum) for _, kind, label in nodes]
    right = 1.2 if sink_text and not compact else 0.0  # room for the output's numbers on its right
    for widen in (1.0, 1.25, 1.5, 2.0, 3.0, 4.0):
        for font in VALUE_FONTS:
            xs = _column_positions(graph, texts, halves, base_x * widen, font, compact)
            if font != VALUE_FONTS[-1] and xs[-1] > FIT_WIDTH_CM - right:
                continue  # too wide with these numbers: smaller ones before shrinking the picture
            for grow in (1.0, 1.2, 1.45, 1.75, 2.1):
                layout = _graph_attempt(nodes, graph, texts, names, sink_text, xs, base_y * grow, font, compact)
                if layout is not None:
                    return layout
    return None


def _node_half_width(kind: str, label: str, minimum: float = NODE_MIN_CM) -> float:
    if kind == "gate":
        return max(minimum, _circle_diameter(f"${label}$", NODE_FONT)) / 2
    return _box_node(f"${label}$", NODE_FONT, minimum)[0] / 2


def _column_positions(
    graph: _Graph, texts, halves: list[float], step: float, font: float, compact: bool = False
) -> list[float]:
    """x of each column: ``step`` apart, more where a wire's value and gradient need the room
    between the nodes it joins (their half widths and an arrow head; ``compact``: with less to
    spare beyond what the labels' places need)."""
    spare = 2 * LINE_CM + 0.1 if compact else 4 * LINE_CM + 0.1
    gaps = [step] * max(graph.col)
    halves = halves + [0.0] * (len(graph.col) - graph.count)
    for chain, wire in zip(graph.chains, texts):
        if not wire:
            continue
        width = max(_label_size(f"${t}$", font)[0] for _, t, _ in wire)
        a, b = chain[0], chain[1]
        arrow = ARROW_CM if b == chain[-1] else 0.0
        need = halves[a] + halves[b] + arrow + width + spare
        gaps[graph.col[a]] = max(gaps[graph.col[a]], need)
    return [sum(gaps[:c]) for c in range(max(graph.col) + 1)]


def _wire_texts(nodes, edges, values, flows) -> list[list[tuple[str, str, float]]]:
    """Per wire: the source's value (above, +1) and the gradient along the wire (below, -1)."""
    out = []
    for a, b in edges:
        texts = [("val", values[a], 1.0)] if a in values else []
        texts += [("grad", flows[a, b], -1.0)] if (a, b) in flows else []
        out.append(texts)
    return out


def graph_diagram(
    nodes: Sequence[tuple[str, str, str]],
    edges: Sequence[tuple[str, str]],
    values: Mapping[str, str] | None = None,
    gradients: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    edge_gradients: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """A computational graph: nodes (name, "input" | "gate" | "output", math label), wires
    (from_name, to_name), per-node forward values and gradients d(output)/d(node) (a wire shows
    its source's value; an output shows both on its right), the LaTeX of the names written
    beside gates and outputs, and the gradient flowing along each wire (from_name, to_name)."""
    return graph_layout(nodes, edges, values, gradients, names, edge_gradients).tikz


def _graph_attempt(
    nodes, graph: _Graph, wire_texts, names, sink_text, xs, ystep, font, compact: bool = False
) -> Layout | None:
    pos = [(xs[graph.col[i]], graph.row[i] * ystep) for i in range(len(graph.col))]
    minimum = COMPACT_NODE_MIN_CM if compact else NODE_MIN_CM
    shape: list[tuple[float, float]] = []  # half width, half height of each node's outline
    out_nodes = []
    geometry = Geometry()
    for i, (_, kind, label) in enumerate(nodes):
        x, y = pos[i]
        if kind == "gate":
            d = max(minimum, _circle_diameter(f"${label}$", NODE_FONT))
            shape.append((d / 2, d / 2))
            geometry.add(Piece(f"G{i}", "node", circle(x, y, d / 2 + LINE_CM)))
            out_nodes.append(
                f"\\node[gatenode, minimum size={_num(d)}cm] (G{i}) at ({_num(x)},{_num(y)}) {{${label}$}};"
            )
        else:
            w, h = _box_node(f"${label}$", NODE_FONT, minimum)
            shape.append((w / 2, h / 2))
            geometry.add(Piece(f"G{i}", "node", box(x, y, w / 2 + LINE_CM, h / 2 + LINE_CM)))
            out_nodes.append(f"\\node[{kind}node, {_sized(w, h)}] (G{i}) at ({_num(x)},{_num(y)}) {{${label}$}};")
    shape += [(0.0, 0.0)] * (len(graph.col) - graph.count)  # bend points
    if geometry.collisions():
        return None
    out_wires = []
    for chain in graph.chains:
        a, b = chain[0], chain[-1]
        name = f"G{a}-G{b}"
        for p, q in itertools.pairwise(chain):
            geometry.add(Piece(name, "wire", (pos[p], pos[q])))
        geometry.add(Piece(name, "wire", _arrow_head(pos[chain[-2]], pos[b], _reach(shape[b], pos[chain[-2]], pos[b]))))
        bends = "".join(f" -- ({_num(pos[k][0])},{_num(pos[k][1])})" for k in chain[1:-1])
        out_wires.append(f"\\draw[wire] (G{a}){bends} -- (G{b});")
    fixed = list(geometry.pieces)
    groups: list[tuple[str, list[Candidate], list[tuple[str, str, float]]]] = []  # owner, candidates, texts
    for chain, texts in zip(graph.chains, wire_texts):
        if texts:  # on the first stretch of the wire, else on a later one, clear of its bends
            cands = []
            for a, b in itertools.pairwise(chain):
                start = _reach(shape[a], pos[b], pos[a]) if a == chain[0] else BEND_CM
                end = _reach(shape[b], pos[a], pos[b]) + ARROW_CM if b == chain[-1] else BEND_CM
                cands += _wire_candidates(pos[a], pos[b], start, end, texts, font)
            groups.append((f"G{chain[0]}-G{chain[-1]}", cands, texts))
    for i, (node, kind, _) in enumerate(nodes):
        if kind != "input" and node in names:
            spots = _name_candidates(pos[i], shape[i], names[node], 0.07 if compact else 0.06)
            groups.append((f"G{i}", spots, [("nodename", names[node], 0.0)]))
    for i, value, gradient in sink_text:
        texts = [t for t in (("val", value, 1.0), ("grad", gradient, -1.0)) if t[1] is not None]
        groups.append((f"G{i}", _sink_candidates(pos[i], shape[i], texts, font, beside=not compact), texts))
    candidates = [free_candidates(c, owner, fixed, CLEARANCE) for owner, c, _ in groups]
    chosen = assign(candidates, CLEARANCE)
    if chosen is None:
        return None
    out_labels = []
    for (owner, _, texts), cands, ci in zip(groups, candidates, chosen):
        for (style, text, _), outline in zip(texts, cands[ci]):
            (x, y), angle, w, h = _unbox(outline)
            geometry.add(Piece(f"{style} {owner} {text}", "label", outline, owner))
            rotate = f", rotate={_num(angle)}" if abs(angle) > 1e-6 else ""
            out_labels.append(f"\\node[{style}, {_sized(w, h)}{rotate}] at ({_num(x)},{_num(y)}) {{${text}$}};")
    if geometry.collisions():
        return None
    value_font = _font(font)
    x0, _, x1, _ = geometry.extent()
    scale = min(1.0, FIT_WIDTH_CM / (x1 - x0))  # a long chain is drawn at its size, then shrunk to the page
    shrink = f"scale={_num(scale)}, transform shape, " if scale < 1 else ""
    out = [
        f"\\begin{{tikzpicture}}[{shrink}>={{Stealth[length={_num(ARROW_CM * 10 * scale)}mm]}},",
        f"  inputnode/.style={{rectangle, draw, thick, fill=black!5, inner sep=2pt, font={_font(NODE_FONT)}}},",
        f"  outputnode/.style={{rectangle, draw, thick, fill=black!5, inner sep=2pt, rounded corners=2pt, font={_font(NODE_FONT)}}},",
        f"  gatenode/.style={{circle, draw, thick, fill=white, inner sep=1pt, font={_font(NODE_FONT)}}},",
        "  wire/.style={->, draw=black!75},",
        f"  nodename/.style={{text=blue!60!black, inner sep=0pt, font={_font(NAME_FONT)}}},",
        f"  val/.style={{text=green!50!black, fill=white, inner sep=0pt, font={value_font}}},",
        f"  grad/.style={{text=red!70!black, fill=white, inner sep=0pt, font={value_font}}}]",
    ]
    out += out_nodes + out_wires + out_labels
    out.append("\\end{tikzpicture}")
    return Layout("\n".join(out) + "\n", geometry, scale=scale, number_font=font)


def _reach(half: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """How far from b's centre the wire a -> b meets b's outline (a box of half sizes ``half``)."""
    dx, dy = abs(a[0] - b[0]), abs(a[1] - b[1])
    length = math.hypot(dx, dy) or 1.0
    scale = min(half[0] / dx if dx > 1e-9 else math.inf, half[1] / dy if dy > 1e-9 else math.inf)
    return min(length, scale * length) + LINE_CM


def _unbox(outline) -> tuple[tuple[float, float], float, float, float]:
    """Centre, angle in degrees, width and height of a box made by :func:`box`."""
    (x0, y0), (x1, y1), (x2, y2), _ = outline
    cx, cy = (x0 + x2) / 2, (y0 + y2) / 2
    return (
        (cx, cy),
        math.degrees(math.atan2(y1 - y0, x1 - x0)),
        math.hypot(x1 - x0, y1 - y0),
        math.hypot(x2 - x1, y2 - y1),
    )


def _wire_candidates(a, b, start_reach, end_reach, texts, font) -> list[Candidate]:
    """Value above and gradient below the segment a -> b, at points along it (half way
    preferred), each box a little off the wire, clear of the nodes (``*_reach``: how far from
    a and b the segment is inside a node or its arrow head)."""
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    angle = math.atan2(b[1] - a[1], b[0] - a[0])
    ux, uy = math.cos(angle), math.sin(angle)
    sizes = [_label_size(f"${t}$", font) for _, t, _ in texts]
    half_w = max(w for w, _ in sizes) / 2
    start = start_reach + half_w + 0.02
    end = length - end_reach - half_w - 0.02
    if end < start:
        return []
    preferred = min(max(length * 0.5, start), end)
    steps = max(1, int((end - start) / 0.05))
    offsets = sorted({round(start + k * (end - start) / steps, 4) for k in range(steps + 1)})
    offsets.sort(key=lambda d: (round(abs(d - preferred), 6), d))
    out = []
    for d in offsets:
        px, py = a[0] + d * ux, a[1] + d * uy
        boxes = []
        for (w, h), (_, _, side) in zip(sizes, texts):
            off = side * (h / 2 + 0.04)
            boxes.append(box(px - uy * off, py + ux * off, w / 2, h / 2, angle))
        out.append(tuple(boxes))
    return out


def _name_candidates(centre, half, text, gap: float = 0.06) -> list[Candidate]:
    """A node's name just above it, else below, at its corners, left or right, ``gap`` from the
    node's outline (0.06 is just its line and CLEARANCE: a rounding may refuse it)."""
    w, h = _label_size(f"${text}$", NAME_FONT)
    x, y = centre
    above, below = y + half[1] + gap + h / 2, y - half[1] - gap - h / 2
    left, right = x - half[0] - gap - w / 2, x + half[0] + gap + w / 2
    corner = 0.7  # diagonal places hug a round node
    spots = [
        (x, above),
        (x, below),
        (x - corner * half[0] - w / 2, y + corner * half[1] + h / 2 + gap),
        (x + corner * half[0] + w / 2, y + corner * half[1] + h / 2 + gap),
        (x - corner * half[0] - w / 2, y - corner * half[1] - h / 2 - gap),
        (x + corner * half[0] + w / 2, y - corner * half[1] - h / 2 - gap),
        (left, y),
        (right, y),
    ]
    return [(box(sx, sy, w / 2, h / 2),) for sx, sy in spots]


def _sink_candidates(centre, half, texts, font, beside: bool = True) -> list[Candidate]:
    """An output's value and gradient on its right, one above the other; unless ``beside``, first
    under or over it (a long circuit keeps its width for its columns)."""
    sizes = [_label_size(f"${t}$", font) for _, t, _ in texts]
    x, y = centre
    right = []
    for dx_mult, dy in ((1, 0.0), (1, 0.25), (1, -0.25), (1, 0.5), (1, -0.5)):
        boxes = []
        for (w, h), (_, _, side) in zip(sizes, texts):
            bx = x + dx_mult * (half[0] + 0.1 + w / 2)
            by = y + dy + (side * (h / 2 + 0.02) if len(texts) > 1 else 0.0)
            boxes.append(box(bx, by, w / 2, h / 2))
        right.append(tuple(boxes))
    if beside:
        return right
    stacked = []
    for sign in (-1, 1):  # the value over the gradient, under the node, else over it
        heights = [h for _, h in sizes]
        top = y - half[1] - 0.08 if sign < 0 else y + half[1] + 0.08 + sum(heights) + 0.04 * (len(sizes) - 1)
        boxes = []
        for w, h in sizes:
            boxes.append(box(x, top - h / 2, w / 2, h / 2))
            top -= h + 0.04
        stacked.append(tuple(boxes))
    return stacked + right
