"""The outlines of what a diagram draws, and which of them collide.

A layout records every node, wire and label it draws as a :class:`Piece`: a convex outline in
cm (a label's rotated box, a node's box or a polygon around its circle, a wire as the segment
between the centres of its nodes: the part of it inside the nodes is covered by them anyway).
:meth:`Geometry.collisions` lists the pairs that must not touch, which the layouts use to choose
label positions and tests use to check the result:

* a label and another label, or a label and any node;
* a label and a wire other than its own (a weight sits on its own edge, a value beside it),
  except that a weight on an edge (a ``crossable`` label) may have another wire pass under it
  (:func:`passes_under`): right across it, at MIN_CROSS_DEG or steeper, meeting the weight's
  own wire inside the box, clear of its ends (:func:`end_margin`); never an arrow head, and
  never a wire at a shallower angle or one that only grazes the box;
* two weights whose wires cross, both near the crossing (:func:`crowded`);
* two nodes.

Separating-axis tests on convex polygons; a wire is a polygon of two points (an arrow head, of three).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]
CLEARANCE = 0.03  # cm that must stay free between a label and what it must not touch
# A weight is a white box on its own edge, so a wire passing under it is hidden for
# label_height / sin(angle): at 30 degrees and steeper at most 2 label heights (0.82 cm for the
# tallest weight, W^{(l)}_{ij} at 7 pt, 0.65 cm for w_{k,j}), a straight line's gap that the eye
# bridges, and the label's text, turned along its own wire, is then at least 30 degrees off
# the other one, a difference no reader mistakes.  Shallower, the hidden stretch grows without
# bound and the other wire runs nearly along the label, which then reads as if it sat on
# either.  30 (not 35 or 45) because a full 8 x 8 pair needs it: at 35 degrees no place on the
# page is left for some weights of its long diagonal wires.
MIN_CROSS_DEG = 30.0
# The crossing point is inside the box, at least END_CM (about 1.4 pt) from its short ends, so
# that the X of the two wires is hidden under the label; and where the other wire comes out of
# a short end (a slanting one, crossing near the end, does) it does so at least SIDE_CM
# (2 pt) from the middle of that end, where the label's own wire comes out: the two never leave
# the label side by side (:func:`end_margin`).  A wire that only grazes an end, crossing the
# label's wire outside the box, is refused outright.
END_CM = 0.05
SIDE_CM = 0.07
# Two weights on crossing wires never crowd the crossing.  When one covers it, the other keeps
# VISIBLE_CM (about 7 pt) of bare wire beyond the first one's strip (its long sides, where they
# cross its wire), so the two never read as one chain of labels on one line; when neither covers
# it, together they keep AMBIGUITY_CM (about 7 pt) from it, so an X has at most one label close.
AMBIGUITY_CM = 0.25
VISIBLE_CM = 0.25


@dataclass(frozen=True)
class Piece:
    """One drawn thing: kind "node", "wire" or "label"; a label's ``owner`` is the name of the
    wire it describes (which it may touch) or the node it names; ``crossable``: a label on its
    own wire (a box made by :func:`box`, centred on the wire, turned along it) that other wires
    may pass under, steeply (:func:`passes_under`)."""

    name: str
    kind: str
    outline: tuple[Point, ...]
    owner: str = ""
    crossable: bool = False

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


def _frame(label: Sequence[Point]) -> tuple[Point, Point, float, float]:
    """Centre, unit vector along the width, width and height of a box made by :func:`box`."""
    (x0, y0), (x1, y1), (x2, y2), _ = label
    width, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1)
    return ((x0 + x2) / 2, (y0 + y2) / 2), ((x1 - x0) / width, (y1 - y0) / width), width, height


def crossing_chord(
    label: Sequence[Point], segment: Sequence[Point], clearance: float = CLEARANCE
) -> tuple[float, float, float] | None:
    """Where a segment crosses the whole strip of a label box (made by :func:`box`) widened by
    ``clearance`` on both long sides: the positions along the label's width, from its centre,
    at which it enters and leaves that strip, and the sine of the angle between the two; None
    when the segment does not run from one side of the strip to the other."""
    (cx, cy), (ux, uy), _, height = _frame(label)
    (ua, va), (ub, vb) = (((x - cx) * ux + (y - cy) * uy, -(x - cx) * uy + (y - cy) * ux) for x, y in segment)
    half = height / 2 + clearance
    if not (min(va, vb) < -half and max(va, vb) > half):
        return None
    u1 = ua + (-half - va) * (ub - ua) / (vb - va)
    u2 = ua + (half - va) * (ub - ua) / (vb - va)
    return min(u1, u2), max(u1, u2), abs(vb - va) / math.hypot(ub - ua, vb - va)


def end_margin(sine: float, half_h: float) -> float:
    """How far from a label's ends a wire crossing the label's own wire at an angle of this sine
    must cross it: END_CM, and more for a slanting one, so that where it leaves through an end it
    is SIDE_CM (or the whole half height ``half_h``) from the middle of that end."""
    cosine = math.sqrt(max(0.0, 1.0 - sine * sine))
    return max(END_CM, min(SIDE_CM, half_h) * cosine / max(sine, 1e-9))


def passes_under(label: Sequence[Point], segment: Sequence[Point], clearance: float = CLEARANCE) -> bool:
    """Whether a wire crosses a weight's box as a weight allows: right across the box (widened by
    ``clearance``), at MIN_CROSS_DEG or steeper, meeting the label's own wire (the box's middle
    line) inside the box at least :func:`end_margin` from both ends."""
    chord = crossing_chord(label, segment, clearance)
    if chord is None:
        return False
    lo, hi, sine = chord
    _, _, width, height = _frame(label)
    steep = sine >= math.sin(math.radians(MIN_CROSS_DEG)) - 1e-9
    return steep and abs(lo + hi) / 2 <= width / 2 - end_margin(sine, height / 2) + 1e-9


def crossing_point(p: Sequence[Point], q: Sequence[Point]) -> Point | None:
    """The point where two segments cross (inside both), or None."""
    if not segments_cross(p, q):
        return None
    (ax, ay), (bx, by) = p
    (cx, cy), (dx, dy) = q
    det = (bx - ax) * (dy - cy) - (by - ay) * (dx - cx)
    t = ((cx - ax) * (dy - cy) - (cy - ay) * (dx - cx)) / det
    return ax + t * (bx - ax), ay + t * (by - ay)


def distance_to(point: Point, outline: Sequence[Point]) -> float:
    """The distance from a point to a convex polygon (0 inside it)."""
    px, py = point
    n = len(outline)
    inside, best = True, math.inf
    sign = 0.0
    for k in range(n):
        (ax, ay), (bx, by) = outline[k], outline[(k + 1) % n]
        cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
        if cross != 0.0:
            if sign == 0.0:
                sign = cross
            elif (cross > 0) != (sign > 0):
                inside = False
        length2 = (bx - ax) ** 2 + (by - ay) ** 2
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length2))
        best = min(best, math.hypot(px - ax - t * (bx - ax), py - ay - t * (by - ay)))
    return 0.0 if inside else best


def crowded(away_a: float, away_b: float, half_h_a: float, half_h_b: float, sine: float) -> bool:
    """Whether two weights crowd the crossing of their wires, given how far each is from it (0:
    it covers it), their half heights and the sine of the angle between the wires."""
    if away_a <= 0.0:
        return away_b < half_h_a / sine + VISIBLE_CM - 1e-9
    if away_b <= 0.0:
        return away_a < half_h_b / sine + VISIBLE_CM - 1e-9
    return away_a + away_b < AMBIGUITY_CM - 1e-9


def ambiguous(a: Sequence[Point], wire_a: Sequence[Point], b: Sequence[Point], wire_b: Sequence[Point]) -> bool:
    """Whether two weights on crossing wires crowd the crossing (:func:`crowded`), so that the
    reader could not tell which is on which wire."""
    point = crossing_point(wire_a, wire_b)
    if point is None:
        return False
    (ax, ay), (bx, by) = wire_a
    (cx, cy), (dx, dy) = wire_b
    sine = (
        abs((bx - ax) * (dy - cy) - (by - ay) * (dx - cx)) / math.hypot(bx - ax, by - ay) / math.hypot(dx - cx, dy - cy)
    )
    heights = _frame(a)[3] / 2, _frame(b)[3] / 2
    return crowded(distance_to(point, a), distance_to(point, b), *heights, sine)


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
        """Every pair of pieces that break the rule of the module docstring (touching closer than
        ``clearance``, nodes: overlapping), in drawing order."""
        found = []
        pieces = self.pieces
        bounds = [p.bounds for p in pieces]
        segment = {p.name: p.outline for p in pieces if p.kind == "wire" and len(p.outline) == 2}
        reach = max(clearance, AMBIGUITY_CM, 1.5)  # a weight crowding a crossing is near it
        order = sorted(range(len(pieces)), key=lambda k: bounds[k][0])
        for pos, i in enumerate(order):  # sweep along x: only pieces overlapping in x can touch
            for j in order[pos + 1 :]:
                if bounds[j][0] - reach >= bounds[i][2]:
                    break
                a, b = (pieces[i], pieces[j]) if i < j else (pieces[j], pieces[i])
                near = _near(bounds[i], bounds[j], clearance)
                weights = a.crossable and b.crossable and a.owner in segment and b.owner in segment
                if weights and ambiguous(a.outline, segment[a.owner], b.outline, segment[b.owner]):
                    found.append((min(i, j), max(i, j)))
                    continue
                if not near or not must_not_touch(a, b):
                    continue
                gap = 0.0 if a.kind == b.kind == "node" else clearance
                if touch(a.outline, b.outline, gap):
                    label, wire = (a, b) if a.kind == "label" else (b, a)
                    crossing = label.crossable and wire.kind == "wire" and len(wire.outline) == 2
                    if not (crossing and passes_under(label.outline, wire.outline, clearance)):
                        found.append((min(i, j), max(i, j)))
        return [(pieces[i].name, pieces[j].name) for i, j in sorted(found)]

    def wire_crossings(self) -> int:
        """How many pairs of wires cross."""
        wires = [p for p in self.of_kind("wire") if len(p.outline) == 2]  # segments, not arrow heads
        return sum(segments_cross(p.outline, q.outline) for i, p in enumerate(wires) for q in wires[i + 1 :])

    def extent(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) of everything drawn."""
        xs = [b for p in self.pieces for b in (p.bounds[0], p.bounds[2])]
        ys = [b for p in self.pieces for b in (p.bounds[1], p.bounds[3])]
        return min(xs), min(ys), max(xs), max(ys)
