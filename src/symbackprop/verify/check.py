"""Is a student's equation right? Decide, and say what is wrong when it is not.

1. **Target.** The left-hand side names what is derived (\\delta_6, dE/dw_64, w_64 <- ...), or
   ``target=`` does. The reference is the engine's equation for it, in the same stored form a
   student writes (deltas by symbol, y_4 for sigma(net_4)).
2. **Equivalence, two ways.** Exact: both sides rewritten into stored form and expanded; a zero
   difference proves equality. Numeric: both sides evaluated at random points inside every
   function's domain (targets that must sum to one do), all symbols computed by the forward and
   backward pass. A difference is a counterexample, re-checked at 30 digits before it is
   reported. If the two disagree, or nothing can be evaluated, the verdict says it cannot judge.
3. **Diagnosis.** The answer is compared with the reference after each typical mistake (sign,
   constant factor, the activation derivative left out or doubled or replaced by the activation,
   one term of a sum dropped or added, weight decay forgotten, the update's sign) and with the
   indices a student transposed; the first that matches names the mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import sympy
from sympy import Symbol

from symbackprop.analysis.evaluate import evaluate_graph
from symbackprop.analysis.numeric import lambdify_numpy
from symbackprop.calculus.derive import derive_graph
from symbackprop.calculus.expand import Units
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.core.limits import time_limit
from symbackprop.core.network import LayeredNetwork, NetworkError
from symbackprop.core.spec import SpecError, load_spec
from symbackprop.registry import BatchOuter, MatTVec, MatVec, activation, coupled_classes, loss, real
from symbackprop.verify.judge import Decision, Problem, Sampler, decide, exact_value, probe_points, tie_points
from symbackprop.verify.latex import Node, ParseError, math_lines, parse_line, short
from symbackprop.verify.resolve import Evaluator, ResolveError, Table, build_table
from symbackprop.verify.verdict import CORRECT, INCORRECT, UNDECIDED, Verdict, invalid

POINTS = 64  # float probes for diagnosis (the verdict has its own, see judge.py)
RTOL = 1e-9
TIME_LIMIT = 5.0


@dataclass
class Target:
    name: str  # as reported: delta_6, dE/dw_64, w_64 (update), y_4
    kind: str  # delta, gradient, update, forward, partial, layer
    reference: sympy.Expr
    symbol: Symbol | None = None  # the unit, parameter or node
    layer_shape: tuple | None = None  # components of a matrix-form equation
    update: bool = False


@dataclass
class Context:
    table: Table
    sampler: Sampler  # how the verdict's probes draw every leaf
    points: dict  # symbol name -> POINTS values, for diagnosis
    assumed: dict  # the last target of a group that sums to one -> 1 - the others


@lru_cache(maxsize=16)
def context(spec: str, notation: str | None = None) -> Context:
    network = load_spec(spec)
    if notation and isinstance(network, LayeredNetwork):
        network = replace(network, notation=notation)
    derivation = LayeredDerivation(network) if isinstance(network, LayeredNetwork) else derive_graph(network)
    table = build_table(derivation)
    sampler = _sampler(table)
    groups = table.unit.network.target_groups
    assumed = {g[-1]: 1 - sympy.Add(*g[:-1]) for g in groups if len(g) > 1}
    return Context(table, sampler, _points(table, sampler), assumed)


def _sampler(table: Table) -> Sampler:
    """Inputs and parameters drawn wide (both signs, near zero to beyond one), targets over their
    valid range, rates and the weight decay positive, the batch size m a small positive integer."""
    derivation = table.derivation
    net = table.unit.network
    target_kind = "wide"
    if isinstance(derivation, LayeredDerivation):
        target_kind = {"unit": "unit", "one-hot": "unit"}.get(loss(derivation.network.loss).targets, "wide")
    kinds: dict[Symbol, str] = {s: "wide" for s in (*net.inputs, *net.parameters)}
    grouped = {t for g in net.target_groups if len(g) > 1 for t in g}
    kinds.update({t: target_kind for t in net.targets if t not in grouped})
    kinds.update({c: "rate" for c in net.constants})
    kinds[net.learning_rate_symbol] = "rate"
    if isinstance(derivation, LayeredDerivation):
        names = derivation.names
        kinds[names.weight_decay()] = "rate"
        kinds[names.batch_size()] = "m"
    groups = tuple(g for g in net.target_groups if len(g) > 1)
    return Sampler(kinds, groups)


def _points(table: Table, sampler: Sampler) -> dict:
    """Float values of every symbol at POINTS draws: leaves drawn, the rest computed."""
    unit = table.unit
    drawn = sampler.draw(POINTS, np.random.default_rng(7))
    env = {s.name: v for s, v in drawn.items()}
    values, deltas, _ = evaluate_graph(unit, {s.name: env[s.name] for s in unit.network.leaves})
    points = {**env, **values, **deltas}
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (POINTS,)) for k, v in points.items()}


# --- targets ------------------------------------------------------------------------------


def target_of(ctx: Context, lhs: Node, relation: str, evaluator: Evaluator) -> Target:
    table, unit = ctx.table, ctx.table.unit
    if lhs.kind == "derivative":
        top = evaluator.evaluate(lhs.parts[0])
        bottom = evaluator.evaluate(lhs.parts[1])
        if top == table.objective and bottom in unit.delta_symbols:
            return _delta_target(ctx, bottom)
        if top == table.objective and bottom.name in unit.gradients:
            return Target(f"d{top}/d{bottom}", "gradient", unit.gradients[bottom.name], bottom)
        if top == table.objective and bottom in unit.totals:
            return Target(f"d{top}/d{bottom}", "partial", unit.totals[bottom], bottom)
        layer = _layer_target(ctx, bottom, gradient=True)
        if layer is not None:
            return layer
        if top in unit.partials and bottom in unit.partials[top]:
            return Target(f"d{top}/d{bottom}", "partial", unit.partials[top][bottom], bottom)
        raise ResolveError(f"d{top}/d{bottom} is not a quantity this derivation computes")
    if lhs.kind == "name" and lhs.parts[1] and isinstance(lhs.parts[1], str) and lhs.parts[1].endswith("new"):
        raise ResolveError("write an update as w_{64} \\leftarrow w_{64} - \\eta ...")
    symbol = evaluator.evaluate(lhs)
    if lhs.kind == "name" and not isinstance(symbol, Symbol):  # L or s: a named part of the objective
        return Target(lhs.parts[0], "forward", symbol)
    if not isinstance(symbol, Symbol):
        raise ResolveError(
            "the left-hand side must name one quantity (\\delta_6, \\frac{\\partial E}{\\partial w_{64}}, w_{64})"
        )
    return _symbol_target(ctx, symbol, relation)


def _symbol_target(ctx: Context, symbol: Symbol, relation: str) -> Target:
    unit = ctx.table.unit
    for node, d in unit.delta_symbols.items():
        if d == symbol:
            return _delta_target(ctx, node)
    if symbol.name in unit.updates and relation in ("<-", ":=", "="):
        return Target(symbol.name, "update", unit.updates[symbol.name], symbol, update=True)
    if symbol in unit.network.nodes:
        return Target(symbol.name, "forward", unit.network.nodes[symbol], symbol)
    layer = _layer_target(ctx, symbol, gradient=False, update=relation in ("<-", ":="))
    if layer is not None:
        return layer
    raise ResolveError(f"{symbol} is not derived by this network's equations")


def _delta_target(ctx: Context, node: Symbol) -> Target:
    unit = ctx.table.unit
    return Target(unit.delta_symbols[node].name, "delta", unit.deltas[node.name], node)


def _layer_target(ctx: Context, symbol: Symbol, gradient: bool, update: bool = False) -> Target | None:
    table = ctx.table
    if symbol not in table.roles or not isinstance(table.derivation, LayeredDerivation):
        return None
    equations = table.derivation.tensor_equations
    for eq in equations:
        wanted = (gradient and eq.kind == "gradient" and eq.target == symbol) or (
            not gradient and eq.lhs == symbol and eq.update == update
        )
        if wanted:
            shape = table.derivation.names.shape(symbol)
            shape = shape if len(shape) == 2 else (shape[0], None)
            name = f"d{table.objective}/d{symbol}" if gradient else symbol.name
            reference = eq.rhs
            if eq.update:  # W - alpha dJ/dW: the gradient written out, as a student would
                gradient_eq = next(g for g in equations if g.kind == "gradient" and g.target == symbol)
                reference = reference.xreplace({gradient_eq.lhs: gradient_eq.rhs})
            return Target(name, "layer", reference, symbol, shape, update=eq.update)
    return None


def target_from_text(ctx: Context, text: str, evaluator: Evaluator) -> Target:
    """--target delta_4, w_64 (its gradient), update:w_64, or any left-hand side in LaTeX."""
    text = text.strip()
    if text.startswith("update:"):
        return target_of(ctx, parse_line(text[7:]).parts[0][0], "<-", evaluator)
    node = parse_line(text).parts[0][0]
    if node.kind == "name" and node.parts[0] not in ("delta",):
        symbol = evaluator.evaluate(node)
        unit = ctx.table.unit
        if symbol.name in unit.gradients:
            return Target(f"d{ctx.table.objective}/d{symbol}", "gradient", unit.gradients[symbol.name], symbol)
    return target_of(ctx, node, "=", evaluator)


# --- equivalence ----------------------------------------------------------------------------


def _values(ctx: Context, expr: sympy.Expr) -> np.ndarray:
    if not isinstance(expr, sympy.Basic):  # a plain number from Python arithmetic
        expr = sympy.Float(float(expr))
    missing = [s.name for s in expr.free_symbols if s.name not in ctx.points]
    if missing:
        raise ResolveError(f"cannot evaluate {', '.join(sorted(missing))}")
    args = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    with np.errstate(all="ignore"):
        value = _lambdified(args, expr)(*(ctx.points[a.name] for a in args))
    return np.broadcast_to(np.asarray(value, dtype=float), (POINTS,))


@lru_cache(maxsize=2048)
def _lambdified(args: tuple[Symbol, ...], expr: sympy.Expr):
    """Compiled once: references and their variants recur from answer to answer."""
    return lambdify_numpy(list(args), expr)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Float agreement, for diagnosis only: which mistake explains the difference."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < POINTS // 4:
        raise ResolveError("the answer cannot be evaluated at enough points (outside its domain?)")
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return bool(np.all(np.abs(a - b)[ok] <= RTOL * scale[ok]))


def _units(ctx: Context) -> Units:
    return Units(ctx.table.derivation.names, keep_batch=True)


def _components(ctx: Context, target: Target, expr: sympy.Expr) -> list[sympy.Expr]:
    """A matrix-form expression as the list of its per-unit components."""
    units = _units(ctx)
    rows, cols = target.layer_shape
    if cols is None:
        return [units.component(expr, k) for k in range(rows)]
    return [units.component(expr, k, j) for k in range(rows) for j in range(cols)]


def _scalar(ctx: Context, expr: sympy.Expr) -> sympy.Expr:
    if ctx.table.roles and expr.free_symbols & ctx.table.roles.keys():  # a scalar in matrix notation
        return _units(ctx).component(expr, 0)
    return expr


def _evaluate(ctx: Context, target: Target, expr: sympy.Expr) -> np.ndarray:
    if target.kind == "layer":
        return np.concatenate([_values(ctx, c) for c in _components(ctx, target, expr)])
    return _values(ctx, _scalar(ctx, expr))


def _equal(ctx: Context, target: Target, answer: sympy.Expr, reference: sympy.Expr) -> bool:
    try:
        return _same(_evaluate(ctx, target, answer), _evaluate(ctx, target, reference))
    except (ResolveError, KeyError, TypeError, ValueError):
        return False


def _unfold(ctx: Context, expr: sympy.Expr) -> sympy.Expr:
    """Replace delta symbols by their equations until only stored forward values remain."""
    unit = ctx.table.unit
    by_symbol = {d: unit.deltas[n.name] for n, d in unit.delta_symbols.items()}
    for _ in range(len(by_symbol) + 1):
        if not (expr.free_symbols & by_symbol.keys()):
            break
        expr = expr.xreplace(by_symbol)
    return expr


def in_leaves(ctx: Context, expr: sympy.Expr) -> sympy.Expr:
    """An expression in the leaves alone: error terms unfolded, forward values expanded, the
    last target of a group that sums to one written as one minus the others."""
    if not isinstance(expr, sympy.Basic):
        expr = sympy.Float(float(expr))
    return _unfold(ctx, expr).xreplace(ctx.table.unit.forward_expanded).xreplace(ctx.assumed)


def _pairs(ctx: Context, target: Target, answer: sympy.Expr) -> list[tuple[sympy.Expr, sympy.Expr]]:
    if target.kind == "layer":
        return list(zip(_components(ctx, target, answer), _components(ctx, target, target.reference)))
    return [(_scalar(ctx, answer), _scalar(ctx, target.reference))]


def decide_answer(ctx: Context, target: Target, answer: sympy.Expr) -> Decision:
    """The judge's decision over every component: the first refuted one decides, then any one
    left undecided, else the answer is correct."""
    decisions = []
    for a, r in _pairs(ctx, target, answer):
        decision = decide(Problem(in_leaves(ctx, a), in_leaves(ctx, r), ctx.sampler))
        if decision.verdict == "incorrect":
            return decision
        decisions.append(decision)
    undecided = [d for d in decisions if d.verdict == "undecided"]
    if undecided:
        return undecided[0]
    worst = [d for d in decisions if "numeric" in d.decided_by]
    return worst[0] if worst else decisions[0]


# --- diagnosis ------------------------------------------------------------------------------


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
    forms = [reference]
    if target.kind != "layer":
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


def _swapped_weights(ctx: Context) -> dict:
    """w_kj -> w_jk for every weight whose transposed name also exists."""
    table = ctx.table
    swap = {}
    for (base, indices, layer), symbol in table.symbols.items():
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
    ok = np.isfinite(a) & np.isfinite(r) & (np.abs(r) > 1e-12)
    zero = np.isfinite(a) & np.isfinite(r) & (np.abs(r) <= 1e-12)
    if ok.any() and np.all(np.abs(a[zero]) <= 1e-12):
        ratio = a[ok] / r[ok]
        if np.allclose(ratio, ratio[0], rtol=1e-8) and abs(ratio[0] - 1) > 1e-8:
            c = ratio[0]
            if abs(c + 1) < 1e-8:
                return ["sign"], "the sign is wrong: the answer is minus the correct value"
            if abs(c) > 1e-12:
                return (
                    ["factor"],
                    f"a constant factor is wrong: the answer is {sympy.nsimplify(c, tolerance=1e-9)} times the correct value",
                )
    for code, variant, words in _variants(ctx, target, reference):
        if _equal(ctx, target, answer, variant):
            return [code], words
    for term in _extra_terms(answer):
        if _equal(ctx, target, answer - term, reference):
            return ["extra_term"], f"the term {term} does not belong"
    return ["other"], "the answer differs from the correct value (see the counterexample)"


def _shape_mismatch(ctx: Context, target: Target, answer: sympy.Expr) -> tuple[list[str], str]:
    """The answer does not fit the network's shapes: is it right once a product is transposed?"""
    if target.kind == "layer":
        swapped = answer.replace(lambda e: isinstance(e, MatVec), lambda e: MatTVec(*e.args))
        if _equal(ctx, target, swapped, target.reference):
            return ["transposed_index"], "a weight matrix needs its transpose (W^T delta, not W delta)"
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


def judge(ctx: Context, target: Target, answer: sympy.Expr, evaluator: Evaluator | None = None) -> Verdict:
    """Decide one expression against the target's reference (see judge.py); diagnose a wrong one.
    ``evaluator`` is the one that read the answer: what it noticed (indices the wrong way round,
    divisions that SymPy cancelled) counts too."""
    transposed = list(evaluator.transposed) if evaluator else []
    decision = decide_answer(ctx, target, answer)
    if decision.verdict == "correct" and evaluator is not None:
        decision = _divides_by_zero(ctx, target, evaluator.denominators) or decision
    if decision.verdict == "correct":
        if transposed:
            words = ", ".join(transposed)
            return Verdict(
                INCORRECT,
                target.name,
                ["transposed_index"],
                f"indices written the wrong way round: {words} (the later node's index comes first)",
                None,
                decision.decided_by,
            )
        return Verdict(
            CORRECT, target.name, [], f"this is {target.name}, as the network defines it", None, decision.decided_by
        )
    if decision.verdict == "undecided":
        return Verdict(UNDECIDED, target.name, [], f"Cannot decide: {decision.reason}.", None, "")
    if decision.reason:  # undefined where the reference is not
        example = {
            "values": {k: round(v, 6) for k, v in decision.point.items()},
            "answer": None,
            "correct": decision.correct_value,
        }
        return Verdict(INCORRECT, target.name, ["other"], decision.reason, example, decision.decided_by)
    codes, words = _diagnose(ctx, target, answer)
    example = _counterexample(ctx, answer, target, decision)
    return Verdict(INCORRECT, target.name, codes, f"{words[0].upper()}{words[1:]}.", example, decision.decided_by)


def _divides_by_zero(ctx: Context, target: Target, denominators: list[sympy.Expr]) -> Decision | None:
    """x/x is not 1 where x = 0: an answer that divides by something that vanishes where the
    reference is defined is not the reference there."""
    for den in denominators:
        g = in_leaves(ctx, _scalar(ctx, den)) if target.kind != "layer" else None
        if g is None or not g.free_symbols:
            continue
        reference = in_leaves(ctx, _scalar(ctx, target.reference)) if target.kind != "layer" else None
        problem = Problem(g, reference if reference is not None else sympy.S.Zero, ctx.sampler)
        problem.kinks = [g]
        points = probe_points(problem)
        for point in tie_points(problem, points):
            if exact_value(g, point) != 0:
                continue
            correct = exact_value(problem.reference, point)
            if correct is not None:
                shown = {s.name: float(v) for s, v in point.items()}
                words = f"The answer divides by {den}, which is zero where the correct value is defined"
                return Decision("incorrect", "exact division by zero", shown, None, float(correct), words)
    return None


def _identity(ctx: Context, sides) -> Verdict | None:
    """A line about no network quantity (a lemma such as sigma' = sigma (1 - sigma)): every side
    must equal the one before it for all values of its free variables. None if it is not one."""
    evaluator = Evaluator(ctx.table, free=True)
    try:
        exprs = [evaluator.evaluate(side) for side in sides]
    except ParseError:
        return None
    free = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    if not free or any(not s.name.startswith("free_") for s in free):
        return None
    sampler = Sampler({s: "wide" for s in free}, seed=7)
    decided = []
    for step in range(1, len(exprs)):
        decision = decide(Problem(exprs[step], exprs[step - 1], sampler))
        if decision.verdict == "incorrect":
            shown = {k[5:]: round(v, 6) for k, v in decision.point.items()}
            example = {"values": shown, "answer": decision.answer_value, "correct": decision.correct_value}
            message = f"step {step} of this identity does not follow from the one before"
            return Verdict(INCORRECT, None, ["other"], message, example, decision.decided_by)
        if decision.verdict == "undecided":
            return Verdict(UNDECIDED, None, [], f"Cannot decide step {step} of this identity: {decision.reason}.")
        decided.append(decision.decided_by)
    how = next((d for d in decided if "numeric" in d), decided[0] if decided else "symbolic proof")
    return Verdict(CORRECT, None, [], "an identity that holds for every value of its variables", None, how)


def verify_answer(
    spec: str, answer: str, target: str | None = None, notation: str | None = None, seconds: float = TIME_LIMIT
) -> Verdict:
    """Judge one equation (or one right-hand side with ``target``) against a built-in or spec file."""
    try:
        with time_limit(seconds):
            return _verify(spec, answer, target, notation)
    except TimeoutError:
        return invalid(f"cannot judge: the check took longer than {seconds:g} s", target)
    except (SpecError, NetworkError) as err:
        return invalid(str(err), target)
    except (RecursionError, MemoryError, OverflowError):
        return invalid("the answer is too large or too deeply nested to check", target)
    except Exception as err:  # noqa: BLE001 - a student must get a verdict, never a traceback
        return invalid(f"cannot judge: internal error {type(err).__name__}: {short(err, 120)}", target)


def _verify(spec: str, answer: str, target_text: str | None, notation: str | None) -> Verdict:
    ctx = context(spec, notation)
    evaluator = Evaluator(ctx.table)
    try:
        sides, relations = parse_line(answer).parts
        if target_text:
            target = target_from_text(ctx, target_text, evaluator)
            rhs = list(sides) if len(sides) == 1 else list(sides[1:])
        else:
            if len(sides) < 2 or sides[0] is None:
                return invalid("the answer has no left-hand side; give one (\\delta_6 = ...) or a target")
            try:
                target = target_of(ctx, sides[0], relations[0], evaluator)
            except ResolveError as err:
                identity = _identity(ctx, sides)
                if identity is None:
                    raise err
                return identity
            rhs = list(sides[1:])
        verdict = None
        for step, side in enumerate(rhs, start=1):
            evaluator.transposed.clear()  # what the target's name or an earlier step noticed does not count
            evaluator.denominators.clear()
            expr = evaluator.evaluate(side)
            verdict = judge(ctx, target, expr, evaluator)
            if verdict.verdict != CORRECT:
                if len(rhs) > 1:
                    verdict.message += f" (step {step} of the chain)"
                return verdict
        return verdict
    except ParseError as err:
        return invalid(f"cannot read the answer: {err}", target_text)


def verify_document(spec: str, text: str, notation: str | None = None, seconds: float = TIME_LIMIT) -> list[Verdict]:
    """Judge every line of the display maths of a LaTeX file; each must follow from the last.

    A line ``lhs = rhs`` starts a new target; a line ``= rhs`` continues the previous one. The
    verdicts stop at the first line that does not follow."""
    try:
        lines = math_lines(text)
    except ParseError as err:
        return [invalid(f"cannot read the document: {err}")]
    verdicts: list[Verdict] = []
    previous_lhs = None
    for number, line in lines:
        body = line.replace("&", " ").strip()
        if body.startswith("="):
            if previous_lhs is None:
                verdicts.append(replace(invalid("a line starts with '=' but no equation comes before it"), line=number))
                break
            body = previous_lhs + " " + body
        else:
            previous_lhs = body.split("=")[0].split("\\leftarrow")[0].strip() or None
        verdict = verify_answer(spec, body, notation=notation, seconds=seconds)
        verdict.line = number
        if verdict.verdict != CORRECT:
            verdict.message += f" In: {short(line, 120)}"
        verdicts.append(verdict)
        if verdict.verdict != CORRECT:
            break
    return verdicts
