"""Textbook simplification as named rewrite rules, applied in order.

Each rule is a small object with a name and a function ``expr -> expr`` that returns an
equivalent expression (the tests check equivalence numerically for every rule). Rules only
fire where they make an expression shorter, so a factored delta such as
``(y_6 - t_6) y_6 (1 - y_6)`` is never expanded.

* ``stored_values`` — replace a forward sub-expression by the node that stores it
  (sigma(net_4) -> y_4), which is what turns sigma' into y (1 - y).
* ``targets_sum_to_one`` — with softmax + cross-entropy the targets are one-hot (or a
  probability vector); collecting the outputs and replacing sum_k t_k by 1 gives y - t.
* ``unit_sums_of_targets`` — the tensor form of the same: in 1^T(h), a target vector whose units
  sum to one contributes its coefficient (1^T(-t) = -1), which gives a - t.
* ``cancel_quotients`` — a delta with a quotient (binary cross-entropy: -t/y + (1-t)/(1-y)
  times y (1 - y)) is cancelled and factored: y - t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import sympy
from sympy import Add, Symbol

from symbackprop.registry import UnitSum


@dataclass(frozen=True)
class Rule:
    name: str
    apply: Callable[[sympy.Expr], sympy.Expr]


def stored_values(stored: Mapping[sympy.Expr, Symbol]) -> Rule:
    """Rewrite sub-expressions the forward pass already computed into their node symbols."""
    return Rule("stored_values", lambda e: e.xreplace(stored))


def targets_sum_to_one(groups: Iterable[tuple[Symbol, ...]]) -> Rule:
    """For each group of targets known to sum to one, replace their sum by 1."""
    groups = [g for g in groups if len(g) > 1]

    def apply(e: sympy.Expr) -> sympy.Expr:
        for group in groups:
            present = e.free_symbols & set(group)
            if not present:
                continue
            others = sorted(e.free_symbols - set(group), key=str)
            collected = sympy.collect(sympy.expand(e), others)
            e = collected.xreplace({Add(*group): sympy.S.One})
            e = e.xreplace({-Add(*group): -sympy.S.One})
        return e

    return Rule("targets_sum_to_one", apply)


def unit_sums_of_targets(groups: Iterable[tuple[Symbol, ...]]) -> Rule:
    """1^T(c t + h) = c + 1^T(h) for a target vector t whose units sum to one (tensor graphs)."""
    vectors = {g[0] for g in groups if len(g) == 1}

    def split(u: UnitSum) -> sympy.Expr:
        kept, total = [], sympy.S.Zero
        for term in Add.make_args(sympy.expand(u.args[0])):
            coeff, rest = term.as_independent(*vectors, as_Add=False)
            if rest in vectors and coeff.is_Number:
                total += coeff
            else:
                kept.append(term)
        if total == 0:
            return u
        return total + (UnitSum(Add(*kept)) if kept else sympy.S.Zero)

    def apply(e: sympy.Expr) -> sympy.Expr:
        if not vectors:
            return e
        return e.replace(lambda x: isinstance(x, UnitSum), split)

    return Rule("unit_sums_of_targets", apply)


def _cancel_quotients(e: sympy.Expr) -> sympy.Expr:
    if all(not (p.is_Pow and p.exp.is_negative) for p in sympy.preorder_traversal(e)):
        return e
    return sympy.factor(sympy.cancel(sympy.together(e)))


CANCEL_QUOTIENTS = Rule("cancel_quotients", _cancel_quotients)


def apply_rules(expr: sympy.Expr, rules: Iterable[Rule]) -> sympy.Expr:
    """Apply rules in order, keeping a rewrite only when it does not lengthen the expression."""
    for rule in rules:
        candidate = rule.apply(expr)
        if candidate != expr and sympy.count_ops(candidate) <= sympy.count_ops(expr):
            expr = candidate
    return expr
