"""TikZ pictures of a network of layers: the layer stack with its shapes, and a convolution's grids.

Plain data in (texts already printed, numbers already formatted), ``tikzpicture`` text out, laid
out here in cm as the other diagrams are (:mod:`~symbackprop.backends.diagram`): every text is
measured from above (:mod:`~symbackprop.backends.diagram_text`), drawn at exactly that size, and
recorded with its outline in a :class:`~symbackprop.backends.diagram_geometry.Geometry`, so that
tests check that no label touches another label, a box or a wire that is not its own.

:func:`stack_layout` -- the layers top to bottom
    A box per layer (its name, size and activation), an arrow between consecutive boxes carrying
    one example's tensor, its shape written right of the arrow. A residual block's body layers
    are boxes in the column, followed by a circle (+) that adds the block's input, brought
    round on the left by the skip wire, named beside it.

:func:`conv_layout` -- a convolution of the worked example
    The input grid (padded), the kernel grid and the output grid side by side, each cell with
    its number, separated by the operator signs; the window of the input that gives output entry
    (0, 0) and that entry framed. A picture wider than the page is scaled down to it, not below
    MIN_SCALE (else there is no picture).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from symbackprop.backends.diagram import (
    ARROW_CM,
    FIT_WIDTH_CM,
    LINE_CM,
    PT,
    Layout,
    _arrow_head,
    _font,
    _label_size,
    _num,
    _sized,
)
from symbackprop.backends.diagram_geometry import Geometry, Piece, box, circle
from symbackprop.backends.diagram_text import text_box
from symbackprop.backends.sequence_diagram import Drawn

BOX_FONT = 9
SHAPE_FONT = 8
CELL_FONT = 8
CAPTION_FONT = 8
ROW_GAP_CM = 0.75  # the length of an arrow between two boxes
BOX_PAD_PT = 3.0
BOX_MIN_WIDTH_CM = 2.4
SHAPE_GAP_CM = 0.22  # between an arrow and its shape (clear of the arrow head)
SKIP_GAP_CM = 0.45  # between the column of boxes and the skip wire
SUM_DIAMETER_CM = 0.5
MIN_SCALE = 0.6
BESIDE_GAP_CM = 0.9  # between the stack (and its shapes) and a picture beside it


@dataclass(frozen=True)
class StackItem:
    """One row of the stack: ``text`` the box's (LaTeX text, maths in $...$), ``shape`` the
    shape of the tensor leaving it; ``kind`` "box", or "sum" for the (+) that ends a residual
    block, whose skip wire starts above the row ``skip_from``; ``skip_text`` names that wire."""

    text: str
    shape: str
    kind: str = "box"
    skip_from: int = -1
    skip_text: str = ""


def stack_layout(items: Sequence[StackItem], beside: Callable[[float, float], Drawn] | None = None) -> Layout:
    """The layer stack (module docstring); items from the input down to the output layer.
    ``beside(x0, y_mid)``: a picture drawn in the same tikzpicture right of the stack (its left
    edge at x0, centred on the stack's middle), the recurrent layer unrolled
    (:mod:`~symbackprop.backends.sequence_diagram`), its outlines checked with the stack's."""
    geometry = Geometry()
    sizes = []
    for item in items:
        if item.kind == "sum":
            sizes.append((SUM_DIAMETER_CM, SUM_DIAMETER_CM))
        else:
            w, h = _label_size(item.text, BOX_FONT, BOX_PAD_PT)
            sizes.append((max(w, BOX_MIN_WIDTH_CM), h))
    width = max(w for w, _ in sizes if w)
    ys, y = [], 0.0
    for k, (_, h) in enumerate(sizes):
        if k:
            y -= sizes[k - 1][1] / 2 + ROW_GAP_CM + h / 2
        ys.append(y)
    nodes, wires, labels = [], [], []
    for k, (item, (w, h)) in enumerate(zip(items, sizes)):
        if item.kind == "sum":
            geometry.add(Piece(f"L{k}", "node", circle(0.0, ys[k], w / 2 + LINE_CM)))
            nodes.append(f"\\node[sumnode, minimum size={_num(w)}cm] (L{k}) at (0,{_num(ys[k])}) {{$+$}};")
        else:
            geometry.add(Piece(f"L{k}", "node", box(0.0, ys[k], width / 2 + LINE_CM, h / 2 + LINE_CM)))
            nodes.append(f"\\node[layerbox, {_sized(width, h)}] (L{k}) at (0,{_num(ys[k])}) {{{item.text}}};")
    for k in range(1, len(items)):
        top = ys[k - 1] - sizes[k - 1][1] / 2 - LINE_CM
        bottom = ys[k] + sizes[k][1] / 2 + LINE_CM
        name = f"L{k - 1}-L{k}"
        geometry.add(Piece(name, "wire", ((0.0, top), (0.0, bottom))))
        geometry.add(Piece(name, "wire", _arrow_head((0.0, top), (0.0, bottom + LINE_CM), 0.0)))
        wires.append(f"\\draw[wire] (L{k - 1}) -- (L{k});")
        shape = items[k - 1].shape
        if shape:
            sw, sh = _label_size(shape, SHAPE_FONT)
            cx, cy = SHAPE_GAP_CM + sw / 2, (top + bottom) / 2
            geometry.add(Piece(f"shape {name}", "label", box(cx, cy, sw / 2, sh / 2), name))
            labels.append(f"\\node[shapelabel, {_sized(sw, sh)}] at ({_num(cx)},{_num(cy)}) {{{shape}}};")
    for k, item in enumerate(items):
        if item.kind != "sum" or item.skip_from < 1:
            continue
        j = item.skip_from  # the wire into box j carries the block's input
        branch = (ys[j - 1] - sizes[j - 1][1] / 2 + ys[j] + sizes[j][1] / 2) / 2
        left = -width / 2 - SKIP_GAP_CM
        end = (-SUM_DIAMETER_CM / 2 - LINE_CM, ys[k])
        name = f"skip{k}"
        points = ((0.0, branch), (left, branch), (left, ys[k]), end)
        for a, b in itertools.pairwise(points):
            geometry.add(Piece(name, "wire", (a, b)))
        geometry.add(Piece(name, "wire", _arrow_head(points[2], (end[0] + LINE_CM, end[1]), 0.0)))
        path = " -- ".join(f"({_num(x)},{_num(y)})" for x, y in points)
        wires.append(f"\\fill ({_num(0.0)},{_num(branch)}) circle (1.5pt);")
        wires.append(f"\\draw[wire] {path};")
        if item.skip_text:
            tw, th = _label_size(item.skip_text, CAPTION_FONT)
            cx, cy = left - SHAPE_GAP_CM - tw / 2, (branch + ys[k]) / 2
            geometry.add(Piece(f"skip {k}", "label", box(cx, cy, tw / 2, th / 2), name))
            labels.append(f"\\node[skiplabel, {_sized(tw, th)}] at ({_num(cx)},{_num(cy)}) {{{item.skip_text}}};")
    styles: list[str] = []
    if beside is not None:
        _, _, right, _ = geometry.extent()
        drawn = beside(right + BESIDE_GAP_CM, (ys[0] + ys[-1]) / 2)
        for piece in drawn.pieces:
            geometry.add(piece)
        styles, labels = drawn.styles, [*labels, *drawn.lines]
    out = [
        f"\\begin{{tikzpicture}}[>={{Stealth[length={_num(ARROW_CM * 10)}mm]}},",
        *styles,
        f"  layerbox/.style={{rectangle, draw, thick, fill=black!5, rounded corners=2pt, inner sep=0pt, font={_font(BOX_FONT)}}},",
        f"  sumnode/.style={{circle, draw, thick, fill=white, inner sep=0pt, font={_font(BOX_FONT)}}},",
        "  wire/.style={->, draw=black!75},",
        f"  shapelabel/.style={{text=blue!60!black, inner sep=0pt, font={_font(SHAPE_FONT)}}},",
        f"  skiplabel/.style={{text=black!70, inner sep=0pt, font={_font(CAPTION_FONT)}}}]",
    ]
    out += nodes + wires + labels
    out.append("\\end{tikzpicture}")
    return Layout("\n".join(out) + "\n", geometry)


def _cell_cm(grids: Sequence[Sequence[Sequence[str]]]) -> float:
    widest = max(_label_size(f"${v}$", CELL_FONT, 1.0)[0] for grid in grids for row in grid for v in row)
    return max(widest, 0.5)


def conv_layout(
    grids: Sequence[tuple[str, Sequence[Sequence[str]]]],
    signs: Sequence[str],
    frames: Sequence[tuple[int, int, int, int] | None],
    margins: Sequence[int] = (),
) -> Layout | None:
    """Grids side by side (caption, rows of formatted numbers), ``signs`` between them ($*$,
    $=$), ``frames[g]`` (first row, first column, rows, columns) of grid g framed, the outer
    ``margins[g]`` rows and columns of grid g shaded (a convolution's zero padding); None when
    it would print below MIN_SCALE of its size."""
    # square cells, each grid's as wide as its own numbers (one size for all would shrink the
    # picture below the page's text size: the kernel's long numbers would set the input's cells)
    cells = [_cell_cm([g]) for _, g in grids]
    geometry = Geometry()
    out_cells, out_frames, out_labels = [], [], []
    x = 0.0
    heights = [len(rows) * cell for (_, rows), cell in zip(grids, cells)]
    top = max(heights) / 2
    for g, ((caption, rows), frame, cell) in enumerate(zip(grids, frames, cells)):
        n_rows, n_cols = len(rows), len(rows[0])
        y0 = heights[g] / 2  # the grid's top edge, grids centred on y = 0
        bottom = y0 - n_rows * cell  # a grid's lines are at multiples of its step from the origin: shifted
        margin = margins[g] if g < len(margins) else 0
        if margin:  # the padding: the whole grid shaded, its inside left white
            out_cells.append(
                f"\\fill[padding] ({_num(x)},{_num(bottom)}) rectangle ({_num(x + n_cols * cell)},{_num(y0)});"
            )
            out_cells.append(
                f"\\fill[white] ({_num(x + margin * cell)},{_num(bottom + margin * cell)}) rectangle "
                f"({_num(x + (n_cols - margin) * cell)},{_num(y0 - margin * cell)});"
            )
        out_cells.append(
            f"\\draw[gridline, shift={{({_num(x)},{_num(bottom)})}}] (0,0) grid[step={_num(cell)}] "
            f"({_num(n_cols * cell)},{_num(n_rows * cell)}) rectangle (0,0);"
        )
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                cx, cy = x + (j + 0.5) * cell, y0 - (i + 0.5) * cell
                w, h = _label_size(f"${value}$", CELL_FONT, 0.5)
                geometry.add(Piece(f"cell {g} {i} {j}", "label", box(cx, cy, w / 2, h / 2)))
                out_labels.append(f"\\node[cell, {_sized(w, h)}] at ({_num(cx)},{_num(cy)}) {{${value}$}};")
        if frame is not None:
            r, c, nr, nc = frame
            out_frames.append(
                f"\\draw[window] ({_num(x + c * cell)},{_num(y0 - r * cell)}) rectangle ({_num(x + (c + nc) * cell)},{_num(y0 - (r + nr) * cell)});"
            )
        text = text_box(caption, CAPTION_FONT)  # captions share a baseline (a subscript hangs below it)
        cw = text.width * PT
        cx = x + n_cols * cell / 2
        base = -top - 0.15 - max(text_box(c, CAPTION_FONT).height for c, _ in grids) * PT
        outline = ((cx - cw / 2, base - text.depth * PT), (cx + cw / 2, base - text.depth * PT))
        outline += ((cx + cw / 2, base + text.height * PT), (cx - cw / 2, base + text.height * PT))
        geometry.add(Piece(f"caption {g}", "label", outline))
        out_labels.append(f"\\node[caption, anchor=base] at ({_num(cx)},{_num(base)}) {{{caption}}};")
        x += n_cols * cell
        if g < len(signs):
            sw, sh = _label_size(signs[g], 10)
            gap = max(sw + 0.4, 0.8)
            geometry.add(Piece(f"sign {g}", "label", box(x + gap / 2, 0.0, sw / 2, sh / 2)))
            out_labels.append(f"\\node[sign, {_sized(sw, sh)}] at ({_num(x + gap / 2)},0) {{{signs[g]}}};")
            x += gap
    x0, _, x1, _ = geometry.extent()
    scale = min(1.0, FIT_WIDTH_CM / (x1 - x0))
    if scale < MIN_SCALE:
        return None
    shrink = f"scale={_num(scale)}, transform shape, " if scale < 1 else ""
    out = [
        f"\\begin{{tikzpicture}}[{shrink}",
        "  gridline/.style={draw=black!40, thin},",
        "  padding/.style={fill=black!10},",
        "  window/.style={draw=red!70!black, very thick},",
        f"  cell/.style={{inner sep=0pt, font={_font(CELL_FONT)}}},",
        f"  caption/.style={{inner sep=0pt, font={_font(CAPTION_FONT)}}},",
        f"  sign/.style={{inner sep=0pt, font={_font(10)}}}]",
    ]
    out += out_cells + out_frames + out_labels
    out.append("\\end{tikzpicture}")
    return Layout("\n".join(out) + "\n", geometry, scale=scale)


__all__ = ["PT", "StackItem", "conv_layout", "stack_layout"]
