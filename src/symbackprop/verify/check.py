"""Is a student's equation right? Decide, and say what is wrong when it is not.

1. **Target.** The left-hand side names what is derived (\\delta_6, dE/dw_64, w_64 <- ...), or
   ``target=`` does (context.py). The reference is the engine's equation for it, in the stored
   form a student writes.
2. **Decision.** judge.py proves the answer equal to the reference, or refutes it with a
   counterexample confirmed at 30 digits, or says it cannot decide; it never guesses.
3. **Diagnosis.** diagnose.py names the typical mistake a refuted answer matches.
4. **General equations.** Free indices (j in \\delta_j = \\sum_k \\delta_k w_{kj} f'(net_j), the
   layer l in UFLDL's \\delta^{(l)}) range over the values for which every quantity of the
   equation exists and every sum has a term; the equation is right when every instance is, and
   the verdict names the first instance that is not.
5. **Several lines.** A derivation is judged line by line; a line that follows from a wrong
   line is marked as carried forward, as a marker would.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field, replace

import sympy

from symbackprop.core.limits import time_limit
from symbackprop.core.network import NetworkError
from symbackprop.core.spec import SpecError
from symbackprop.verify.context import (
    Context,
    Target,
    _pairs,
    _scalar,
    context,
    in_leaves,
    target_from_tree,
    target_of,
    target_tree,
    undefined_at,
)
from symbackprop.verify.diagnose import _counterexample, _diagnose, _shape_mismatch
from symbackprop.verify.judge import (
    Decision,
    Problem,
    Sampler,
    decide,
    exact_value,
    probe_points,
    tie_points,
)
from symbackprop.verify.latex import MathLine, Node, ParseError, math_blocks, parse_line, short
from symbackprop.verify.lemma import LemmaBlock, judge_lemma_line
from symbackprop.verify.resolve import (
    MAX_BINDINGS,
    Evaluator,
    ExampleError,
    FrozenError,
    ResolveError,
    Transposed,
    binding_candidates,
    example_scope,
    fold_labels,
    free_indices,
    walk,
)
from symbackprop.verify.sequence import SEQUENCE_TENSORS, joined_subscripts
from symbackprop.verify.tensor_form import entrywise
from symbackprop.verify.verdict import CORRECT, INCORRECT, INVALID, UNDECIDED, Verdict, invalid

TIME_LIMIT = 5.0
MAX_INSTANCES = 64  # instances of a general equation judged one by one


@dataclass
class Reading:
    """One right-hand side as read, with what reading it noticed."""

    expr: sympy.Expr
    transposed: list[str] = field(default_factory=list)
    denominators: list[sympy.Expr] = field(default_factory=list)


@dataclass
class Equation:
    """An answer's trees: what it derives and the sides that should equal it."""

    lhs: Node | None
    relation: str
    rhs: list[Node]
    target: tuple[Node, str] | None = None  # from --target or a question's target
    target_text: str | None = None
    ranges: dict[str, str] = field(default_factory=dict)  # "for j in hidden": index -> set of units


class TargetError(ParseError):
    """The target given with the answer (--target, a question's target) cannot be read."""


def decide_answer(ctx: Context, target: Target, answer: sympy.Expr) -> Decision:
    """The judge's decision over every component: the first refuted one decides, then any one
    left undecided, else the answer is correct."""
    decisions = []
    undefined = tuple(in_leaves(ctx, u) for u in undefined_at(ctx, target))
    for a, r in _pairs(ctx, target, answer):
        decision = decide(Problem(in_leaves(ctx, a), in_leaves(ctx, r), ctx.sampler, ctx.table.layers, undefined))
        if decision.verdict == "incorrect":
            return decision
        decisions.append(decision)
    undecided = [d for d in decisions if d.verdict == "undecided"]
    if undecided:
        return undecided[0]
    worst = [d for d in decisions if "numeric" in d.decided_by]
    return worst[0] if worst else decisions[0]


def judge(
    ctx: Context, target: Target, answer: sympy.Expr, reading: Reading | None = None, diagnose: bool = True
) -> Verdict:
    """Decide one expression against the target's reference (see judge.py); diagnose a wrong one.
    ``reading`` says what reading the answer noticed (indices the wrong way round, divisions
    that SymPy cancelled): it counts too."""
    transposed = list(reading.transposed) if reading else []
    try:
        decision = decide_answer(ctx, target, answer)
    except (KeyError, IndexError):  # a component that does not exist: the shapes do not fit
        codes, words = _shape_mismatch(ctx, target, answer)
        return Verdict(INCORRECT, target.name, codes, f"{words[0].upper()}{words[1:]}.", None, "shapes")
    if decision.verdict == "correct" and reading is not None:
        decision = _divides_by_zero(ctx, target, reading.denominators) or decision
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
    codes, words = _diagnose(ctx, target, answer) if diagnose else ([], "the answer differs from the correct value")
    example = _counterexample(ctx, answer, target, decision) if diagnose else None  # the first wrong one's only
    return Verdict(INCORRECT, target.name, codes, f"{words[0].upper()}{words[1:]}.", example, decision.decided_by)


def _divides_by_zero(ctx: Context, target: Target, denominators: list[sympy.Expr]) -> Decision | None:
    """x/x is not 1 where x = 0: an answer that divides by something that vanishes where the
    reference is defined is not the reference there. Not for a network of layers, whose
    expressions are walked, not solved (judge.Problem)."""
    if ctx.table.layers:
        return None
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
    if any(isinstance(e, sympy.MatrixBase) or e.has(sympy.zoo, sympy.nan) for e in exprs):
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


# --- one equation -----------------------------------------------------------------------------


def _equation(answer: str, target_text: str | None) -> Equation:
    chain = parse_line(answer)
    sides, relations = chain.parts
    ranges = chain.extra.get("ranges", {})
    target = None
    if target_text:
        try:
            target = target_tree(target_text)
        except ParseError as err:
            raise TargetError(f"cannot read the target '{short(target_text)}': {err}") from None
    if len(sides) >= 2 and sides[0] is not None:
        return Equation(sides[0], relations[0], list(sides[1:]), target, target_text, ranges)
    if target is None:
        raise ParseError("the answer has no left-hand side; give one (\\delta_6 = ...) or a target")
    return Equation(None, "=", [s for s in sides if s is not None], target, target_text, ranges)


def _labelled(ctx: Context, eq: Equation) -> Equation:
    """A sequence model's labelled names read as one name each (W_{hh,k,j}: W_hh's entry k, j;
    see verify/sequence.py), before the equation's free indices are counted."""
    target = (fold_labels(ctx.table, eq.target[0]), eq.target[1]) if eq.target else None
    rhs = [fold_labels(ctx.table, side) for side in eq.rhs]
    return replace(eq, lhs=fold_labels(ctx.table, eq.lhs), rhs=rhs, target=target)


def _read(ctx: Context, eq: Equation, env: dict, exact: bool) -> tuple[Target, Target | None, list[Reading]]:
    """Resolve an equation at one binding of its free indices: (target asked for, target the
    left-hand side names, the right-hand sides)."""
    evaluator = Evaluator(ctx.table)
    evaluator.exact = exact
    evaluator.examples, evaluator.batch_equation = example_scope(
        eq.lhs, eq.rhs, eq.target[0] if eq.target else None, ctx.table.batch > 1
    )
    asked = None
    if eq.target is not None:
        try:
            asked = target_from_tree(ctx, *eq.target, evaluator, env)
        except ParseError as err:
            if env:
                raise
            raise TargetError(f"cannot read the target '{short(eq.target_text)}': {err}") from None
    written = target_of(ctx, eq.lhs, eq.relation, evaluator, env) if eq.lhs is not None else None
    readings = []
    for side in eq.rhs:
        evaluator.transposed.clear()  # what the target's name or an earlier step noticed does not count
        evaluator.denominators.clear()
        expr = batch_average(ctx.table, evaluator, asked or written, evaluator.evaluate(side, env))
        if isinstance(expr, sympy.Basic) and expr.has(Transposed):
            raise ResolveError("a transpose stands outside a product; it belongs in W^T \\delta or \\delta a^T")
        readings.append(Reading(expr, list(evaluator.transposed), list(evaluator.denominators)))
    return asked or written, written, readings


def batch_average(table, evaluator: Evaluator, target: Target | None, expr):
    """A parameter's gradient or update written for one example (the documents' entry-by-entry
    lines: "the batch averages them"), where the checker's examples differ: its mean over them."""
    if table.batch == 1 or target is None or target.kind not in ("gradient", "update"):
        return expr
    if target.symbol in table.per_example:  # an input's: one example's own
        return expr
    if evaluator.batch_equation or evaluator.examples or not isinstance(expr, sympy.Basic):
        return expr
    if not expr.free_symbols & table.per_example:
        return expr
    return sympy.Add(*(expr.xreplace(m) for m in table.example_maps)) / table.batch


def _same_target(a: Target, b: Target) -> bool:
    return (a.name, a.kind, a.update) == (b.name, b.kind, b.update)


def _judge_read(
    ctx: Context, asked: Target, written: Target | None, readings: list[Reading], diagnose: bool = True
) -> Verdict:
    """Judge the right-hand sides in turn against the target; a left-hand side that names
    another quantity than the one asked for is the wrong target, right or not."""
    if written is not None and not _same_target(asked, written):
        own = _judge_steps(ctx, written, readings, diagnose)
        right = "it is right for that quantity" if own.verdict == CORRECT else "it is not right for that either"
        message = f"This is an equation for {written.name}, but the question asks for {asked.name}; {right}."
        return Verdict(INCORRECT, asked.name, ["wrong_target"], message, own.counterexample, own.decided_by)
    return _judge_steps(ctx, asked, readings, diagnose)


def _judge_steps(ctx: Context, target: Target, readings: list[Reading], diagnose: bool = True) -> Verdict:
    verdict = None
    for step, reading in enumerate(readings, start=1):
        verdict = judge(ctx, target, reading.expr, reading, diagnose)
        if verdict.verdict != CORRECT:
            if len(readings) > 1:
                verdict.message += f" (step {step} of the chain)"
            return verdict
    return verdict


# --- general equations ---------------------------------------------------------------------------


def _written_order(trees) -> list[str]:
    """Index letters in the order they are first written: k, j in w_{kj}; l, i in \\delta^{(l)}_i."""
    order: list[str] = []
    for node, _ in walk(trees):
        if node.kind == "name":
            _, sub, layer, _ = node.parts
            letters = (["l"] if isinstance(layer, str) and layer[0] == "l" else []) + re.findall(r"[A-Za-z]", sub or "")
            order.extend(v for v in letters if v not in order)
    return order


def _bindings_text(env: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in env.items())


def _general(ctx: Context, eq: Equation, free: set[str]) -> Verdict:
    """Judge every instance of an equation with free indices; see the module's docstring."""
    named = free_indices((eq.lhs, eq.target[0] if eq.target else None))
    loose = sorted(free - named)
    if loose:
        side = "the left" if eq.lhs is not None else "the target"
        return invalid(
            f"the index {', '.join(loose)} is free on the right-hand side but not on {side}: "
            "sum over it, or name it on the left"
        )
    trees = (eq.lhs, *eq.rhs, eq.target[0] if eq.target else None)
    candidates = binding_candidates(ctx.table, trees, free)
    for var, units in eq.ranges.items():  # "for j in hidden" keeps the hidden units
        if var in candidates:
            candidates[var] = [v for v in candidates[var] if v in ctx.table.sets.get(units, [])]
    order = _written_order((eq.lhs, eq.target[0] if eq.target else None, *eq.rhs))
    names = sorted(candidates, key=lambda v: order.index(v) if v in order else len(order))
    if math.prod(len(candidates[v]) for v in names) > MAX_BINDINGS:
        return invalid(f"too many combinations of the free indices {', '.join(names)}")
    instances, first_error = [], None
    for exact in (True, False):  # names as written; failing that, weights written the wrong way round
        for values in itertools.product(*(candidates[v] for v in names)):
            env = dict(zip(names, values))
            try:
                instances.append((env, _read(ctx, eq, env, exact)))
            except (TargetError, ExampleError):  # an example index is wrong whatever the binding
                raise
            except ResolveError as err:
                first_error = first_error or err
        if instances:
            break
    if not instances:
        why = f" ({first_error})" if first_error else ""
        return invalid(f"no value of {', '.join(names)} makes every quantity of the equation exist{why}")
    if len(instances) > MAX_INSTANCES:
        return Verdict(
            UNDECIDED,
            None,
            [],
            f"Cannot decide: the equation has {len(instances)} instances, and at most {MAX_INSTANCES} are checked.",
        )
    judged, wrong = [], False
    for env, read in instances:  # each instance decided; only the first wrong one diagnosed
        verdict = _judge_read(ctx, *read, diagnose=not wrong)
        wrong |= verdict.verdict == INCORRECT
        judged.append((env, verdict))
    records = [
        {
            "bindings": env,
            "target": v.target,
            "verdict": v.verdict,
            "diagnosis": v.diagnosis,
            **({} if v.verdict == CORRECT else {"message": v.message}),
        }
        for env, v in judged
    ]
    targets = list(dict.fromkeys(str(v.target) for _, v in judged))
    targets = ", ".join(targets) if len(targets) <= 4 else ", ".join(targets[:3]) + ", ..."
    for kind, words in ((INCORRECT, "wrong for"), (INVALID, "cannot judge for"), (UNDECIDED, "cannot decide for")):
        for env, v in judged:
            if v.verdict == kind:
                message = f"{words} {_bindings_text(env)}: {v.message}"
                return Verdict(kind, targets, v.diagnosis, message, v.counterexample, v.decided_by, instances=records)
    if len(judged) <= 4:
        every = f"every instance ({'; '.join(_bindings_text(env) for env, _ in judged)})"
    else:
        every = f"all {len(judged)} instances of {', '.join(names)}"
    how = next((v.decided_by for _, v in judged if "numeric" in v.decided_by), judged[0][1].decided_by)
    message = f"right for {every}: {targets}, as the network defines them"
    return Verdict(CORRECT, targets, [], message, None, how, instances=records)


# --- entry points ----------------------------------------------------------------------------------


def verify_answer(
    spec: str, answer: str, target: str | None = None, notation: str | None = None, seconds: float = TIME_LIMIT
) -> Verdict:
    """Judge one equation (or one right-hand side with ``target``) against a built-in or spec file.

    An answer of several lines (\\\\ or an aligned environment) is judged line by line; the
    verdict is that of its first line that is not right."""
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


_SEVERAL_LINES = re.compile(r"\\\\|\\begin\{(align|aligned|gather|equation|split)")


def _verify(spec: str, answer: str, target_text: str | None, notation: str | None) -> Verdict:
    ctx = context(spec, notation)
    verdict = _verify_in(ctx, spec, answer, target_text, notation)
    if ctx.table.layers and isinstance(verdict, Verdict):  # entries as a student writes them: W1[0,0,1,2]
        verdict = replace(verdict, target=entry_names(verdict.target), message=entry_names(verdict.message))
    return verdict


DATA_TENSORS = ("x", "t", "z", "a", "xhat", "mask", *SEQUENCE_TENSORS)  # one example's: its index left out
_ENTRY = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*?)__(\d+(?:_\d+)*)\b")


def entry_names(text: str | None) -> str | None:
    """z1__0_1_2_3 (example 0's z^(1) at (1, 2, 3)) as z1[1,2,3]; W1__0_0_1_2 as W1[0,0,1,2]. The
    checker's instance is one example, whose index 0 data symbols carry first."""
    if not text:
        return text

    def one(m: re.Match) -> str:
        name, digits = m.group(1), m.group(2).split("_")
        data = re.sub(r"^(delta_|d)(?=[a-z])", "", name).rstrip("0123456789_") in DATA_TENSORS
        if data and len(digits) > 1:
            digits = digits[1:]
        return f"{name}[{','.join(digits)}]"

    return _ENTRY.sub(one, text)


def _verify_in(ctx, spec: str, answer: str, target_text: str | None, notation: str | None) -> Verdict:
    if isinstance(answer, str) and _SEVERAL_LINES.search(_without_matrices(answer)) and not target_text:
        return _several_lines(spec, answer, notation)
    try:
        eq = _labelled(ctx, _equation(joined_subscripts(answer), target_text and joined_subscripts(target_text)))
        eq = entrywise(ctx.table, eq)  # a network of layers' tensor-form equation, one entry at a time
        example_scope(
            eq.lhs, eq.rhs, eq.target[0] if eq.target else None, ctx.table.batch > 1
        )  # refuses what it cannot judge
        free = free_indices((eq.lhs, *eq.rhs, eq.target[0] if eq.target else None))
        if free:
            return _general(ctx, eq, free)
        try:
            read = _read(ctx, eq, {}, exact=False)
        except (TargetError, FrozenError):
            raise
        except ResolveError as err:
            identity = _identity(ctx, [eq.lhs, *eq.rhs]) if eq.lhs is not None and eq.target is None else None
            if identity is None:
                raise err
            return identity
        return _judge_read(ctx, *read)
    except TargetError as err:
        return invalid(str(err), target_text)
    except ParseError as err:
        return invalid(f"cannot read the answer: {err}", target_text)


def _without_matrices(text: str) -> str:
    return re.sub(r"\\begin\{([bpv]?matrix)\}.*?\\end\{\1\}", " ", text, flags=re.S)


def _several_lines(spec: str, answer: str, notation: str | None) -> Verdict:
    overall, _ = summarize(_judge_lines(spec, math_blocks(answer), notation, TIME_LIMIT))
    return overall


def verify_document(spec: str, text: str, notation: str | None = None, seconds: float = TIME_LIMIT) -> list[Verdict]:
    """Judge every line of the display maths of a LaTeX file (or every line of a plain file).

    A line ``lhs = rhs`` starts a new target; a line ``= rhs`` continues the one before. Every
    line is judged, not only up to the first wrong one: a line that is wrong only because it
    follows from a wrong line before it is marked so (``follows_from``), as a marker carries an
    error forward. Lines of a lemma block (after ``% verify: lemma``) are identities about
    generic quantities (lemma.py)."""
    try:
        lines = math_blocks(text)
    except ParseError as err:
        return [invalid(f"cannot read the document: {err}")]
    return _judge_lines(spec, lines, notation, seconds)


def _judge_lines(spec: str, lines: list[MathLine], notation: str | None, seconds: float) -> list[Verdict]:
    verdicts: list[Verdict] = []
    previous_lhs = None  # the left-hand side a continuation line "= rhs" refers to
    previous: tuple[int, str] | None = None  # the line before in the same chain: (number, its right-hand side)
    lemmas, block = LemmaBlock(), None
    for line in lines:
        number = line.number
        body = line.text.replace("&", " ").strip()
        if body.startswith("=") and previous_lhs is None:
            verdicts.append(replace(invalid("a line starts with '=' but no equation comes before it"), line=number))
            continue
        continued = body.startswith("=")
        if continued:
            body = previous_lhs + " " + body
        else:
            previous_lhs = _lhs_text(body)
            previous = None
        if line.lemma is not None:
            if line.block != block:
                lemmas.enter(line.lemma)
                block = line.block
            verdict = _lemma_line(spec, notation, body, lemmas, seconds)
        else:
            verdict = verify_answer(spec, body, notation=notation, seconds=seconds)
        verdict.line = number
        if verdict.verdict == INCORRECT and previous is not None and verdicts and verdicts[-1].verdict == INCORRECT:
            if line.lemma is None and _follows(spec, previous[1], body, notation, seconds):
                verdict.follows_from = previous[0]
                verdict.message = f"Follows from line {previous[0]}, which is wrong. " + verdict.message
        if verdict.verdict != CORRECT:
            verdict.message += f" In: {short(line.text, 120)}"
        verdicts.append(verdict)
        previous = (number, body.split("=", 1)[1] if "=" in body else body) if previous_lhs else None
    return verdicts


def _lemma_line(spec: str, notation: str | None, body: str, lemmas: LemmaBlock, seconds: float) -> Verdict:
    try:
        with time_limit(seconds):
            return judge_lemma_line(context(spec, notation).table, body, lemmas)
    except TimeoutError:
        return invalid(f"cannot judge: the check took longer than {seconds:g} s")
    except (RecursionError, MemoryError, OverflowError):
        return invalid("the line is too large or too deeply nested to check")
    except Exception as err:  # noqa: BLE001 - a line gets a verdict, never a traceback
        return invalid(f"cannot judge: internal error {type(err).__name__}: {short(err, 120)}")


def _lhs_text(body: str) -> str | None:
    for relation in ("\\leftarrow", "\\gets", ":=", "="):
        if relation in body:
            return body.split(relation)[0].strip() or None
    return None


def _follows(spec: str, before: str, line: str, notation: str | None, seconds: float) -> bool:
    """Does this line's right-hand side equal the line before's, whatever the truth?"""
    rhs = line.split("=", 1)[1] if "=" in line else line
    ctx = context(spec, notation)
    try:
        with time_limit(seconds):
            left = Evaluator(ctx.table).evaluate(parse_line(before).parts[0][-1])
            right = Evaluator(ctx.table).evaluate(parse_line(rhs).parts[0][-1])
            a, b = in_leaves(ctx, _scalar(ctx, right)), in_leaves(ctx, _scalar(ctx, left))
            return decide(Problem(a, b, ctx.sampler)).verdict == CORRECT
    except (ParseError, TimeoutError, ValueError, TypeError, KeyError):
        return False


def summarize(verdicts: list[Verdict]) -> tuple[Verdict, dict]:
    """The verdict of a whole derivation, that of its first line that is not right, and the
    counts a summary names: {"lines", "right", "first_wrong_line"}."""
    if not verdicts:
        return invalid("no equations found"), {"lines": 0, "right": 0, "first_wrong_line": None}
    right = sum(v.verdict == CORRECT for v in verdicts)
    first = next((v for v in verdicts if v.verdict != CORRECT), None)
    counts = {"lines": len(verdicts), "right": right, "first_wrong_line": first.line if first else None}
    if first is None:
        return replace(verdicts[-1], message=f"all {len(verdicts)} lines are right", line=None), counts
    where = f"line {first.line}" if first.line is not None else "a line"
    message = f"{right} of {len(verdicts)} lines right; the first that is not is {where}: {first.message}"
    return replace(first, message=message), counts


def document_json(verdicts: list[Verdict]) -> dict:
    """The JSON of ``verify --file --json``: the verdict of the whole derivation (that of its
    first line that is not right), every line's own verdict under "lines", and the counts."""
    overall, counts = summarize(verdicts)
    data = {**overall.to_json(), "lines": [v.to_json() for v in verdicts], "lines_judged": counts["lines"]}
    data["right"], data["first_wrong_line"] = counts["right"], counts["first_wrong_line"]
    return data
