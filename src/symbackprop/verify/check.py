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
from symbackprop.registry import BatchOuter, MatTVec, MatVec, activation, coupled_classes, real
from symbackprop.verify.latex import Node, ParseError, math_lines, parse_line, short
from symbackprop.verify.resolve import Evaluator, ResolveError, Table, build_table
from symbackprop.verify.verdict import CORRECT, INCORRECT, Verdict, invalid

POINTS = 16
RTOL = 1e-8
TIME_LIMIT = 5.0
PROOF_SECONDS = 2.0


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
    points: dict  # symbol name -> array of POINTS values
    stored: dict  # forward sub-expressions -> node symbols


@lru_cache(maxsize=16)
def context(spec: str, notation: str | None = None) -> Context:
    network = load_spec(spec)
    if notation and isinstance(network, LayeredNetwork):
        network = replace(network, notation=notation)
    derivation = LayeredDerivation(network) if isinstance(network, LayeredNetwork) else derive_graph(network)
    table = build_table(derivation)
    unit = table.unit
    stored = {e: n for n, e in reversed(unit.network.nodes.items()) if not (e.is_Symbol or e.is_Number)}
    return Context(table, _random_points(table), stored)


def _random_points(table: Table) -> dict:
    """Values of every symbol at POINTS random points (leaves drawn, the rest computed)."""
    unit = table.unit
    net = unit.network
    rng = np.random.default_rng(12345)
    env = {}
    for s in net.leaves:
        env[s.name] = (
            rng.uniform(0.2, 0.9, POINTS) * rng.choice([-1, 1], POINTS)
            if s not in net.targets
            else rng.uniform(0.1, 0.9, POINTS)
        )
    for group in net.target_groups:  # one-hot or probability targets
        raw = rng.uniform(0.1, 1.0, (len(group), POINTS))
        for s, row in zip(group, raw / raw.sum(axis=0)):
            env[s.name] = row
    values, deltas, _ = evaluate_graph(unit, env)
    points = {**values, **deltas}
    for s in (net.learning_rate_symbol, *table.symbols.values()):
        if isinstance(s, Symbol) and s.name not in points and s.name in ("eta", "alpha", "lambda"):
            points[s.name] = rng.uniform(0.1, 0.9, POINTS)
    points["m"] = np.ones(POINTS)
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
    args = sorted(expr.free_symbols, key=lambda s: s.name)
    with np.errstate(all="ignore"):
        value = lambdify_numpy(args, expr)(*(ctx.points[a.name] for a in args))
    return np.broadcast_to(np.asarray(value, dtype=float), (POINTS,))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < POINTS // 2:
        raise ResolveError("the answer cannot be evaluated at enough points (outside its domain?)")
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return bool(np.all(np.abs(a - b)[ok] <= RTOL * scale[ok]))


def _components(ctx: Context, target: Target, expr: sympy.Expr) -> list[sympy.Expr]:
    """A matrix-form expression as the list of its per-unit components."""
    units = Units(ctx.table.derivation.names)
    rows, cols = target.layer_shape
    if cols is None:
        return [units.component(expr, k) for k in range(rows)]
    return [units.component(expr, k, j) for k in range(rows) for j in range(cols)]


def _evaluate(ctx: Context, target: Target, expr: sympy.Expr) -> np.ndarray:
    if target.kind == "layer":
        return np.concatenate([_values(ctx, c) for c in _components(ctx, target, expr)])
    if ctx.table.roles and expr.free_symbols & ctx.table.roles.keys():  # a scalar in matrix notation
        expr = Units(ctx.table.derivation.names).component(expr, 0)
    return _values(ctx, expr)


def _equal(ctx: Context, target: Target, answer: sympy.Expr, reference: sympy.Expr) -> bool:
    try:
        return _same(_evaluate(ctx, target, answer), _evaluate(ctx, target, reference))
    except (ResolveError, KeyError, TypeError, ValueError):
        return False


def _exactly_equal(ctx: Context, target: Target, answer: sympy.Expr) -> bool:
    """A proof: with error terms unfolded into stored values, the difference expands to zero."""
    pairs = (
        zip(_components(ctx, target, answer), _components(ctx, target, target.reference))
        if target.kind == "layer"
        else [(answer, target.reference)]
    )
    forward = ctx.table.unit.forward_expanded
    for a, b in pairs:
        difference = sympy.expand(_unfold(ctx, a - b).xreplace(ctx.stored))
        if difference != 0 and sympy.expand(difference.xreplace(forward)) != 0:
            return False
    return True


def _unfold(ctx: Context, expr: sympy.Expr) -> sympy.Expr:
    """Replace delta symbols by their equations until only stored forward values remain."""
    unit = ctx.table.unit
    by_symbol = {d: unit.deltas[n.name] for n, d in unit.delta_symbols.items()}
    for _ in range(len(by_symbol) + 1):
        if not (expr.free_symbols & by_symbol.keys()):
            break
        expr = expr.xreplace(by_symbol)
    return expr


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


def _counterexample(ctx: Context, target: Target, answer: sympy.Expr) -> dict:
    a, r = _evaluate(ctx, target, answer), _evaluate(ctx, target, target.reference)
    bad = np.flatnonzero(~np.isclose(a, r, rtol=RTOL, atol=1e-12))
    i = int(bad[0]) if bad.size else 0
    point = i % POINTS
    shown = [s.name for s in ctx.table.unit.network.leaves]
    shown += sorted({s.name for s in (answer.free_symbols | target.reference.free_symbols)} - set(shown))
    values = {name: round(float(ctx.points[name][point]), 6) for name in shown if name in ctx.points}
    return {"values": values, "answer": float(a[i]), "correct": float(r[i])}


# --- entry points -----------------------------------------------------------------------------


def judge(ctx: Context, target: Target, answer: sympy.Expr) -> Verdict:
    """Compare one expression with the target's reference."""
    transposed = list(ctx.table.transposed)
    numeric = _equal(ctx, target, answer, target.reference)
    exact = False
    if numeric:
        try:
            with time_limit(PROOF_SECONDS):  # a slow proof must not cost the verdict
                exact = _exactly_equal(ctx, target, answer)
        except TimeoutError:
            exact = False
    if numeric:
        if transposed:
            return Verdict(
                INCORRECT,
                target.name,
                ["transposed_index"],
                f"indices written the wrong way round: {', '.join(transposed)} (the later node's index comes first)",
                None,
                "numeric",
            )
        decided = "symbolic and numeric" if exact else "numeric (no exact proof within the time limit)"
        return Verdict(CORRECT, target.name, [], f"this is {target.name}, as the network defines it", None, decided)
    codes, words = _diagnose(ctx, target, answer)
    try:
        example = _counterexample(ctx, target, answer)
    except (ResolveError, KeyError, TypeError, ValueError):
        example = None
    return Verdict(INCORRECT, target.name, codes, f"{words[0].upper()}{words[1:]}.", example, "numeric counterexample")


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
    rng = np.random.default_rng(7)
    points = [rng.uniform(-2.0, 2.0, POINTS) for _ in free]
    values = []
    for expr in exprs:
        with np.errstate(all="ignore"):
            values.append(np.broadcast_to(np.asarray(lambdify_numpy(free, expr)(*points), dtype=float), (POINTS,)))
    for step in range(1, len(exprs)):
        if not _same(values[step - 1], values[step]):
            shown = {s.name[5:]: round(float(p[0]), 6) for s, p in zip(free, points)}
            return Verdict(
                INCORRECT,
                None,
                ["other"],
                f"step {step} of this identity does not follow from the one before",
                {"values": shown},
                "numeric counterexample",
            )
    proven = all(sympy.simplify((exprs[i] - exprs[i - 1]).rewrite(sympy.exp)) == 0 for i in range(1, len(exprs)))
    decided = "symbolic and numeric" if proven else "numeric (no exact proof within the time limit)"
    return Verdict(CORRECT, None, [], "an identity that holds for every value of its variables", None, decided)


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
    ctx.table.transposed.clear()
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
            ctx.table.transposed.clear()
            rhs = list(sides[1:])
        verdict = None
        for step, side in enumerate(rhs, start=1):
            expr = evaluator.evaluate(side)
            verdict = judge(ctx, target, expr)
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
