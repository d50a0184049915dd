"""Choosing where the labels of a diagram go, so that none touches what it must not.

Each label (or group of labels that move together, like the value above and the gradient below
a wire) has candidate placements in order of preference, each a tuple of outlines.
:func:`free_candidates` drops those touching a fixed piece (a node, another wire, an arrow
head); :func:`assign` then picks one candidate per label so that no two chosen labels touch:
greedily, the most constrained label first, each taking its most preferred free candidate, then
a bounded min-conflicts repair. Either every label gets a place or the answer is None, and the
caller makes room (more spacing) and tries again.

:func:`on_wire_offsets` computes, for a label sitting on its own straight wire (a weight on an
edge), the stretches of the wire where it would touch nothing, directly from the geometry (each
obstacle blocks an interval of positions), which is what makes a network of 8 x 8 edges quick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from symbackprop.backends.diagram_geometry import Piece, Point, must_not_touch, touch

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


def _strip_interval(a: Point, b: Point, half: float) -> tuple[float, float] | None:
    """The u-range of the part of segment a-b (in a label's frame) with |v| <= half."""
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
    return min(u1, u2), max(u1, u2)


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
) -> list[float]:
    """Distances d from ``start`` along start -> end (within ``span``, on a grid of ``step``) at
    which a box of half sizes (half_w along the wire, half_h across) centred on the wire touches
    none of ``segments`` and none of the ``discs`` (centre, radius)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length

    def local(p: Point) -> Point:
        px, py = p[0] - start[0], p[1] - start[1]
        return px * ux + py * uy, -px * uy + py * ux

    half = half_h + clearance
    reach = half_w + clearance
    blocked = []
    for a, b in segments:
        found = _strip_interval(local(a), local(b), half)
        if found is not None:
            blocked.append((found[0] - reach, found[1] + reach))
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
            out.append(d)
    return out
