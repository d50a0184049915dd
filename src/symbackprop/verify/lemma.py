"""Lemmas: identities about generic quantities, as a derivation's appendix states them.

A lemma block (the display after a ``% verify: lemma`` comment, as the generated documents
write it) is not about the network: every name in it is a variable (``y_i``, ``z_j``, ``E``),
``\\delta_{ij}`` is the Kronecker delta, and a sum may run to a symbolic size ``n``. A line
``y_i = \\frac{e^{z_i}}{\\sum_{k=1}^{n} e^{z_k}}`` whose left-hand side is a name not used on its
right defines that name for the lines that follow (its verdict says so: a definition is
accepted, not checked). Every other line is an identity: each side must equal the one before
for every value of its variables, for n = 2, 3, 4 and every value of its free indices, under
the block's assumption (``% verify: lemma where \\sum_i t_i = 1``: the t_i sum to one).
Derivatives are taken with the definitions written out, except of the variable differentiated
by: d/dy_i of E = -sum_i t_i log y_i keeps y_i a variable, then substitutes its definition.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import sympy
from sympy import Symbol

from symbackprop.registry import real
from symbackprop.verify.judge import Problem, Sampler, decide
from symbackprop.verify.latex import Node, ParseError, parse_line
from symbackprop.verify.resolve import Evaluator, ResolveError, Table, _bound, free_indices, index_elements, walk
from symbackprop.verify.verdict import CORRECT, INCORRECT, UNDECIDED, Verdict, invalid

SIZES = (2, 3, 4)  # values of a symbolic size n
INDEX_RANGE = 3  # an index with no size to run to takes 1, 2, 3
MAX_DEFINITION_DEPTH = 20
_ASSUMPTION = re.compile(r"\\sum_\{?([a-z])\}?\s*\{?([A-Za-z]+)\}?_\{?\1\}?\s*=\s*1")


@dataclass
class LemmaBlock:
    """What the lines of one lemma block share: the names defined so far and the families of
    variables assumed to sum to one."""

    definitions: dict[str, tuple[tuple[str, ...], Node]] = field(default_factory=dict)
    sums_to_one: set[str] = field(default_factory=set)
    defined_here: set[str] = field(default_factory=set)  # defined in the current block

    def enter(self, assumption: str) -> None:
        """A new lemma block: its own assumption; definitions of earlier blocks still hold, and
        may be given anew."""
        self.sums_to_one = {m.group(2) for m in _ASSUMPTION.finditer(assumption or "")}
        self.defined_here = set()


class Generic(Evaluator):
    """Every name is a variable (g_y_2 for y_2); defined names stand for their definitions,
    except those in ``keep`` (the variable a derivative is taken by)."""

    def __init__(self, table: Table, block: LemmaBlock, sizes: dict[str, int], keep: frozenset = frozenset()):
        super().__init__(table, free=True)
        self.block, self.sizes, self.keep = block, sizes, keep
        self.families: dict[Symbol, tuple[str, tuple]] = {}
        self.depth = 0

    def variable(self, base: str, indices: tuple) -> Symbol:
        symbol = real("_".join(["g", base, *map(str, indices)]))
        self.families[symbol] = (base, indices)
        return symbol

    def _indices(self, sub: str | None, env: dict) -> tuple:
        return tuple(_bound(e, env) for e in index_elements(sub)) if sub else ()

    def _name(self, node, env):
        base, sub, layer, primes = node.parts
        if primes:
            raise ResolveError(f"{base}' needs an argument, e.g. {base}'(x)")
        if layer is not None:
            raise ResolveError("a lemma's names have no layer")
        indices = self._indices(sub, env)
        if base == "e" and not indices:
            return sympy.E
        if base == "delta" and len(indices) == 2:
            return sympy.KroneckerDelta(*indices)
        rule = self.block.definitions.get(base)
        if rule is None or base in self.keep:
            return self.variable(base, indices)
        letters, rhs = rule
        if len(letters) != len(indices):
            raise ResolveError(f"{base} was defined with {len(letters)} indices")
        self.depth += 1
        try:
            if self.depth > MAX_DEFINITION_DEPTH:
                raise ResolveError("definitions refer to each other too deeply")
            return self.evaluate(rhs, {**self.sizes, **dict(zip(letters, indices))})
        finally:
            self.depth -= 1

    def differentiate(self, variable_node: Node, operand_node: Node, env: dict) -> sympy.Expr:
        if variable_node.kind != "name" or variable_node.parts[3]:
            raise ResolveError("differentiate with respect to one variable: \\frac{d}{dx}")
        base, sub = variable_node.parts[:2]
        variable = self.variable(base, self._indices(sub, env))
        inner = Generic(self.table, self.block, self.sizes, self.keep | {base})
        inner.families = self.families
        value = sympy.diff(inner.evaluate(operand_node, env), variable)
        if value.has(sympy.DiracDelta):
            raise ResolveError("the step [x > 0] has no derivative where it jumps")
        return self.written_out(value)

    def written_out(self, expr: sympy.Expr) -> sympy.Expr:
        """Kept variables of defined names replaced by their definitions."""
        mapping = {}
        for s in expr.free_symbols:
            base, indices = self.families.get(s, (None, ()))
            if base in self.block.definitions and base not in self.keep:
                sub = ",".join(map(str, indices)) or None
                mapping[s] = self._name(Node("name", (base, sub, None, 0)), self.sizes)
        return expr.xreplace(mapping) if mapping else expr


def _sizes(sides) -> set[str]:
    """Letters a sum runs to (n in \\sum_{i=1}^{n}) that no sum binds."""
    found = set()
    for node, bound in walk(tuple(sides)):
        if node.kind == "sum" and isinstance(node.parts[2], Node):
            high = node.parts[2]
            if high.kind == "name" and len(high.parts[0]) == 1 and not high.parts[1] and high.parts[0] not in bound:
                found.add(high.parts[0])
    return found


def _definition(sides, block: LemmaBlock) -> tuple[str, tuple[str, ...]] | None:
    """``y_i = ...``: a name (with index letters) not used on the right and not yet defined."""
    if len(sides) != 2 or sides[0] is None or sides[0].kind != "name":
        return None
    base, sub, layer, primes = sides[0].parts
    letters = tuple(index_elements(sub)) if sub else ()
    if primes or layer is not None or base in block.defined_here or not all(re.fullmatch("[a-z]", x) for x in letters):
        return None
    if any(node.kind == "name" and node.parts[0] == base for node, _ in walk(sides[1])):
        return None
    return base, letters


def judge_lemma_line(table: Table, text: str, block: LemmaBlock) -> Verdict:
    """One line of a lemma block: a definition, or an identity (see the module's docstring)."""
    try:
        sides = list(parse_line(text).parts[0])
    except ParseError as err:
        return invalid(f"cannot read the line: {err}")
    if any(s is None for s in sides) or len(sides) < 2:
        return invalid("a lemma's line needs both sides: a = b")
    defined = _definition(sides, block)
    if defined is not None:
        base, letters = defined
        block.definitions[base] = (letters, sides[1])
        block.defined_here.add(base)
        name = f"{base}_{{{''.join(letters)}}}" if letters else base
        return Verdict(CORRECT, None, [], f"defines {name} for the lines that follow", None, "definition")
    sizes = _sizes([*sides, *(rhs for _, rhs in block.definitions.values())])  # n, also inside definitions
    free = sorted(free_indices(tuple(sides)) - sizes)
    how = []
    for n in SIZES if sizes else (None,):
        env_sizes = {s: n for s in sizes}
        top = n if n is not None else INDEX_RANGE
        for values in itertools.product(range(1, top + 1), repeat=len(free)):
            env = {**env_sizes, **dict(zip(free, values))}
            try:
                verdict = _identity_at(table, sides, block, env_sizes, env, top)
            except ParseError as err:
                return invalid(f"cannot read the line: {err}")
            if verdict.verdict != CORRECT:
                where = ", ".join(f"{k} = {v}" for k, v in env.items())
                verdict.message = f"wrong for {where}: {verdict.message}" if where else verdict.message
                return verdict
            how.append(verdict.decided_by)
    decided = next((h for h in how if "numeric" in h), how[0] if how else "symbolic proof")
    scope = f" for n = {', '.join(map(str, SIZES))}" if sizes else ""
    return Verdict(CORRECT, None, [], f"an identity that holds for every value of its variables{scope}", None, decided)


def _identity_at(table: Table, sides, block: LemmaBlock, sizes: dict, env: dict, top: int) -> Verdict:
    evaluator = Generic(table, block, sizes)
    exprs = [evaluator.evaluate(side, env) for side in sides]
    variables = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    if any(s not in evaluator.families for s in variables):
        raise ResolveError("a lemma's line mixes in quantities that are not its variables")
    groups = tuple(
        tuple(evaluator.variable(family, (k,)) for k in range(1, top + 1)) for family in sorted(block.sums_to_one)
    )
    grouped = {s for g in groups for s in g}
    last = {g[-1]: 1 - sympy.Add(*g[:-1]) for g in groups}  # exactly on the simplex, as the network's targets
    exprs = [e.xreplace(last) for e in exprs]
    sampler = Sampler({s: "wide" for s in {*variables, *grouped}}, groups)
    decided = []
    for step in range(1, len(exprs)):
        decision = decide(Problem(exprs[step], exprs[step - 1], sampler))
        if decision.verdict == INCORRECT:
            shown = {k[2:]: round(v, 6) for k, v in (decision.point or {}).items()}
            example = {"values": shown, "answer": decision.answer_value, "correct": decision.correct_value}
            message = f"step {step} of this identity does not follow from the one before"
            return Verdict(INCORRECT, None, ["other"], message, example, decision.decided_by)
        if decision.verdict == UNDECIDED:
            return Verdict(UNDECIDED, None, [], f"Cannot decide step {step} of this identity: {decision.reason}.")
        decided.append(decision.decided_by)
    how = next((d for d in decided if "numeric" in d), decided[0] if decided else "symbolic proof")
    return Verdict(CORRECT, None, [], "", None, how)
