"""Derivation -> document context -> LaTeX or Markdown text.

The context is built once, in printed form: every formula is printed here by
:class:`NotationLatexPrinter` (the same LaTeX serves the .tex and, inside ``$$``, the .md);
the templates only arrange the pieces and look sentences up in the message catalogue.

A document has parts in the order of the numbered equations (:func:`equations.part_of`); each
numbered equation is a block, preceded by the steps of :mod:`symbackprop.teaching` where there
are some. Then the lemmas the network used, a worked example with the spec's values, and an
appendix that maps every equation number to the line of train.py that computes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import sympy
from sympy import Symbol

from symbackprop.equations import PARTS, Equation, part_of
from symbackprop.instantiate import verify_layer_equations
from symbackprop.layered import PER_UNIT_LIMIT
from symbackprop.network import LayeredNetwork
from symbackprop.render import diagram
from symbackprop.render.environment import render, tex_escape
from symbackprop.render.messages import catalogue
from symbackprop.render.printers import NotationLatexPrinter
from symbackprop.rules.activations import ACTIVATIONS, LEMMAS
from symbackprop.rules.losses import LOSSES
from symbackprop.teaching import Line, delta_lines, gradient_lines


LINE_WIDTH = 64  # visible characters of maths that fit on one display line beside a tag


@dataclass(frozen=True)
class PrintedLine:
    lhs: str  # empty: continues the line above
    rhs: str
    reason: str = ""
    relation: str = "="
    more: tuple[str, ...] = ()  # continuation rows of a long sum ("+ ...")


def _visible(latex: str) -> int:
    """Rough printed width of LaTeX maths: characters left once commands and braces go."""
    return len(re.sub(r"\\[a-zA-Z]+|[{}\s^_]", "", latex))


@dataclass(frozen=True)
class Block:
    """The steps to one numbered equation, then the equation itself."""

    steps: list[PrintedLine]
    result: PrintedLine
    number: int
    label: str


@dataclass
class Part:
    key: str
    heading: str
    words: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    matrix_blocks: list[Block] = field(default_factory=list)  # the matrix form, after the words for it
    after: list[str] = field(default_factory=list)


def _unit_derivation(derivation):
    return derivation.unit_derivation if isinstance(derivation.network, LayeredNetwork) else derivation


class _Builder:
    def __init__(self, derivation, lang: str):
        self.d = derivation
        self.net = derivation.network
        self.layered = isinstance(self.net, LayeredNetwork)
        self.msg = catalogue(lang)
        self.equations = derivation.equations
        # the per-unit derivation: always for graphs, for layered networks only when small
        small = not self.layered or self.net.unit_count <= PER_UNIT_LIMIT
        self.unit = _unit_derivation(derivation) if small else None
        names = dict(derivation.latex_names)
        vectors = frozenset(derivation.names.vectors) if self.layered else frozenset()
        self.printer = NotationLatexPrinter(names, vectors)

    def p(self, expr) -> str:
        return self.printer.doprint(expr)

    def split(self, expr) -> tuple[str, tuple[str, ...]]:
        """A long sum as its first row and continuation rows, broken between terms."""
        text = self.p(expr)
        if _visible(text) <= LINE_WIDTH or not expr.is_Add:
            return text, ()
        rows, current = [], ""
        for i, term in enumerate(expr.args):
            negative = term.could_extract_minus_sign()
            piece = self.p(-term if negative else term)
            sign = "- " if negative else ("+ " if i else "")
            if current and _visible(current + piece) > LINE_WIDTH:
                rows.append(current)
                current = ""
            current += (" " if current else "") + sign + piece
        rows.append(current)
        return rows[0], tuple(rows[1:])

    def line(self, lhs, rhs, reason: str = "", relation: str = "=") -> PrintedLine:
        first, more = self.split(rhs)
        return PrintedLine(self.p(lhs) if lhs is not None else "", first, self.reason(reason), relation, more)

    def reason(self, key: str) -> str:
        return getattr(self.msg, "reason_" + key.replace("-", "_"), key) if key else ""

    # --- blocks ---------------------------------------------------------------------------
    def steps(self, eq: Equation) -> list[Line]:
        unit = self.unit
        if unit is None or not (eq.key.startswith("unit-") or not self.layered):
            return []
        if eq.section.startswith("delta"):
            node = next(n for n, s in unit.delta_symbols.items() if s == eq.lhs)
            return delta_lines(unit, node)
        if eq.section == "gradient":
            return gradient_lines(unit, Symbol(eq.key.split("gradient-", 1)[1]))
        return []

    def result_reason(self, eq: Equation) -> str:
        unit = self.unit
        if unit is None or not eq.section.startswith("delta") or not (eq.key.startswith("unit-") or not self.layered):
            return ""
        node = next(n for n, s in unit.delta_symbols.items() if s == eq.lhs)
        if unit.deltas[node.name] == unit.totals[node]:
            return ""
        return "targets-sum-to-one" if unit.network.target_groups else "simplify"

    def block(self, eq: Equation) -> Block:
        lines = [self.line(s.lhs, s.rhs, s.reason) for s in self.steps(eq)]
        relation = r"\leftarrow" if eq.update else "="
        result = self.line(eq.lhs, eq.rhs, self.result_reason(eq), relation)
        return Block(lines, result, eq.number, eq.label)

    # --- parts ----------------------------------------------------------------------------
    def parts(self) -> list[Part]:
        parts: dict[str, Part] = {}
        for eq in self.equations:
            key = part_of(eq)
            if key not in parts:
                parts[key] = Part(key, getattr(self.msg, key.replace("-", "_")))
            target = parts[key].matrix_blocks if eq.layer else parts[key].blocks
            target.append(self.block(eq))
        self._words(parts)
        return [parts[k] for k in PARTS if k in parts]

    def _words(self, parts: dict[str, Part]) -> None:
        m = self.msg
        rate = f"${self.p(self.net.learning_rate_symbol if not self.layered else self.d.names.learning_rate())} = {self.net.learning_rate:g}$"
        text = {
            "forward": [m.forward_words],
            "loss": [m.loss_words]
            + ([m.regularisation_words if self.net.weight_decay else m.batch_words] if self.layered else []),
            "delta-output": [m.output_words],
            "delta-hidden": [m.hidden_words],
            "delta": [m.backward_words],
            "gradient": [m.gradient_words.format(rate=rate)],
        }
        for key, words in text.items():
            if key in parts:
                parts[key].words = words
        if "delta-hidden" in parts:
            parts["delta-hidden"].after = [m.recursion_words]
        if "matrix" in parts:
            checks = verify_layer_equations(self.net)
            parts["matrix"].words = [m.matrix_words, m.matrix_check.format(checks=checks)]

    # --- lemmas ---------------------------------------------------------------------------
    def lemmas(self) -> list[tuple[str, list[PrintedLine]]]:
        x = Symbol("x")
        used = self._activations_used()
        out = []
        for name in used:
            if name in LEMMAS:
                out.append((name.replace("_", " "), self._lines(LEMMAS[name](x))))
        if self.layered:
            loss = LOSSES[self.net.loss]
            if self.net.activations[-1] in loss.lemmas:
                title = f"{self.net.activations[-1]} + {loss.latex}"
                out.append((title, self._lines(loss.lemmas[self.net.activations[-1]]())))
        return out

    def _lines(self, pairs) -> list[PrintedLine]:
        """Lemma lines: scalar maths in generic symbols, printed without the notation's names."""
        plain = NotationLatexPrinter({})
        return [PrintedLine(plain.doprint(lhs) if lhs is not None else "", plain.doprint(rhs)) for lhs, rhs in pairs]

    def _activations_used(self) -> list[str]:
        if self.layered:
            return list(dict.fromkeys(self.net.activations))
        classes = {type(a.apply): n for n, a in ACTIVATIONS.items() if isinstance(a.apply, type)}
        classes.update({a.apply: n for n, a in ACTIVATIONS.items() if isinstance(a.apply, type)})
        found = []
        for expr in self.net.nodes.values():
            for node in sympy.preorder_traversal(expr):
                name = classes.get(type(node))
                if name and name not in found:
                    found.append(name)
        return found

    # --- worked example -------------------------------------------------------------------
    def example(self):
        from symbackprop.check import evaluate_graph

        unit = self.unit
        if unit is None:
            return {"too_large": True}
        env = self._example_values()
        if env is None:
            return None
        values, deltas, grads = evaluate_graph(unit, env)
        net = unit.network
        fmt = _number
        forward = [(self.p(s), fmt(values[s.name])) for s in (*net.leaves, *net.nodes)]
        backward = [
            (self.p(unit.delta_symbols[n]), fmt(deltas[unit.delta_symbols[n].name]))
            for n in reversed(list(net.nodes))
            if n in unit.delta_symbols
        ]
        gradients = []
        rate = self.net.learning_rate
        for leaf, g in grads.items():
            updated = fmt(values[leaf] - rate * g) if Symbol(leaf) in net.trainable else ""
            gradients.append((self.p(unit.gradient_symbol(leaf)), fmt(g), self.p(Symbol(leaf)), updated))
        circuit = self._circuit(values, deltas, grads) if not self.layered else ""
        height = max(len(forward), len(backward))
        pad = [("", "")] * height
        rows = [(*f, *b) for f, b in zip((forward + pad)[:height], (backward + pad)[:height])]
        return {"rows": rows, "gradients": gradients, "circuit": circuit, "too_large": False}

    def _example_values(self) -> dict | None:
        if self.layered:
            if not self.net.example:
                return None
            from symbackprop.layered import initial_parameters

            params = initial_parameters(self.net)
            env = {f"x_{i + 1}": v for i, v in enumerate(self.net.example["x"][0])}
            names = self.d.names
            env.update({names.target(k).name: v for k, v in enumerate(self.net.example["t"][0])})
            for layer in range(1, self.net.depth + 1):
                for k in range(self.net.sizes[layer]):
                    for j in range(self.net.sizes[layer - 1]):
                        env[names.weight(layer, k, j).name] = float(params[f"W{layer}"][k, j])
                    if self.net.bias:
                        env[names.bias(layer, k).name] = float(params[f"b{layer}"][k])
            return env
        values = {**self.net.parameters, **self.net.example}
        if set(values) != set(self.net.leaves):
            return None
        return {s.name: float(v) for s, v in values.items()}

    def _circuit(self, values: dict, deltas: dict, grads: dict) -> str:
        net, unit = self.net, self.unit
        nodes = [(s.name, "input", self.p(s)) for s in net.leaves]
        nodes += [
            (n.name, "output" if n == net.objective else "gate", _gate_label(e, self.p(n)))
            for n, e in net.nodes.items()
        ]
        edges = [(s.name, n.name) for n, e in net.nodes.items() for s in sorted(e.free_symbols, key=str)]
        grad_of = {n.name: _number(deltas[unit.delta_symbols[n].name]) for n in net.nodes if n in unit.delta_symbols}
        grad_of[net.objective.name] = "1"
        grad_of.update({k: _number(v) for k, v in grads.items()})
        shown = {k: _number(v) for k, v in values.items() if k in {n for n, _, _ in nodes}}
        return diagram.graph_diagram(nodes, edges, shown, grad_of)

    # --- the network picture --------------------------------------------------------------
    def picture(self) -> str:
        if not self.layered:
            return ""
        net, names = self.net, self.d.names
        if net.unit_count > 30:
            return ""
        layers = [[self.p(names.input(i)) for i in range(net.sizes[0])]]
        for layer in range(2, len(net.sizes) + 1):
            if names.node:
                layers.append([str(names.unit_number(layer, k)) for k in range(net.sizes[layer - 1])])
            else:
                layers.append([self.p(names.out(layer, k)) for k in range(net.sizes[layer - 1])])
        edges = [
            (layer - 1, j + 1, layer, k + 1, self.p(names.weight(layer, k, j)))
            for layer in range(1, net.depth + 1)
            for k in range(net.sizes[layer])
            for j in range(net.sizes[layer - 1])
        ]
        biases = [("+1" if net.bias and i < net.depth else None) for i in range(len(net.sizes))]
        captions = [self.msg.input] + [self.msg.hidden] * (net.depth - 1) + [self.msg.output]
        return diagram.layered_diagram(
            layers, edges, biases=biases, edge_labels=net.unit_count <= 12, caption_layers=captions
        )

    def appendix(self) -> list[tuple[int, str, str, int]]:
        labels = {eq.number: eq.label for eq in self.equations}
        code = self.d.to_numpy()
        return [(n, labels[n], function, line) for n, (function, line) in sorted(equation_locations(code).items())]

    def intro(self) -> list[str]:
        m = self.msg
        if self.layered:
            sizes = "--".join(map(str, self.net.sizes))
            acts = ", ".join(a.replace("_", " ") for a in self.net.activations)
            loss = LOSSES[self.net.loss].latex
            notation = m.node_notation if self.net.notation == "node" else m.layer_notation
            return [m.layered_intro.format(sizes=sizes, activations=tex_escape(acts), loss=tex_escape(loss)), notation]
        return [m.graph_intro, m.graph_notation]


def _number(value) -> str:
    value = float(np.asarray(value))
    return "0" if value == 0 else f"{value:.4g}"


_GATES = {
    sympy.Add: "+",
    sympy.Mul: r"\times",
    sympy.Max: r"\max",
    sympy.Min: r"\min",
    sympy.exp: r"\exp",
    sympy.log: r"\log",
    sympy.tanh: r"\tanh",
}


def _gate_label(expr: sympy.Expr, name: str) -> str:
    """The operator of a gate whose inputs are named values, else the node's own name."""
    if all(a.is_Symbol or a.is_Number for a in expr.args):
        label = _GATES.get(expr.func) or getattr(expr.func, "latex_name", "")
        if label:
            return label
    return name


def equation_locations(code: str) -> dict[int, tuple[str, int]]:
    """Equation number -> (function, line number) of the generated code that computes it."""
    where: dict[int, tuple[str, int]] = {}
    function, pending = "", None
    for number, line in enumerate(code.splitlines(), start=1):
        if line.startswith("def "):
            function = line[4:].split("(")[0]
        cited = re.search(r"# eq\. \((\d+)\)", line)
        if cited and line.strip().startswith("#"):
            pending = int(cited.group(1))
            continue
        if cited:
            where[int(cited.group(1))] = (function, number)
        elif pending is not None:
            where[pending] = (function, number)
            pending = None
    return where


def context(derivation, lang: str = "en") -> dict:
    """Everything the templates need, printed."""
    b = _Builder(derivation, lang)
    net = derivation.network
    return {
        "lang": lang,
        "msg": b.msg,
        "name": net.name,
        "title": net.title or net.name,
        "intro": b.intro(),
        "picture": b.picture(),
        "weights_words": b.msg.weights_words if b.layered and net.unit_count <= 12 else "",
        "tikz_libraries": diagram.TIKZ_LIBRARIES,
        "parts": b.parts(),
        "lemmas": b.lemmas(),
        "example": b.example(),
        "gates": not b.layered,
        "appendix": b.appendix(),
        "large": b.msg.large_words.format(units=net.unit_count) if b.unit is None else "",
    }


SUMMARY_LIMIT = 40


def summary_latex(derivation) -> str:
    """The error-term and gradient equations, numbered, in one ``$$ aligned $$`` display."""
    b = _Builder(derivation, "en")
    chosen = [eq for eq in b.equations if eq.section.startswith("delta") or eq.section == "gradient"]
    rows = [rf"{b.p(eq.lhs)} &= {b.p(eq.rhs)} && ({eq.number})" for eq in chosen[:SUMMARY_LIMIT]]
    return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"


def latex_document(derivation, lang: str = "en") -> str:
    """The LaTeX source of the derivation document."""
    return render("latex/derivation.tex.j2", **context(derivation, lang))


def markdown_document(derivation, lang: str = "en") -> str:
    """The Markdown version: the same content, maths in ``$$`` blocks."""
    return render("markdown/derivation.md.j2", **context(derivation, lang))
