"""What is wrong with an answer the judge refuted: the typical mistake it matches.

The answer is compared, in float64 at a few points, with the reference after each typical
mistake (sign, constant factor, the activation derivative left out or doubled or replaced by
the activation, one term of a sum dropped or added, weight decay forgotten, the update's sign)
and with the indices a student transposed; the first that matches names the mistake. This
names a mistake; it never decides a verdict (judge.py does).
"""

from __future__ import annotations

import re

import numpy as np
import sympy

from symbackprop.analysis.evaluate import evaluate_graph
from symbackprop.analysis.numeric import evaluate_numpy
from symbackprop.registry import BatchMean, BatchOuter, LossMean, MatTVec, MatVec, activation, coupled_classes, real
from symbackprop.verify.context import POINTS, Context, Target, _components, _scalar, _unfold, delta_definitions
from symbackprop.verify.judge import Decision
from symbackprop.verify.resolve import ResolveError
from symbackprop.verify.sequence import is_sequence, symbol_row, symbol_step, tensor_of

RTOL = 1e-9


def _values(ctx: Context, expr: sympy.Expr) -> np.ndarray:
    if not isinstance(expr, sympy.Basic):  # a plain number from Python arithmetic
        expr = sympy.Float(float(expr))
    missing = [s.name for s in expr.free_symbols if s.name not in ctx.points]
    if missing:
        raise ResolveError(f"cannot evaluate {', '.join(sorted(missing))}")
    with np.errstate(all="ignore"):
        value = evaluate_numpy(expr, ctx.points)
    return np.broadcast_to(np.asarray(value, dtype=float), (POINTS,))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Float agreement, for diagnosis only: which mistake explains the difference."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < POINTS // 4 or ok.sum() < 0.9 * np.isfinite(a).sum():  # a variant undefined where the
        # answer is defined (the reference divided by a relu's step) explains nothing there
        raise ResolveError("the answer cannot be evaluated at enough points (outside its domain?)")
    a, b = a[ok], b[ok]
    with np.errstate(over="ignore"):  # 1e308 - (-1e308) is inf: not the same, no warning
        return bool(np.all(np.abs(a - b) <= RTOL * np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))


def _evaluate(ctx: Context, target: Target, expr: sympy.Expr) -> np.ndarray:
    if target.kind == "layer":
        return np.concatenate([_values(ctx, c) for c in _components(ctx, target, expr)])
    return _values(ctx, _scalar(ctx, expr))


def _equal(ctx: Context, target: Target, answer: sympy.Expr, reference: sympy.Expr) -> bool:
    try:
        return _same(_evaluate(ctx, target, answer), _evaluate(ctx, target, reference))
    except (ResolveError, KeyError, TypeError, ValueError):
        return False


def _activation_factors(ctx: Context, target: Target) -> list[tuple[sympy.Expr, sympy.Expr]]:
    """(f'(net), f(net)) pairs, in stored form, for every activation the reference may contain."""
    unit = ctx.table.unit
    pairs = []
    if target.kind == "layer":
        net, names = ctx.table.derivation.network, ctx.table.derivation.names
        for layer in range(2, len(net.sizes) + 1):
            act = activation(net.activations[layer - 2])
            if not act.vector:
                a, z = names.out_vec(layer), names.net_vec(layer)
                pairs.append((act.derivative_in_output(a, z), a))
        return pairs
    for y, expr in unit.network.nodes.items():
        if not expr.args or not (y in unit.fused or y == unit.network.objective):
            continue
        arg = expr.own_input() if isinstance(expr, coupled_classes()[1]) else expr.args[0]  # softmax: its own net
        fp = unit.partials[y].get(arg)
        if fp is not None and fp != 1:
            pairs.append((fp, y))
    return pairs


def _variants(ctx: Context, target: Target, reference: sympy.Expr) -> list[tuple[str, sympy.Expr, str]]:
    """The reference after each typical mistake: (code, expression, what it means)."""
    out: list[tuple[str, sympy.Expr, str]] = []
    out += _batch_variants(ctx, target, reference)
    forms = [reference]
    if ctx.table.layers:  # a network of layers: its own mistakes; its unfolded forms are too large
        out += _layer_variants(ctx, reference)
    elif target.kind != "layer":
        unfolded = _unfold(ctx, reference)
        forms += [unfolded, unfolded.xreplace(ctx.table.unit.forward_expanded)]
    for fp, y in _activation_factors(ctx, target):
        for form in forms[:2]:
            out.append(("missing_activation_derivative", form / fp, "the activation's derivative is missing"))
            out.append(
                (
                    "activation_instead_of_derivative",
                    form / fp * y,
                    "the activation stands where its derivative belongs",
                )
            )
            out.append(("extra_activation_derivative", form * fp, "the activation's derivative appears twice"))
    lam = real("lambda")
    if reference.has(lam):
        out.append(("missing_regularization", reference.subs(lam, 0), "the weight-decay term is missing"))
    if target.update and target.symbol is not None:
        out.append(
            (
                "wrong_learning_rate_sign",
                2 * target.symbol - reference,
                "the update adds the gradient instead of subtracting it",
            )
        )
    swap = _swapped_weights(ctx)
    if swap and reference.xreplace(swap) != reference:
        out.append(
            (
                "transposed_index",
                reference.xreplace(swap),
                "weight indices are transposed (the later node's index comes first)",
            )
        )
    if target.kind == "layer":
        swapped = reference.replace(lambda e: isinstance(e, MatTVec), lambda e: MatVec(*e.args))
        swapped = swapped.replace(lambda e: isinstance(e, BatchOuter), lambda e: BatchOuter(*reversed(e.args)))
        if swapped != reference:
            out.append(("transposed_index", swapped, "a matrix or outer product is transposed"))
    for form in forms:
        for add in [a for a in sympy.preorder_traversal(form) if isinstance(a, sympy.Add)][:20]:
            for term in add.args:
                out.append(("missing_term", form.xreplace({add: add - term}), f"the term {term} is missing"))
    return out


def _layer_variants(ctx: Context, reference: sympy.Expr) -> list[tuple[str, sympy.Expr, str]]:
    """A network of layers' typical mistakes: the kernel not rotated in the full convolution
    (W_{f,c,u,v} where rot180 gives W_{f,c,k-1-u,k-1-v}), the dropout mask left out (with or
    without its 1/(1-p) scaling)."""
    out = []
    table = ctx.table
    kernels = {}
    for (base, index, layer), symbol in table.symbols.items():
        if base == "W" and len(index) == 4 and layer is not None:
            kernels.setdefault(layer, {})[tuple(int(i) for i in index)] = symbol
    for entries in kernels.values():
        k = 1 + max(i[2] for i in entries)
        flip = {s: entries[(f, c, k - 1 - u, k - 1 - v)] for (f, c, u, v), s in entries.items()}
        if reference.xreplace(flip) != reference:
            out.append(("kernel_not_rotated", reference.xreplace(flip), "the kernel is not rotated by 180 degrees"))
    for statistic, code, words in BATCH_PATHS:
        variant = _without_path(ctx, reference, statistic)
        if variant is not None:
            out.append((code, variant, words))
    masks = {s: sympy.S.One for (base, index, _), s in table.symbols.items() if base == "r" and index}
    if masks and reference.has(*masks):
        unmasked = reference.xreplace(masks)
        coefficient, rest = unmasked.as_coeff_Mul()
        out.append(("missing_mask", unmasked, "the dropout mask r is missing"))
        if coefficient != 1:
            out.append(("missing_mask", rest, "the dropout mask r and its scaling 1/(1 - p) are missing"))
    return out


# batch norm's paths through its statistics, each a typical omission: (node name's statistic, code, words)
BATCH_PATHS = (
    (
        "var",
        "dropped_variance_path",
        "the path through the batch variance sigma^2 is missing: every example's input moves the "
        "variance that all the examples are normalised by (the term x-hat_i * mean(dJ/dx-hat * x-hat))",
    ),
    (
        "mean",
        "dropped_mean_path",
        "the path through the batch mean mu is missing: every example's input moves the mean that "
        "all the examples subtract (the term mean(dJ/dx-hat))",
    ),
)


def _without_path(ctx: Context, reference: sympy.Expr, statistic: str, depth: int = 4) -> sympy.Expr | None:
    """The reference with the error terms of batch norm's ``statistic`` nodes (mean or var) set to
    zero, the path through them dropped; error terms of the nodes between are written out, one
    level at a time, until the statistics' appear. None if they never do within ``depth`` levels."""
    unit = ctx.table.unit
    pattern = re.compile(r"xhat\d+(?:_\d+)?__" + statistic + r"_\d+")
    stats = {d for n, d in unit.delta_symbols.items() if pattern.fullmatch(n.name)}
    if not stats:
        return None
    definitions = delta_definitions(ctx)
    expr = reference
    for _ in range(depth):
        if expr.free_symbols & stats:
            return expr.xreplace({d: sympy.S.Zero for d in stats})
        inner = {d: definitions[d] for d in expr.free_symbols if d in definitions}
        if not inner:
            return None
        expr = expr.xreplace(inner)
    return None


def _batch_variants(ctx: Context, target: Target, reference: sympy.Expr) -> list[tuple[str, sympy.Expr, str]]:
    """The means over the batch (1/m sum_i) of a matrix-form reference without their 1/m, or
    with it twice: beside a weight-decay term, not a factor of the whole answer."""
    m = ctx.table.symbols.get(("m", (), None))
    means = {a for a in sympy.preorder_traversal(reference) if isinstance(a, (BatchOuter, BatchMean, LossMean))}
    if target.kind != "layer" or m is None or not means or reference in means:
        return []
    return [
        ("factor", reference.xreplace({a: m * a for a in means}), "the 1/m of the mean over the batch is missing"),
        ("factor", reference.xreplace({a: a / m for a in means}), "the mean over the batch divides by m twice"),
    ]


def _swapped_weights(ctx: Context) -> dict:
    """w_kj -> w_jk for every weight whose transposed name also exists (a sequence model's
    parameters only: h_{t,k} is a step's entry, not a matrix's)."""
    table = ctx.table
    swap = {}
    parameters = set(table.unit.network.parameters) if is_sequence(table) else None
    for (base, indices, layer), symbol in table.symbols.items():
        if parameters is not None and symbol not in parameters:
            continue
        if len(indices) == 2:
            other = table.symbols.get((base, (indices[1], indices[0]), layer))
            if other is not None and other != symbol:
                swap[symbol] = other
    return swap


def _diagnose(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str]:
    reference = target.reference
    try:
        a, r = _evaluate(ctx, target, answer), _evaluate(ctx, target, reference)
    except (ResolveError, KeyError, TypeError, ValueError):
        return _shape_mismatch(ctx, target, answer)
    sequence = _sequence_diagnosis(ctx, target, answer)  # named before a constant factor: 1/sqrt(d_k) is one
    if sequence is not None:
        return sequence
    ok = np.isfinite(a) & np.isfinite(r) & (np.abs(r) > 1e-12)
    zero = np.isfinite(a) & np.isfinite(r) & (np.abs(r) <= 1e-12)
    if ok.any() and np.all(np.abs(a[zero]) <= 1e-12):
        ratio = a[ok] / r[ok]
        if np.allclose(ratio, ratio[0], rtol=1e-8) and abs(ratio[0] - 1) > 1e-8:
            c = ratio[0]
            if abs(c + 1) < 1e-8:
                return ["sign"], "the sign is wrong: the answer is minus the correct value"
            batch = ctx.table.batch  # examples that differ: m is a number
            if batch > 1 and abs(c - batch) < 1e-8:
                return [
                    "factor"
                ], "the answer is m times the correct value: the 1/m of the mean over the batch is missing"
            if batch > 1 and abs(c * batch - 1) < 1e-8:
                return [
                    "factor"
                ], "the answer is 1/m times the correct value: it divides by the batch size m once too often"
            if abs(c) > 1e-12:
                return (
                    ["factor"],
                    f"a constant factor is wrong: the answer is {sympy.nsimplify(c, tolerance=1e-9)} times the correct value",
                )
        batch = _batch_factor(ctx, ratio, ok)
        if batch:
            return ["factor"], batch
    for code, variant, words in _variants(ctx, target, reference):
        if _equal(ctx, target, answer, variant):
            return [code], words
    for term in _extra_terms(answer):
        if _equal(ctx, target, answer - term, reference):
            return ["extra_term"], f"the term {term} does not belong"
    return ["other"], "the answer differs from the correct value (see the counterexample)"


def _batch_factor(ctx: Context, ratio: np.ndarray, ok: np.ndarray) -> str:
    """The answer is m times the correct value, or 1/m times: the batch mean's 1/m forgotten
    or applied twice."""
    m = ctx.table.symbols.get(("m", (), None))
    if not isinstance(m, sympy.Symbol) or m.name not in ctx.points:  # a number where examples differ
        return ""
    values = np.tile(ctx.points[m.name], len(ok) // POINTS)[ok]
    if np.allclose(ratio, values, rtol=1e-8):
        return "the answer is m times the correct value: the 1/m of the mean over the batch is missing"
    if np.allclose(ratio, 1 / values, rtol=1e-8):
        return "the answer is 1/m times the correct value: it divides by the batch size m once too often"
    return ""


def _shape_mismatch(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str]:
    """The answer does not fit the network's shapes: is it right once a product is transposed?"""

    def fits(swapped: sympy.Expr) -> bool:
        try:
            return _equal(ctx, target, swapped, target.reference)
        except (KeyError, IndexError):  # still does not fit
            return False

    if target.kind == "layer":
        if fits(answer.replace(lambda e: isinstance(e, MatVec), lambda e: MatTVec(*e.args))):
            return ["transposed_index"], "a weight matrix needs its transpose (W^T delta, not W delta)"
        if fits(answer.replace(lambda e: isinstance(e, BatchOuter), lambda e: BatchOuter(*reversed(e.args)))):
            return ["transposed_index"], "an outer product is transposed (delta a^T, not a delta^T)"
    return ["other"], "the answer's shapes do not fit the network"


def _extra_terms(answer: sympy.Expr) -> list[sympy.Expr]:
    terms = []
    for add in [a for a in sympy.preorder_traversal(answer) if isinstance(a, sympy.Add)][:10]:
        for term in add.args:
            terms.append(answer.xreplace({add: add - term}) - answer)
    return [-t for t in terms]


def _counterexample(ctx: Context, answer: sympy.Expr, target: Target, decision: Decision) -> dict:
    """Where the sides differ: the values there of the quantities the answer and the reference
    are written in (net_3, delta_6, w_63, ...), and both sides' values."""
    unit = ctx.table.unit
    point = dict(decision.point)
    for s, v in ctx.assumed.items():
        point[s.name] = float(v.xreplace({k: sympy.Float(point.get(k.name, 0.0)) for k in v.free_symbols}))
    leaves = {s.name: np.asarray(point.get(s.name, 0.0)) for s in unit.network.leaves}
    values, deltas, _ = evaluate_graph(unit, leaves)
    known = {**point, **{k: float(v) for k, v in values.items()}, **{k: float(v) for k, v in deltas.items()}}
    used = [_scalar(ctx, e).free_symbols for e in (answer, target.reference)] if target.kind != "layer" else []
    names = sorted({s.name for group in used for s in group} & known.keys()) or sorted(decision.point)
    shown = {k: round(float(known[k]), 6) for k in names}
    return {"values": shown, "answer": decision.answer_value, "correct": decision.correct_value}


# --- sequence models: backpropagation through time and attention --------------------------------


def _sequence_diagnosis(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str] | None:
    """A sequence model's typical mistakes (issue 11), tried before the general ones, since a
    forgotten 1/sqrt(d_k) is also a constant factor and one step's term also a missing term:
    the scores' scaling forgotten, softmax treated as elementwise, the sum over time missing
    from a shared weight's gradient, the path through the next step dropped. None if none fits."""
    if not is_sequence(ctx.table) or target.symbol is None:
        return None
    for check in (_forgotten_sqrt_dk, _softmax_elementwise, _one_step_only, _next_step_dropped, _direct_path_dropped):
        found = check(ctx, target, answer)
        if found is not None:
            return found
    return None


def _forgotten_sqrt_dk(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str] | None:
    """dJ/dQ, dJ/dK, dJ/dW_q, dJ/dW_k without the 1/sqrt(d_k) of S = Q K^T / sqrt(d_k), or with
    1/d_k in its place."""
    d_k = ctx.table.symbols.get(("d_k", (), None))
    name, _ = tensor_of(target.symbol)
    if d_k is None or not re.fullmatch(r"(Q|K|W_q|W_k)\d+", name):
        return None
    root = sympy.sqrt(d_k)
    if _equal(ctx, target, answer, target.reference * root):
        return ["missing_sqrt_dk"], (
            f"the factor 1/sqrt(d_k) is missing (the answer is sqrt({d_k}) times the correct value): the scores "
            "are S = Q K^T / sqrt(d_k), so every gradient through them carries 1/sqrt(d_k)"
        )
    if _equal(ctx, target, answer, target.reference / root):
        return ["missing_sqrt_dk"], (
            "the answer divides by d_k where the scores divide by sqrt(d_k) (S = Q K^T / sqrt(d_k)): "
            f"it is 1/sqrt({d_k}) times the correct value"
        )
    return None


def _softmax_elementwise(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str] | None:
    """dJ/ds_{ij} as a_{ij} (1 - a_{ij}) g_{ij} (g = dJ/dA): the softmax Jacobian's diagonal alone."""
    name, index = tensor_of(target.symbol)
    m = re.fullmatch(r"S(\d+)", name)
    if m is None:
        return None
    a = real(f"A{m.group(1)}__" + "_".join(str(i) for i in index))
    g = ctx.table.unit.delta_symbols.get(a)
    if g is None or not _equal(ctx, target, answer, a * (1 - a) * g):
        return None
    return ["softmax_elementwise"], (
        "the softmax Jacobian's off-diagonal terms are missing: softmax is not elementwise, every a_{ij} "
        "of a row depends on every score s_{ik} of that row, so dJ/ds_{ij} = a_{ij} (g_{ij} - sum_k g_{ik} a_{ik}) "
        "with g = dJ/dA, not a_{ij} (1 - a_{ij}) g_{ij}"
    )


def _term_step(term: sympy.Expr) -> tuple[str, int] | None:
    """The time step a term of a shared weight's gradient belongs to: its latest per-step entry's
    step (delta_t h_{t-1}: t), or for attention the row of its sequence entries (x_{t,r} dJ/dQ_{t,c}: t)."""
    steps = {s for s in map(symbol_step, term.free_symbols) if s is not None}
    if steps:
        return "step", max(steps)
    rows = {r for r in map(symbol_row, term.free_symbols) if r is not None}
    return ("row", max(rows)) if len(rows) == 1 else None


def _one_step_only(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str] | None:
    """A shared weight's gradient as one time step's term: the sum over time left out."""
    if target.kind != "gradient":
        return None
    groups: dict[tuple[str, int], list[sympy.Expr]] = {}
    for term in sympy.Add.make_args(target.reference):
        step = _term_step(term)
        if step is None:
            return None
        groups.setdefault(step, []).append(term)
    if len(groups) < 2:
        return None
    for (kind, step), terms in sorted(groups.items()):
        if _equal(ctx, target, answer, sympy.Add(*terms)):
            which = f"step {step}'s term" if kind == "step" else f"the term of position {step} (row {step} of X)"
            return ["missing_sum_over_time"], (
                f"the sum over time is missing: the weight is shared by every time step, so its gradient is the "
                f"sum of each step's term (sum_t), and the answer is {which} alone"
            )
    return None


def _later_deltas(ctx: Context, expr: sympy.Expr, step: int, depth: int = 4) -> set:
    """The error terms of steps after ``step`` that an expression reaches: its own, and those of
    its error terms of the same step (or of no step) written out, ``depth`` levels deep."""
    by_symbol = delta_definitions(ctx)
    found: set = set()
    frontier = expr
    for _ in range(depth):
        symbols = frontier.free_symbols & by_symbol.keys()
        later = {s for s in symbols if (symbol_step(s) or 0) > step}
        found |= later
        rest = symbols - later
        if not rest:
            break
        frontier = sympy.Add(*(by_symbol[s] for s in rest))
    return found


def _next_step_dropped(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str] | None:
    """A step's error term without its path through the next step (BPTT's total derivative over
    time): the answer equals the reference with the next steps' error terms set to zero, or it
    names nothing of a later step where the reference reaches one."""
    step = symbol_step(target.symbol)
    if step is None or target.kind not in ("delta", "partial"):
        return None
    reference = target.reference
    direct = {s for s in reference.free_symbols if s in ctx.table.unit.delta_symbols.values()}
    direct = {s for s in direct if (symbol_step(s) or 0) > step}
    later = _later_deltas(ctx, reference, step)
    if not later:
        return None
    dropped = bool(direct) and _equal(ctx, target, answer, reference.xreplace({s: 0 for s in direct}))
    if not dropped and any((symbol_step(s) or 0) > step for s in answer.free_symbols):
        return None
    cell = any(re.fullmatch(r"delta_c\d+_\d+", tensor_of(s)[0]) for s in (direct or later))
    t, after = step, step + 1
    if cell:
        return ["missing_path_through_time"], (
            f"the path through c_{after} is missing: the cell state c_{t} also feeds c_{after} = f_{after} c_{t} + "
            f"i_{after} g_{after}, so its error term gets delta_c,{after} f_{after} besides the path through h_{t} "
            "(the cell state carries the gradient back through time)"
        )
    return ["missing_path_through_time"], (
        f"the path through h_{after} is missing: h_{t} also feeds step {after} (z_{after} = W_hh h_{t} + ...), so its "
        f"error term gets the next step's, W_hh^T delta_{after}, besides the direct path (the total derivative over time)"
    )


def _direct_path_dropped(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str] | None:
    """A step's error term with only its path through the next step: the direct path (through the
    layers after the recurrent one, delta^{(2)} of the output at the last step) left out, as the
    recurrence delta_t = f'(z_t) W_hh^T delta_{t+1} gives it at t = T, where delta_{T+1} = 0."""
    step = symbol_step(target.symbol)
    if step is None or target.kind not in ("delta", "partial"):
        return None
    deltas = set(ctx.table.unit.delta_symbols.values())
    direct = {s for s in target.reference.free_symbols if s in deltas and symbol_step(s) is None}
    if not direct or not _equal(ctx, target, answer, target.reference.xreplace({s: 0 for s in direct})):
        return None
    return ["missing_direct_path"], (
        f"the direct path is missing: h_{step} also feeds the layers after the recurrent one, so its error term "
        "gets theirs besides the next step's (at the last step, where delta_{T+1} = 0, it is all there is)"
    )
