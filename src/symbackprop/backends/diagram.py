"""TikZ pictures for the derivation documents: layered networks and computational graphs.

Plain data in (LaTeX math strings from the caller, already formatted numbers), ``tikzpicture``
source text out; nothing from symbackprop or SymPy is imported.  A document using the pictures
needs ``\\usepackage{tikz}`` and ``\\usetikzlibrary{<TIKZ_LIBRARIES>}``.  Same input, same bytes.

:func:`layered_diagram` -- a fully connected net, left to right
    Layer ``l`` is column ``x = l``.  Its units, then its optional bias square, form a stack
    centred on ``y = 0``, one ``y`` unit apart: item ``i`` of a stack of ``k`` is at
    ``y = (k - 1) / 2 - i``.  The ``x=``/``y=`` units come from the layer count and the tallest
    stack so that 4 layers of 8 units stay within MAX_WIDTH_CM x MAX_HEIGHT_CM (the circles
    shrink with the row spacing).  Arrows are drawn first, white-filled sloped labels last.
    Each label gets a ``pos`` in 0.3..0.85 (0.7, near the target, preferred): with every label's
    box estimated in cm, a greedy pass and two improvement passes pick for each label the
    position overlapping the other labels least, then crossing fewest other edges.

:func:`graph_diagram` -- a CS231n-style circuit
    A node's column is the longest path to it from an input (inputs are column 0, stacked in
    the listed order).  In later columns nodes are sorted by the mean row of their operands
    (barycentre, ties in listed order), pushed down to stay one row apart, and the column is
    shifted back to the mean barycentre, so gates sit level with their operands.  Each wire
    shows its source's value above (green) and gradient below (red), half a column after the
    source; nodes without outgoing wires show them on their right.  Long chains (column step
    under 2.2 cm) get smaller nodes and ``\\scriptsize`` numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

TIKZ_LIBRARIES = "arrows.meta,positioning"
MAX_WIDTH_CM = 13.5
MAX_HEIGHT_CM = 7.2
EDGE_LABEL_POS = 0.7
Box = tuple[float, float, float, float, float]  # pos, centre x, centre y, half width, half height (cm)


def _num(x: float) -> str:
    """A coordinate with at most 3 decimals and no negative zero."""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _distance(x: float, y: float, seg: tuple[float, ...]) -> float:
    """Distance from the point (x, y) to the segment (ax, ay, bx, by)."""
    ax, ay, bx, by = seg
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / ((dx * dx + dy * dy) or 1.0)))
    return math.hypot(x - ax - t * dx, y - ay - t * dy)


def _label_boxes(seg: tuple[float, ...], radius: float, label: str) -> list[Box]:
    """Candidate boxes (hulls of the sloped ``\\scriptsize`` label) at pos 0.3, 0.35, ..., 0.85."""
    text = re.sub(r"\\[a-zA-Z]+", "x", label)  # a command is about one glyph; stacked scripts count once
    text = re.sub(
        r"\^\{([^{}]*)\}_\{([^{}]*)\}|_\{([^{}]*)\}\^\{([^{}]*)\}",
        lambda m: "_{" + max((g or "" for g in m.groups()), key=len) + "}",
        text,
    )
    scripts = "".join(re.findall(r"[_^]\{([^{}]*)\}", text))
    width = 0.15 * len(re.sub(r"[_^]\{[^{}]*\}|[_^{} ]", "", text)) + 0.1 * len(scripts) + 0.15
    ax, ay, bx, by = seg
    length = math.hypot(bx - ax, by - ay) or 1.0
    cos, sin = abs(bx - ax) / length, abs(by - ay) / length
    half_w, half_h = (width * cos + 0.32 * sin) / 2, (width * sin + 0.32 * cos) / 2
    boxes = []
    for step in range(12):
        pos = round(0.3 + 0.05 * step, 2)
        t = (radius + pos * max(length - 2 * radius, 0.0)) / length
        boxes.append((pos, ax + t * (bx - ax), ay + t * (by - ay), half_w, half_h))
    return boxes


def _place_labels(candidates: list[list[Box]], segments: list[tuple[float, ...]]) -> list[float]:
    """One ``pos`` per label; label k lies on segments[k]."""
    chosen: list[Box | None] = [None] * len(candidates)

    def cost(k: int, box: Box) -> tuple[float, float, float]:
        pos, x, y, w, h = box
        overlap = sum(
            max(0.0, w + o[3] + 0.3 - abs(x - o[1])) * max(0.0, h + o[4] + 0.1 - abs(y - o[2]))
            for j, o in enumerate(chosen)
            if o is not None and j != k
        )
        crossed = sum(_distance(x, y, seg) < 0.2 for j, seg in enumerate(segments) if j != k)
        return round(overlap + 0.04 * crossed, 6), abs(pos - EDGE_LABEL_POS), pos

    for _ in range(3):
        for k, boxes in enumerate(candidates):
            chosen[k] = min(boxes, key=lambda box: cost(k, box))
    return [box[0] for box in chosen if box is not None]


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
    stack = [len(layer) + (bias[k] is not None) for k, layer in enumerate(layers)]
    xstep = min(5.0, MAX_WIDTH_CM / max(n - 1, 1))
    ystep = min(1.5, MAX_HEIGHT_CM / max(max(stack) - 1, 1))
    size = min(0.9, 0.72 * ystep)
    out = [
        f"\\begin{{tikzpicture}}[x={_num(xstep)}cm, y={_num(ystep)}cm, >={{Stealth[length={_num(min(2, 1.5 * ystep))}mm]}},",
        f"  unit/.style={{circle, draw, thick, fill=white, minimum size={_num(size)}cm, inner sep=1pt}},",
        f"  bias/.style={{rectangle, draw, fill=black!5, minimum size={_num(0.7 * size)}cm, inner sep=1pt}},",
        "  conn/.style={->, draw=black!75}, biasconn/.style={->, dashed, draw=black!45},",
        "  wlabel/.style={sloped, fill=white, inner sep=1pt, font=\\scriptsize},",
        "  caption/.style={anchor=north, font=\\small}]",
    ]
    centre = {}  # (layer, 1-based item) -> (x, y) in cm; the bias is the item after the units
    for k, layer in enumerate(layers):
        for i in range(stack[k]):
            y = (stack[k] - 1) / 2 - i
            centre[k, i + 1] = (k * xstep, y * ystep)
            if i < len(layer):
                out.append(f"\\node[unit] (L{k}N{i + 1}) at ({k},{_num(y)}) {{${layer[i]}$}};")
            else:
                out.append(f"\\node[bias] (L{k}B) at ({k},{_num(y)}) {{${bias[k]}$}};")
    out += [f"\\draw[conn] (L{fl}N{fi}) -- (L{tl}N{ti});" for fl, fi, tl, ti, _ in edges]
    bias_edges = [(k, j) for k in range(n - 1) if bias[k] is not None for j in range(1, len(layers[k + 1]) + 1)]
    out += [f"\\draw[biasconn] (L{k}B) -- (L{k + 1}N{j});" for k, j in bias_edges]
    if edge_labels:
        labelled = [e for e in edges if e[4]]
        segments = [(*centre[e[0], e[1]], *centre[e[2], e[3]]) for e in labelled + [e for e in edges if not e[4]]]
        segments += [(*centre[k, stack[k]], *centre[k + 1, j]) for k, j in bias_edges]
        boxes = [_label_boxes(segments[k], size / 2, e[4]) for k, e in enumerate(labelled)]
        for (fl, fi, tl, ti, label), pos in zip(labelled, _place_labels(boxes, segments)):
            out.append(f"\\path (L{fl}N{fi}) -- node[wlabel, pos={_num(pos)}] {{${label}$}} (L{tl}N{ti});")
    if caption_layers is not None:
        bottom = _num(-(max(stack) - 1) / 2)
        for k, text in enumerate(caption_layers):
            out.append(f"\\node[caption, yshift=-{_num(size / 2 + 0.15)}cm] at ({k},{bottom}) {{{text}}};")
    out.append("\\end{tikzpicture}")
    return "\n".join(out) + "\n"


def _columns_and_rows(preds: list[list[int]], succs: list[list[int]]) -> tuple[list[int], list[float]]:
    """Longest-path columns (Kahn's order, ties by index) and barycentric rows."""
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
    row = [0.0] * count
    for c in range(max(col) + 1):
        members = [i for i in range(count) if col[i] == c]
        want = {
            i: sum(row[p] for p in preds[i]) / len(preds[i]) if c else (len(members) - 1) / 2 - j
            for j, i in enumerate(members)
        }
        members.sort(key=lambda i: (-want[i], i))
        for j, i in enumerate(members):  # top to bottom, at least one row apart
            row[i] = want[i] if j == 0 else min(want[i], row[members[j - 1]] - 1)
        shift = sum(want[i] - row[i] for i in members) / len(members)
        for i in members:
            row[i] += shift
    return col, row


def graph_diagram(
    nodes: Sequence[tuple[str, str, str]],
    edges: Sequence[tuple[str, str]],
    values: Mapping[str, str] | None = None,
    gradients: Mapping[str, str] | None = None,
) -> str:
    """A computational graph: nodes (name, "input" | "gate" | "output", math label), wires
    (from_name, to_name), per-node forward values and gradients d(output)/d(node)."""
    if not nodes:
        raise ValueError("graph_diagram needs at least one node")
    index: dict[str, int] = {}
    for i, (name, kind, _) in enumerate(nodes):
        if name in index or kind not in ("input", "gate", "output"):
            raise ValueError(f"node {name!r}: listed twice or unknown kind {kind!r}")
        index[name] = i
    preds: list[list[int]] = [[] for _ in nodes]
    succs: list[list[int]] = [[] for _ in nodes]
    for a, b in edges:
        if a not in index or b not in index or nodes[index[b]][1] == "input":
            raise ValueError(f"edge ({a!r}, {b!r}) names an unknown node or enters an input")
        preds[index[b]].append(index[a])
        succs[index[a]].append(index[b])
    col, row = _columns_and_rows(preds, succs)
    values, gradients = values or {}, gradients or {}
    sinks = [(name, i) for name, i in index.items() if not succs[i]]
    sink_text = any(name in values or name in gradients for name, _ in sinks)
    xstep = min(3.0, (MAX_WIDTH_CM + 0.5 - 1.2 * sink_text) / max(max(col), 1))
    ystep = min(1.8, MAX_HEIGHT_CM / max(max(row) - min(row), 1))
    dense = xstep < 2.2  # long chains: smaller nodes and numbers so every wire keeps its labels
    size, font = ("6.5mm", "\\scriptsize") if dense else ("8mm", "\\footnotesize")
    box = f"rectangle, draw, thick, fill=black!5, minimum size={size}, inner sep=2pt"
    out = [
        f"\\begin{{tikzpicture}}[x={_num(xstep)}cm, y={_num(ystep)}cm, >={{Stealth[length=2mm]}},",
        f"  inputnode/.style={{{box}}}, outputnode/.style={{{box}, rounded corners=2pt}},",
        f"  gatenode/.style={{circle, draw, thick, fill=white, minimum size={size}, inner sep=1pt}},",
        "  wire/.style={->, draw=black!75},",
        f"  val/.style={{font={font}, text=green!50!black, fill=white, inner sep=1.5pt}},",
        f"  grad/.style={{font={font}, text=red!70!black, fill=white, inner sep=1.5pt}}]",
    ]
    for i, (_, kind, label) in enumerate(nodes):
        out.append(f"\\node[{kind}node] (G{i}) at ({col[i]},{_num(row[i])}) {{${label}$}};")
    out += [f"\\draw[wire] (G{index[a]}) -- (G{index[b]});" for a, b in edges]
    for a, b in edges:
        ia, ib = index[a], index[b]
        pos = _num(0.5 / (col[ib] - col[ia]))
        labels = [f"node[val, sloped, above, pos={pos}] {{${values[a]}$}}"] if a in values else []
        labels += [f"node[grad, sloped, below, pos={pos}] {{${gradients[a]}$}}"] if a in gradients else []
        if labels:
            out.append(f"\\path (G{ia}) -- {' '.join(labels)} (G{ib});")
    for name, i in sinks:
        if name in values:
            out.append(f"\\node[val, anchor=south west, xshift=1mm] at (G{i}.east) {{${values[name]}$}};")
        if name in gradients:
            out.append(f"\\node[grad, anchor=north west, xshift=1mm] at (G{i}.east) {{${gradients[name]}$}};")
    out.append("\\end{tikzpicture}")
    return "\n".join(out) + "\n"
