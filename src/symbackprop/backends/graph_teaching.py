"""The teaching sections of a computational-graph document, printed.

What :mod:`symbackprop.analysis.paths` and :mod:`symbackprop.analysis.collapse` computed at the
example, turned into LaTeX strings for the templates: the gate patterns (with this graph's add,
multiply and max gates and what each passes back), the branches where gradients add up (+=),
the collapse of a chain of gates into one activation gate, and the paths and both modes of
automatic differentiation with their pass counts. Nothing is computed here but the printing;
sentences come from the message catalogue. All maths is inline (in sentences and table
cells), so no display needs the verifier's attention.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import sympy
from sympy import Symbol

from symbackprop.analysis import Analysis
from symbackprop.analysis.collapse import Collapse
from symbackprop.analysis.matrix_rule import MatrixRule
from symbackprop.analysis.paths import Path, PathsAndModes

__all__ = ["FACTORS_WRITTEN_OUT", "MODE_COLUMNS", "graph_teaching"]

MODE_COLUMNS = 6  # forward-mode columns (leaves) that fit across the page beside the reverse-mode one
FACTORS_WRITTEN_OUT = 3  # a path of at most this many edges shows its product factor by factor in the sum


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")


class _Printer:
    def __init__(self, p: Callable[[sympy.Expr], str], fmt: Callable[[float], str], msg: SimpleNamespace, out: Symbol):
        self.p, self.fmt, self.msg, self.out = p, fmt, msg, out

    def d(self, top: Symbol, bottom: Symbol) -> str:
        return rf"\frac{{\partial {self.p(top)}}}{{\partial {self.p(bottom)}}}"

    def value(self, v: float) -> str:
        text = self.fmt(v)
        return f"({text})" if text.startswith("-") else text

    def product(self, values) -> str:
        return r" \cdot ".join(self.value(v) for v in values)

    def path(self, path: Path) -> str:
        return r" \to ".join(self.p(s) for s in path.nodes)


def _gates(pr: _Printer, pm: PathsAndModes, nodes) -> dict:
    m = pr.msg
    names = {"add": m.gate_add_name, "mul": m.gate_mul_name, "max": m.gate_max_name}
    rules = [
        (m.gate_add_form, m.gate_add_name, m.gate_add_rule),
        (m.gate_mul_form, m.gate_mul_name, m.gate_mul_rule),
        (m.gate_max_form, m.gate_max_name, m.gate_max_rule),
    ]
    rows = []  # one line per input of each gate, at least two: the gate, then its pattern's name
    for g in pm.gates:
        expr = nodes[g.node]
        formula = r" \cdot ".join(pr.p(a) for a in expr.args) if g.pattern == "mul" else pr.p(expr)
        inputs = [
            (f"${pr.p(s)} = {pr.fmt(value)}$", f"${pr.d(pr.out, s)} \\mathrel{{+}}= {pr.fmt(grad)}$")
            for s, value, grad in g.inputs
        ]
        inputs += [("", "")] * (2 - len(inputs))
        for i, (given, received) in enumerate(inputs):
            gate = f"${pr.p(g.node)} = {formula}$" if i == 0 else (names[g.pattern] if i == 1 else "")
            gradient = f"${pr.d(pr.out, g.node)} = {pr.fmt(g.gradient)}$" if i == 0 else ""
            rows.append((gate, gradient, given, received, i == len(inputs) - 1))
    return {"rules": rules, "rows": rows, "words": m.gates_here_words.format(out=f"${pr.p(pr.out)}$")}


def _branches(pr: _Printer, pm: PathsAndModes, partials) -> list[dict]:
    out = []
    for b in pm.branches:
        terms = [
            (
                f"{pr.d(pr.out, b.variable)} \\mathrel{{+}}= {pr.d(pr.out, c)} \\, {pr.d(c, b.variable)}",
                f"{pr.d(c, b.variable)} = {pr.p(partials[c][b.variable])}",
                f"{pr.value(g)} \\cdot {pr.value(local)} = {pr.fmt(g * local)}",
            )
            for c, g, local in b.parts
        ]
        total = pr.msg.branch_total.format(total=f"${pr.d(pr.out, b.variable)} = {pr.fmt(b.total)}$")
        out.append({"terms": terms, "total": total})
    return out


def _paths(pr: _Printer, pm: PathsAndModes, inputs: int, parameters: int) -> dict:
    m = pr.msg
    sums = []
    for s in pm.sums:
        rows = [(pr.path(path), pr.product(path.values), pr.fmt(path.product)) for path in s.paths]
        written = [
            pr.product(path.values) if 1 < len(path.values) <= FACTORS_WRITTEN_OUT else pr.value(path.product)
            for path in s.paths
        ]
        if len(written) == 1 and len(s.paths[0].values) == 1 or len(s.paths[0].values) > FACTORS_WRITTEN_OUT:
            written[0] = pr.product(s.paths[0].values) if len(s.paths[0].values) == 1 else pr.fmt(s.paths[0].product)
        total = f"{pr.d(pr.out, s.leaf)} = " + " + ".join(written)
        if len(s.paths) > 1 or 1 < len(s.paths[0].values) <= FACTORS_WRITTEN_OUT:
            total += f" = {pr.fmt(s.total)}"
        sums.append({"rows": rows, "total": total})
    modes = pm.modes
    shown = modes.leaves[:MODE_COLUMNS]
    header = [rf"\frac{{\partial v}}{{\partial {pr.p(leaf)}}}" for leaf in shown]
    rows = [
        (pr.p(v), [pr.fmt(t) for t in tangents[: len(shown)]], pr.fmt(adjoint)) for v, tangents, adjoint in modes.rows
    ]
    here, million = pm.here, pm.million
    return {
        "sums": sums,
        "too_many": m.paths_too_many.format(count=pm.path_count) if not pm.sums else "",
        "shared": [(pr.p(s.node), str(s.paths), pr.d(pr.out, s.node), pr.fmt(s.gradient)) for s in pm.shared],
        "modes_header": header,
        "reverse_header": rf"\frac{{\partial {pr.p(pr.out)}}}{{\partial v}}",
        "modes_rows": rows,
        "columns": len(shown),
        "column_spec": "l" + "r" * len(shown) + r"@{\qquad}r",
        "columns_cut": m.modes_columns_cut.format(shown=len(shown), count=len(modes.leaves))
        if len(shown) < len(modes.leaves)
        else "",
        "passes": m.passes_words.format(
            leaves=m.leaves_inputs_parameters.format(n=len(modes.leaves), inputs=inputs, parameters=parameters)
            if parameters
            else m.leaves_inputs.format(n=len(modes.leaves)),
            forward=here.forward,
            reverse=here.reverse,
            out=f"${pr.p(pr.out)}$",
        ),
        "million": m.passes_million.format(
            parameters=f"${_thousands(million.forward)}$",
            forward=f"${_thousands(million.forward)}$",
            reverse=f"${million.reverse}$",
        ),
    }


def _collapse(pr: _Printer, c: Collapse, activation_latex: str) -> dict:
    m = pr.msg
    gates = m.list_separator.join(f"${pr.p(g)}$" for g in c.gates)
    chain = [(pr.d(b, a), pr.p(expr), pr.fmt(value)) for a, b, expr, value in c.chain]
    return {
        "words": m.collapse_words.format(
            gates=gates,
            composed=f"${pr.p(c.end)} = {pr.p(c.composed)} = {pr.p(c.function)}$",
            gate=f"${activation_latex}$",
        ),
        "chain": chain,
        "product": f"{pr.d(c.end, c.start)} = {pr.product(v for *_, v in c.chain)} = {pr.fmt(c.chain_product)}",
        "local": m.collapse_local.format(
            local=f"${pr.d(c.end, c.start)} = {pr.p(c.local)} = {pr.fmt(c.local_value)}$",
            gate=f"${activation_latex}$",
        ),
        "rows": [(pr.d(pr.out, leaf), pr.fmt(a), pr.fmt(b)) for leaf, a, b in c.rows],
        "agree": m.collapse_agree if c.agree else m.collapse_disagree,
        "one_gate": m.col_one_gate.format(gate=f"${activation_latex}$"),
    }


def _size(shape: tuple[int, int]) -> str:
    return rf"{shape[0]} \times {shape[1]}"


def _factor(name: str) -> str:
    return name.replace("^T", "^{T}")


def _matrix_rule(m: SimpleNamespace, rule: MatrixRule) -> dict:
    shapes = rule.shapes
    rows = []
    for r in rule.rules:
        conforming = m.list_separator.join(
            m.product_size.format(product=f"${_factor(c.left)}\\,{_factor(c.right)}$", size=f"${_size(c.shape)}$")
            for c in r.candidates
        )
        chosen = f"$d{r.variable} = {_factor(r.chosen.left)}\\,{_factor(r.chosen.right)}$"
        rows.append((f"$d{r.variable}$", f"${_size(r.shape)}$", conforming, chosen))
    w, x = rule.rules
    return {
        "words": m.matrix_rule_words.format(
            w=f"${_size(shapes['W'])}$", x=f"${_size(shapes['X'])}$", d=f"${_size(shapes['D'])}$"
        ),
        "rows": rows,
        "checked": m.matrix_rule_checked.format(
            w_entries=w.entries, w_total=w.shape[0] * w.shape[1], x_entries=x.entries, x_total=x.shape[0] * x.shape[1]
        ),
    }


def graph_teaching(
    analysis: Analysis, p: Callable[[sympy.Expr], str], fmt: Callable[[float], str], msg: SimpleNamespace
) -> dict | None:
    """The printed teaching sections of a scalar graph's document, or None (no example, or a
    layered network)."""
    pm = analysis.paths
    if pm is None:
        return None
    from symbackprop.registry import ACTIVATIONS

    pr = _Printer(p, fmt, msg, pm.objective)
    partials = analysis.unit.partials
    net = analysis.unit.network
    collapse = analysis.collapse
    return {
        "gates": _gates(pr, pm, analysis.unit.network.nodes),
        "branches": _branches(pr, pm, partials),
        "collapse": _collapse(pr, collapse, ACTIVATIONS[collapse.activation].latex) if collapse else None,
        "paths": _paths(pr, pm, len(net.inputs) + len(net.targets), len(net.parameters)),
        "matrix_rule": _matrix_rule(msg, analysis.matrix_rule) if analysis.matrix_rule else None,
    }
