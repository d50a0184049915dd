"""Choosing where the labels of a diagram go, so that none touches what it must not.

Each label (or group of labels that move together, like the value above and the gradient below
a wire) has candidate placements in order of preference, each a tuple of outlines.
:func:`free_candidates` drops those touching a fixed piece (a node, another wire, an arrow
head); :func:`assign` then picks one candidate per label so that no two chosen labels touch:
greedily, the most constrained label first, each taking its most preferred free candidate, then
a bounded min-conflicts repair. Either every label gets a place or the answer is None, and the
caller makes room (more spacing) and tries again.

:func:`on_wire_offsets` computes, for a label sitting on its own straight wire (a weight on an
edge), the stretches of the wire where it would touch nothing (or, if it may be crossed, where
the wires that touch it all pass under it as the rule allows), directly from the geometry:
each obstacle blocks an interval of positions.  :func:`assign_on_wires` then places such labels
the same way as :func:`assign` does, but every conflict with a placed label is an interval of
positions too (a box sliding along a line against a fixed box; two weights near the crossing
of their wires), which is what makes a network of 8 x 8 edges quick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from symbackprop.backends.diagram_geometry import (
    AMBIGUITY_CM,
    MIN_CROSS_DEG,
    VISIBLE_CM,
    Piece,
    Point,
    box,
    crowded,
    end_margin,
    must_not_touch,
    touch,
)

Candidate = tuple[tuple[Point, ...], ...]
REPAIR_ROUNDS = 400


def _bounds(outlines: Sequence[Sequence[Point]]) -> tuple[float, float, float, float]:
    xs = [p[0] for o in outlines for p in o]
    ys = [p[1] for o in outlines for p in o]
    return min(xs), min(ys), max(xs), max(ys)


def _apart(a: tuple[float, ...], b: tuple[float, ...], margin: float) -> bool:
    return a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1]


def free_candidates(
    candidates: list[Candidate], owner: str, fixed: Sequence[Piece], clearance: float
) -> list[Candidate]:
    """The candidates of a label (owned by ``owner``) that touch no fixed piece it must avoid."""
    probe = Piece("probe", "label", (), owner)
    relevant = [(p, p.bounds) for p in fixed if must_not_touch(probe, p)]
    out = []
    for cand in candidates:
        b = _bounds(cand)
        if all(_apart(b, pb, clearance) or not any(touch(o, p.outline, clearance) for o in cand) for p, pb in relevant):
            out.append(cand)
    return out


def assign(candidates: list[list[Candidate]], clearance: float) -> list[int] | None:
    """One candidate index per label, no two chosen labels touching; None if none found."""
    n = len(candidates)
    if any(not c for c in candidates):
        return None
    bounds = [[_bounds(c) for c in cands] for cands in candidates]
    reach = [_bounds([tuple((b[0], b[1]) for b in bs) + tuple((b[2], b[3]) for b in bs)]) for bs in bounds]
    neighbours = [[j for j in range(n) if j != k and not _apart(reach[k], reach[j], clearance)] for k in range(n)]
    chosen: list[int | None] = [None] * n

    def clash(k: int, ci: int, j: int) -> bool:
        cj = chosen[j]
        if cj is None or _apart(bounds[k][ci], bounds[j][cj], clearance):
            return False
        return any(touch(a, b, clearance) for a in candidates[k][ci] for b in candidates[j][cj])

    def conflicts(k: int, ci: int) -> int:
        return sum(clash(k, ci, j) for j in neighbours[k])

    order = sorted(range(n), key=lambda k: (len(candidates[k]), k))
    for k in order:
        best, best_count = 0, None
        for ci in range(len(candidates[k])):
            count = conflicts(k, ci)
            if count == 0:
                best, best_count = ci, 0
                break
            if best_count is None or count < best_count:
                best, best_count = ci, count
        chosen[k] = best
    previous: dict[int, int] = {}
    for step in range(REPAIR_ROUNDS):
        bad = [k for k in order if conflicts(k, chosen[k])]  # type: ignore[arg-type]
        if not bad:
            return [int(c) for c in chosen]  # type: ignore[arg-type]
        k = bad[step % len(bad)]
        options = [ci for ci in range(len(candidates[k])) if ci != chosen[k] and ci != previous.get(k)]
        if not options:
            continue
        previous[k] = chosen[k]  # type: ignore[assignment]
        chosen[k] = min(options, key=lambda ci: (conflicts(k, ci), ci))
    return None


def _strip_interval(a: Point, b: Point, half: float) -> tuple[float, float, bool] | None:
    """The u-range of the part of segment a-b (in a label's frame) with |v| <= half, and whether
    the segment runs on past the strip on both sides (crosses it rather than ends in it)."""
    (ua, va), (ub, vb) = a, b
    lo, hi = 0.0, 1.0
    dv = vb - va
    if abs(dv) < 1e-12:
        if abs(va) > half:
            return None
    else:
        t1, t2 = (-half - va) / dv, (half - va) / dv
        lo, hi = max(lo, min(t1, t2)), min(hi, max(t1, t2))
        if lo > hi:
            return None
    u1, u2 = ua + lo * (ub - ua), ua + hi * (ub - ua)
    return min(u1, u2), max(u1, u2), 0.0 < lo and hi < 1.0


def on_wire_offsets(
    start: Point,
    end: Point,
    half_w: float,
    half_h: float,
    span: tuple[float, float],
    segments: Sequence[tuple[Point, Point]],
    discs: Sequence[tuple[Point, float]],
    clearance: float,
    step: float,
    crossable: bool = False,
) -> list[tuple[float, int]]:
    """Distances d from ``start`` along start -> end (within ``span``, on a grid of ``step``) at
    which a box of half sizes (half_w along the wire, half_h across) centred on the wire touches
    none of the ``discs`` (centre, radius) and none of ``segments``, each with how many of the
    segments pass under the box there.  Unless ``crossable`` that is none; if it is, a segment
    may pass under the box as :func:`~symbackprop.backends.diagram_geometry.passes_under`
    allows (steeply, crossing the label's wire inside the box, clear of its ends)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length

    def local(p: Point) -> Point:
        px, py = p[0] - start[0], p[1] - start[1]
        return px * ux + py * uy, -px * uy + py * ux

    half = half_h + clearance
    reach = half_w + clearance
    steep = math.sin(math.radians(MIN_CROSS_DEG))
    blocked = []
    under = []  # open intervals of d at which a segment passes under the box
    for a, b in segments:
        la, lb = local(a), local(b)
        found = _strip_interval(la, lb, half)
        if found is None:
            continue
        lo, hi, through = found
        rise = abs(lb[1] - la[1]) / math.hypot(lb[0] - la[0], lb[1] - la[1])  # sine of the angle
        mid = (lo + hi) / 2  # where it crosses the label's wire: inside the box, clear of its ends
        margin = end_margin(rise, half_h) + 1e-6
        inner = (mid - half_w + margin, mid + half_w - margin)
        if crossable and through and rise >= steep and inner[0] < inner[1]:
            blocked += [(lo - reach, inner[0]), (inner[1], hi + reach)]
            under.append(inner)
        else:
            blocked.append((lo - reach, hi + reach))
    for centre, radius in discs:
        u0, v0 = local(centre)
        r = radius + clearance
        dv = max(0.0, abs(v0) - half_h)
        if dv < r:
            w = math.sqrt(r * r - dv * dv) if abs(v0) > half_h else r
            blocked.append((u0 - w - half_w, u0 + w + half_w))
    first, last = span
    out = []
    count = math.floor((last - first) / step + 1e-9)
    for k in range(count + 1):
        d = first + k * step
        if all(not (lo < d < hi) for lo, hi in blocked):
            out.append((d, sum(lo <= d <= hi for lo, hi in under)))
    return out


# --- labels that slide along their own wires ---------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A label centred on its own straight wire: the wire's start and unit direction, the half
    sizes of the box, and the distances from the start where it may sit, most preferred first."""

    start: Point
    direction: Point
    half_w: float
    half_h: float
    offsets: tuple[float, ...]

    def outline(self, ci: int) -> tuple[Point, ...]:
        d = self.offsets[ci]
        (sx, sy), (ux, uy) = self.start, self.direction
        return box(sx + d * ux, sy + d * uy, self.half_w, self.half_h, math.atan2(uy, ux))

    def sweep(self) -> tuple[float, float, float, float]:
        """The bounds of the box at every offset."""
        ends = (self.offsets.index(min(self.offsets)), self.offsets.index(max(self.offsets)))
        return _bounds([self.outline(ci) for ci in ends])


def _touch_interval(slot: Slot, other: Sequence[Point], clearance: float) -> tuple[float, float] | None:
    """The open interval of offsets d at which the slot's box touches the convex ``other``
    (closer than ``clearance``, as :func:`touch` decides it: separating axes), or None."""
    (sx, sy), (ux, uy) = slot.start, slot.direction
    n = len(other)
    axes = [(ux, uy), (-uy, ux)]
    for k in range(2 if n == 4 else n):  # a box's other two sides are parallel to these
        (ax, ay), (bx, by) = other[k], other[(k + 1) % n]
        length = math.hypot(bx - ax, by - ay)
        if length > 1e-12:
            axes.append((-(by - ay) / length, (bx - ax) / length))
    lo, hi = -math.inf, math.inf
    for nx, ny in axes:
        k = ux * nx + uy * ny
        r = slot.half_w * abs(k) + slot.half_h * abs(ux * ny - uy * nx) + clearance
        proj = [x * nx + y * ny for x, y in other]
        base = sx * nx + sy * ny
        low, high = min(proj) - r - base, max(proj) + r - base
        if abs(k) < 1e-12:
            if not (low < 0.0 < high):
                return None
            continue
        a, b = (low / k, high / k) if k > 0 else (high / k, low / k)
        lo, hi = max(lo, a), min(hi, b)
        if lo >= hi:
            return None
    return lo, hi


def assign_on_wires(
    slots: Sequence[Slot], crossings: Mapping[tuple[int, int], tuple[float, float, float]], clearance: float
) -> list[int] | None:
    """One offset index per slot so that no two boxes touch (closer than ``clearance``) and no
    two labels on crossing wires crowd the crossing (:func:`crowded`; ``crossings``: for a pair
    of slots (k, j), k < j, the distances along wire k and wire j to where they cross, and the
    sine of the angle between them); None if none found.  Every conflict of a box with a placed one is an interval of
    offsets, so a slot's free offsets are found directly: greedily, the most constrained slot
    first, each taking its most preferred free offset, then a bounded min-conflicts repair."""
    n = len(slots)
    if any(not s.offsets for s in slots):
        return None
    clearance += 1e-6  # decided here, checked afterwards by Geometry.collisions: no ties at the boundary
    sweeps = [s.sweep() for s in slots]
    margin = clearance
    neighbours = [
        [
            j
            for j in range(n)
            if j != k and ((min(k, j), max(k, j)) in crossings or not _apart(sweeps[k], sweeps[j], margin))
        ]
        for k in range(n)
    ]
    chosen: list[int] = [-1] * n
    placed: dict[tuple[int, int], tuple[tuple[Point, ...], tuple[float, float, float, float]]] = {}

    def outline(j: int) -> tuple[tuple[Point, ...], tuple[float, float, float, float]]:
        key = (j, chosen[j])
        if key not in placed:
            o = slots[j].outline(chosen[j])
            placed[key] = o, _bounds([o])
        return placed[key]

    def intervals(k: int, j: int) -> list[tuple[float, float]]:
        """The offsets of slot k that conflict with slot j where it is now."""
        out = []
        other, bounds = outline(j)
        if not _apart(sweeps[k], bounds, clearance):
            found = _touch_interval(slots[k], other, clearance)
            if found is not None:
                out.append(found)
        cross = crossings.get((k, j) if k < j else (j, k))
        if cross is not None:  # the offsets at which the two would crowd their crossing
            on_k, on_j = cross[:2] if k < j else cross[1::-1]
            sine, half_w = cross[2], slots[k].half_w
            away_j = max(0.0, abs(on_j - slots[j].offsets[chosen[j]]) - slots[j].half_w)
            if away_j == 0.0:  # j covers it: k keeps clear of j's strip, and some bare wire
                left = slots[j].half_h / sine + VISIBLE_CM
            else:  # k may not cover it if j is that close; neither: together AMBIGUITY_CM
                left = max(
                    1e-6 if crowded(0.0, away_j, slots[k].half_h, slots[j].half_h, sine) else 0.0, AMBIGUITY_CM - away_j
                )
            if left > 0:
                out.append((on_k - half_w - left, on_k + half_w + left))
        return out

    def clash(k: int, j: int) -> bool:
        d = slots[k].offsets[chosen[k]]
        return any(lo < d < hi for lo, hi in intervals(k, j))

    def counts(k: int) -> list[int]:
        found = [iv for j in neighbours[k] if chosen[j] >= 0 for iv in intervals(k, j)]
        return [sum(lo < d < hi for lo, hi in found) for d in slots[k].offsets]

    order = sorted(range(n), key=lambda k: (len(slots[k].offsets), k))
    for k in order:
        found = [iv for j in neighbours[k] if chosen[j] >= 0 for iv in intervals(k, j)]
        free = next((ci for ci, d in enumerate(slots[k].offsets) if not any(lo < d < hi for lo, hi in found)), None)
        if free is None:
            c = [sum(lo < d < hi for lo, hi in found) for d in slots[k].offsets]
            free = c.index(min(c))
        chosen[k] = free
    pairs = {(k, j): clash(k, j) for k in range(n) for j in neighbours[k] if k < j}
    conflicts = [0] * n
    for (k, j), hit in pairs.items():
        conflicts[k] += hit
        conflicts[j] += hit
    previous: dict[int, int] = {}
    for step in range(REPAIR_ROUNDS):
        ranked = [k for k in order if conflicts[k]]
        if not ranked:
            return chosen
        k = ranked[step % len(ranked)]
        c = counts(k)
        options = [ci for ci in range(len(c)) if ci != chosen[k] and ci != previous.get(k)]
        if not options:
            continue
        previous[k] = chosen[k]
        chosen[k] = min(options, key=lambda ci: (c[ci], ci))
        for j in neighbours[k]:
            key = (min(k, j), max(k, j))
            hit = clash(k, j)
            if hit != pairs[key]:
                change = 1 if hit else -1
                conflicts[k] += change
                conflicts[j] += change
                pairs[key] = hit
    return None
