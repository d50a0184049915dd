"""d2l's computational graph of forward propagation (its figure 5.3.1), as TikZ.

Variables are boxes and operators circles; the input x is at the lower left and the objective J
at the upper right, each arrow pointing the way the forward pass goes:

    x --(x)--> z --(phi)--> h --(x)--> o --(l)--> L --(+)--> J
    W^(1), W^(2) --(||.||^2)--> s --(+)

The layout is fixed (the network always has this shape in d2l notation), in cm; the caller
gives every label already printed in the document's names. Uses the libraries of
:data:`symbackprop.backends.diagram.TIKZ_LIBRARIES` (arrows.meta). Same labels, same bytes.
"""

from __future__ import annotations

STEP = 1.25  # cm between neighbouring nodes of a row
RISE = 1.35  # cm between rows

# name -> (column, row, shape): a variable is a box, an operator a circle
_NODES = {
    "x": (0, 0, "var"),
    "mul1": (1, 0, "op"),
    "z": (2, 0, "var"),
    "phi": (3, 0, "op"),
    "h": (4, 0, "var"),
    "W1": (1, 1, "var"),
    "W2": (3, 1, "var"),
    "mul2": (4, 1, "op"),
    "o": (5, 1, "var"),
    "loss": (6, 1, "op"),
    "y": (6, 0, "var"),
    "L": (7, 1, "var"),
    "norm": (4, 2, "op"),
    "s": (5.5, 2, "var"),
    "plus": (7, 2, "op"),
    "J": (8, 2, "var"),
}
_EDGES = (
    ("x", "mul1"),
    ("W1", "mul1"),
    ("mul1", "z"),
    ("z", "phi"),
    ("phi", "h"),
    ("h", "mul2"),
    ("W2", "mul2"),
    ("mul2", "o"),
    ("o", "loss"),
    ("y", "loss"),
    ("loss", "L"),
    ("L", "plus"),
    ("W1", "norm"),
    ("W2", "norm"),
    ("norm", "s"),
    ("s", "plus"),
    ("plus", "J"),
)
OPERATORS = {"mul1": r"\times", "mul2": r"\times", "norm": r"\lVert\cdot\rVert^2", "plus": "+"}
VARIABLES = ("x", "z", "h", "o", "y", "L", "s", "J", "W1", "W2")


def d2l_graph(labels: dict[str, str]) -> str:
    """The tikzpicture; ``labels`` gives the LaTeX of every variable (x, z, h, o, y, L, s, J, W1,
    W2) and of the two operators that depend on the network: ``phi`` (the hidden activation) and
    ``loss`` (the loss function l)."""
    missing = [k for k in (*VARIABLES, "phi", "loss") if k not in labels]
    if missing:
        raise ValueError(f"d2l graph: no label for {', '.join(missing)}")
    text = {**OPERATORS, **labels}
    lines = [
        r"\begin{tikzpicture}[>={Stealth[length=2mm]}, font=\small,",
        r"  var/.style={draw, rectangle, minimum width=7mm, minimum height=6mm, inner sep=2pt},",
        r"  op/.style={draw, circle, minimum size=6mm, inner sep=1pt}]",
    ]
    for name, (col, row, shape) in _NODES.items():
        lines.append(rf"\node[{shape}] ({name}) at ({col * STEP:.3f}, {row * RISE:.3f}) {{${text[name]}$}};")
    lines += [rf"\draw[->] ({a}) -- ({b});" for a, b in _EDGES]
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines)
