"""The picture of a recurrent layer unrolled over its time steps, drawn beside the layer stack.

Plain data in (texts already printed), TikZ lines and outlines out, laid out in cm as the stack
is (:mod:`~symbackprop.backends.layer_diagram`): every text measured from above, drawn at that
size, recorded in the stack's :class:`~symbackprop.backends.diagram_geometry.Geometry`, so the
stack's collision test covers this picture too.

Step t is a column: x_t at the bottom, z_t above it, h_t above that; h_0 = 0 stands left of
step 1 in the row of the h's. Wires: x_t -> z_t (labelled W_xh, right of the wire), z_t -> h_t
(the activation, right of the wire) and h_{t-1} -> z_t down the diagonal from h_{t-1}'s right
side to z_t's left side (W_hh, on the wire in a white box); over the h's, one box for the layers
above and J, fed by h_T only (``return = "last"``) or by every h_t. Columns are COLUMN_CM apart,
so the diagonal's label sits clear of the activation's label of its column and of the next
column's W_xh.
"""

from __future__ import annotations

from dataclasses import dataclass

from symbackprop.backends.diagram import LINE_CM, _arrow_head, _font, _label_size, _num, _sized
from symbackprop.backends.diagram_geometry import Geometry, Piece, box

NODE_FONT = 9
LABEL_FONT = 8
NODE_PAD_PT = 2.5
NODE_MIN_CM = 0.75
COLUMN_CM = 3.0  # between two steps
ROW_CM = 1.3  # between the rows x, z, h
TOP_CM = 1.35  # from the row of the h's to the box of the layers above
LABEL_GAP_CM = 0.15  # between a vertical wire and its label
STYLES = [
    "  stepnode/.style={rectangle, draw, thick, fill=black!5, rounded corners=2pt, inner sep=0pt, "
    f"font={_font(NODE_FONT)}}},",
    f"  steplabel/.style={{text=black!70, inner sep=0pt, font={_font(LABEL_FONT)}}},",
    f"  weightlabel/.style={{fill=white, text=black!70, inner sep=0pt, font={_font(LABEL_FONT)}}},",
]


@dataclass(frozen=True)
class Unrolled:
    """What to draw: ``steps`` T; ``x``, ``z``, ``h`` the maths of step t's nodes with ``{t}``
    for the step (``x_{{t}}``...); ``h0`` the initial state's text; ``w_xh``, ``w_hh``,
    ``activation`` the wires' labels; ``above`` the box of the layers above; ``every_step``:
    whether every h_t feeds them (else h_T alone)."""

    steps: int
    x: str
    z: str
    h: str
    h0: str
    w_xh: str
    w_hh: str
    activation: str
    above: str
    every_step: bool = False


@dataclass(frozen=True)
class Drawn:
    """The picture's TikZ lines (styles for the picture's options, then the drawing) and its
    outlines, shifted to where the caller put it."""

    styles: list[str]
    lines: list[str]
    pieces: list[Piece]


def _node(name: str, text: str, cx: float, cy: float, geometry: Geometry, lines: list[str]):
    w, h = _label_size(text, NODE_FONT, NODE_PAD_PT)
    w, h = max(w, NODE_MIN_CM), max(h, 0.5)
    geometry.add(Piece(name, "node", box(cx, cy, w / 2 + LINE_CM, h / 2 + LINE_CM)))
    lines.append(f"\\node[stepnode, {_sized(w, h)}] ({name}) at ({_num(cx)},{_num(cy)}) {{{text}}};")
    return w, h


def _wire(name: str, a, b, geometry: Geometry, lines: list[str]) -> None:
    geometry.add(Piece(name, "wire", (a, b)))
    geometry.add(Piece(name, "wire", _arrow_head(a, b, LINE_CM)))
    lines.append(f"\\draw[wire] ({_num(a[0])},{_num(a[1])}) -- ({_num(b[0])},{_num(b[1])});")


def _side_label(name: str, owner: str, text: str, x: float, y: float, geometry: Geometry, lines: list[str]) -> None:
    """A label right of a vertical wire at x, centred at height y."""
    w, h = _label_size(text, LABEL_FONT)
    cx = x + LABEL_GAP_CM + w / 2
    geometry.add(Piece(name, "label", box(cx, y, w / 2, h / 2), owner))
    lines.append(f"\\node[steplabel, {_sized(w, h)}] at ({_num(cx)},{_num(y)}) {{{text}}};")


def unrolled_drawing(u: Unrolled, x0: float, y_mid: float) -> Drawn:
    """The unrolled layer (module docstring), its left edge at x0, centred on y_mid."""
    geometry, nodes, wires, labels = Geometry(), [], [], []
    rows = {"x": 0.0, "z": ROW_CM, "h": 2 * ROW_CM}
    top = 2 * ROW_CM + TOP_CM
    shift_y = y_mid - top / 2
    h0_w, _ = _label_size(u.h0, NODE_FONT, NODE_PAD_PT)
    left = x0 + max(h0_w, NODE_MIN_CM) / 2

    def column(t: int) -> float:  # t = 0: h_0
        return left + t * COLUMN_CM

    size = {}
    size["h0"] = _node("Uh0", u.h0, column(0), rows["h"] + shift_y, geometry, nodes)
    for t in range(1, u.steps + 1):
        for row in ("x", "z", "h"):
            text = getattr(u, row).replace("{t}", str(t))
            size[f"{row}{t}"] = _node(f"U{row}{t}", text, column(t), rows[row] + shift_y, geometry, nodes)
    for t in range(1, u.steps + 1):
        cx = column(t)
        (_, xh), (zw, zh), (_, hh) = size[f"x{t}"], size[f"z{t}"], size[f"h{t}"]
        y_x, y_z, y_h = (rows[r] + shift_y for r in ("x", "z", "h"))
        a, b = (cx, y_x + xh / 2 + LINE_CM), (cx, y_z - zh / 2 - LINE_CM)
        _wire(f"Ux{t}-z{t}", a, b, geometry, wires)
        _side_label(f"Wxh{t}", f"Ux{t}-z{t}", u.w_xh, cx, (a[1] + b[1]) / 2, geometry, labels)
        a, b = (cx, y_z + zh / 2 + LINE_CM), (cx, y_h - hh / 2 - LINE_CM)
        _wire(f"Uz{t}-h{t}", a, b, geometry, wires)
        _side_label(f"f{t}", f"Uz{t}-h{t}", u.activation, cx, (a[1] + b[1]) / 2, geometry, labels)
        prev_w, _ = size["h0"] if t == 1 else size[f"h{t - 1}"]
        a = (column(t - 1) + prev_w / 2 + LINE_CM, y_h)  # from h_{t-1}'s right side to z_t's left
        b = (cx - zw / 2 - LINE_CM, y_z)
        name = f"Uh{t - 1}-z{t}"
        _wire(name, a, b, geometry, wires)
        w, h = _label_size(u.w_hh, LABEL_FONT)
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        geometry.add(Piece(f"Whh{t}", "label", box(mx, my, w / 2, h / 2), name))
        labels.append(f"\\node[weightlabel, {_sized(w, h)}] at ({_num(mx)},{_num(my)}) {{{u.w_hh}}};")
    feeding = range(1, u.steps + 1) if u.every_step else [u.steps]
    aw, ah = _label_size(u.above, NODE_FONT, NODE_PAD_PT)
    if u.every_step:
        aw = max(aw, column(u.steps) - column(1) + NODE_MIN_CM)
    ax = (column(feeding[0]) + column(feeding[-1])) / 2
    ay = top + shift_y
    geometry.add(Piece("Uabove", "node", box(ax, ay, aw / 2 + LINE_CM, ah / 2 + LINE_CM)))
    nodes.append(f"\\node[stepnode, {_sized(aw, ah)}] (Uabove) at ({_num(ax)},{_num(ay)}) {{{u.above}}};")
    for t in feeding:
        _, hh = size[f"h{t}"]
        y_h = rows["h"] + shift_y
        _wire(f"Uh{t}-above", (column(t), y_h + hh / 2 + LINE_CM), (column(t), ay - ah / 2 - LINE_CM), geometry, wires)
    return Drawn(STYLES, nodes + wires + labels, geometry.pieces)


__all__ = ["Drawn", "Unrolled", "unrolled_drawing"]
