"""The outlines of what a diagram draws, and which of them collide.

A layout records every node, wire and label it draws as a :class:`Piece`: a convex outline in
cm (a label's rotated box, a node's box or a polygon around its circle, a wire as the segment
between the centres of its nodes: the part of it inside the nodes is covered by them anyway).
:meth:`Geometry.collisions` lists the pairs that must not touch, which the layouts use to choose
label positions and tests use to check the result:

* a label and another label, or a label and any node;
* a label and a wire other than its own (a weight sits on its own edge, a value beside it);
* two nodes.

Separating-axis tests on convex polygons; a wire is a polygon of two points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]
CLEARANCE = 0.03  # cm that must stay free between a label and what it must not touch


@dataclass(frozen=True)
class Piece:
    """One drawn thing: kind "node", "wire" or "label"; a label's ``owner`` is the name of the
    wire it describes (which it may touch) or the node it names."""

    name: str
    kind: str
    outline: tuple[Point, ...]
    owner: str = ""

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.outline]
        ys = [p[1] for p in self.outline]
        return min(xs), min(ys), max(xs), max(ys)


def box(cx: float, cy: float, half_w: float, half_h: float, angle: float = 0.0) -> tuple[Point, ...]:
    """The corners of a box centred at (cx, cy), turned by ``angle`` radians."""
    c, s = math.cos(angle), math.sin(angle)
    corners = ((-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h))
    return tuple((cx + x * c - y * s, cy + x * s + y * c) for x, y in corners)


def circle(cx: float, cy: float, radius: float, sides: int = 16) -> tuple[Point, ...]:
    """A polygon around the circle (its sides touch it), so containing the polygon contains the circle."""
    r = radius / math.cos(math.pi / sides)
    return tuple(
        (cx + r * math.cos(2 * math.pi * (k + 0.5) / sides), cy + r * math.sin(2 * math.pi * (k + 0.5) / sides))
        for k in range(sides)
    )


def _axes(outline: Sequence[Point]) -> Iterable[Point]:
    n = len(outline)
    for k in range(n if n > 2 else 1):
        (ax, ay), (bx, by) = outline[k], outline[(k + 1) % n]
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        if length > 1e-12:
            yield -dy / length, dx / length


def touch(a: Sequence[Point], b: Sequence[Point], clearance: float = 0.0) -> bool:
    """Whether two convex outlines come closer than ``clearance`` on every separating axis."""
    for nx, ny in (*_axes(a), *_axes(b)):
        pa = [x * nx + y * ny for x, y in a]
        pb = [x * nx + y * ny for x, y in b]
        if max(pa) + clearance <= min(pb) or max(pb) + clearance <= min(pa):
            return False
    return True


def segments_cross(p: Sequence[Point], q: Sequence[Point]) -> bool:
    """Whether two segments cross at a point inside both (a shared end is not a crossing)."""
    (ax, ay), (bx, by) = p
    (cx, cy), (dx, dy) = q

    def side(ox, oy, px, py, qx, qy):
        return (px - ox) * (qy - oy) - (py - oy) * (qx - ox)

    d1, d2 = side(cx, cy, dx, dy, ax, ay), side(cx, cy, dx, dy, bx, by)
    d3, d4 = side(ax, ay, bx, by, cx, cy), side(ax, ay, bx, by, dx, dy)
    eps = 1e-9
    return ((d1 > eps and d2 < -eps) or (d1 < -eps and d2 > eps)) and (
        (d3 > eps and d4 < -eps) or (d3 < -eps and d4 > eps)
    )


def must_not_touch(a: Piece, b: Piece) -> bool:
    """The rule of the module docstring for one pair."""
    kinds = {a.kind, b.kind}
    if kinds == {"node"}:
        return True
    if "label" not in kinds:
        return False
    if kinds == {"label", "wire"}:
        label, wire = (a, b) if a.kind == "label" else (b, a)
        return label.owner != wire.name
    return True


def _near(a: tuple[float, ...], b: tuple[float, ...], margin: float) -> bool:
    return a[0] - margin < b[2] and b[0] - margin < a[2] and a[1] - margin < b[3] and b[1] - margin < a[3]


@dataclass
class Geometry:
    """Everything a diagram draws, in cm, in drawing order."""

    pieces: list[Piece] = field(default_factory=list)

    def add(self, piece: Piece) -> None:
        self.pieces.append(piece)

    def of_kind(self, kind: str) -> list[Piece]:
        return [p for p in self.pieces if p.kind == kind]

    def collisions(self, clearance: float = CLEARANCE) -> list[tuple[str, str]]:
        """Every pair of pieces that must not touch and do (closer than ``clearance``, nodes: overlap)."""
        found = []
        bounds = [p.bounds for p in self.pieces]
        for i, a in enumerate(self.pieces):
            for j in range(i + 1, len(self.pieces)):
                b = self.pieces[j]
                if not must_not_touch(a, b) or not _near(bounds[i], bounds[j], clearance):
                    continue
                gap = 0.0 if a.kind == b.kind == "node" else clearance
                if touch(a.outline, b.outline, gap):
                    found.append((a.name, b.name))
        return found

    def wire_crossings(self) -> int:
        """How many pairs of wires cross."""
        wires = [p for p in self.of_kind("wire") if len(p.outline) == 2]  # segments, not arrow heads
        return sum(segments_cross(p.outline, q.outline) for i, p in enumerate(wires) for q in wires[i + 1 :])

    def extent(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) of everything drawn."""
        xs = [b for p in self.pieces for b in (p.bounds[0], p.bounds[2])]
        ys = [b for p in self.pieces for b in (p.bounds[1], p.bounds[3])]
        return min(xs), min(ys), max(xs), max(ys)
