"""Analysis -> document context -> LaTeX or Markdown text.

A document receives a finished :class:`~symbackprop.analysis.Analysis` (the numbered equations,
the teaching steps before each, the consistency check's result, the worked example's numbers)
and the generated module's map from equation numbers to lines, and computes nothing: every
formula is printed here by :class:`NotationLatexPrinter` (the same LaTeX serves the .tex and,
inside ``$$``, the .md); the templates only arrange the pieces and look sentences up in the
message catalogue.

A document has parts in the order of the numbered equations (``Equation.part``); each numbered
equation is a block, preceded by its steps where there are some. Then the lemmas of the
registry entries the network uses, the worked example, and an appendix that maps every equation
number to the lines of train.py that compute it.

A network of layers (:class:`SequentialDerivation`) has its equations in tensor form only, each
op printed by its own ``_latex`` (conv, rot180, maxpool, vec, BN): forward pass, objective,
backward pass, gradients, the lemmas of its ops; no per-unit steps yet. Its picture (the layer
stack) and its worked example come from :mod:`~symbackprop.backends.layers_document`.
"""

from __future__ import annotations


import math
import re
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import cached_property

import sympy
from sympy.printing.conventions import requires_partial

from symbackprop.analysis import Analysis
from symbackprop.analysis.consistency import CHECK_RUN, SEQUENTIAL_POINTS
from symbackprop.backends import diagram
from symbackprop.backends.d2l_sections import d2l_sections
from symbackprop.backends.environment import render, tex_escape
from symbackprop.backends.graph_teaching import graph_teaching
from symbackprop.backends.layers_document import layer_stack, layers_example, sequence_words
from symbackprop.backends.messages import catalogue
from symbackprop.backends.printers import NotationLatexPrinter
from symbackprop.calculus.equations import PARTS, Equation
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.calculus.sequential import SequentialDerivation
from symbackprop.calculus.sequential_units import BATCH as UNIT_BATCH
from symbackprop.core.notation import D2L_EXAMPLE_LOSS
from symbackprop.registry import (
    ACTIVATIONS,
    CELL_ACTIVATION,
    CONV_LAYER_OPS,
    GATES,
    LAYER_OPS,
    LOSSES,
    SEQUENCE_LAYER_OPS,
    Lemma,
    LossMean,
    elementwise_activations,
)

ACTIVATED_LAYERS = ("dense", "conv2d", "batchnorm", "layernorm", "residual", "rnn")  # the layer types with an f
# the activations of the gates (and of an LSTM's cell output)
GATED_ACTIVATIONS = {kind: (*(act for _, act in gates), CELL_ACTIVATION) for kind, gates in GATES.items()}
LINE_WIDTH = 64  # visible characters of maths that fit on one display line beside a tag


# a network of layers' words, one piece per layer kind (messages.py, layers_notation_* ...): the
# pieces of the kinds whose layer types a network has, in this order
_NOTATION_KINDS = {"norm": ("batchnorm", "layernorm"), "dropout": ("dropout",), "residual": ("residual",)}
_MAP_KINDS = {"flatten": ("flatten",), "batchnorm": ("batchnorm",)}
_BACKWARD_KINDS = {
    "conv": ("conv2d",),
    "maxpool": ("maxpool2d",),
    "avgpool": ("avgpool2d",),
    "flatten": ("flatten",),
    "batchnorm": ("batchnorm",),
    "layernorm": ("layernorm",),
    "dropout": ("dropout",),
    "residual": ("residual",),
}
_GRADIENT_KINDS = {"conv": ("conv2d",), "norm": ("batchnorm", "layernorm")}


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
    matrix_blocks: list[Block] = field(default_factory=list)  # the tensor form, after the words for it
    matrix_words: list[str] = field(default_factory=list)  # between the per-unit and the tensor form
    after: list[str] = field(default_factory=list)


def number_latex(value: float) -> str:
    """A value as the tables print it: 4 significant digits, 0, or a non-finite value named."""
    if math.isnan(value):
        return r"\mathrm{undefined}"
    if math.isinf(value):
        return r"\infty" if value > 0 else r"-\infty"
    return "0" if value == 0 else f"{value:.4g}"


class _Builder:
    def __init__(self, analysis: Analysis, locations: dict[int, list[tuple[str, int]]], lang: str):
        self.a = analysis
        self.d = analysis.derivation
        self.layered = isinstance(self.d, LayeredDerivation)
        self.sequential = isinstance(self.d, SequentialDerivation)
        self.net = self.d.network
        self.msg = catalogue(lang)
        self.lang = lang
        self.locations = locations
        self.brief = getattr(self.d, "brief", False)  # a handout (graph derivations have no brief form)
        vectors = frozenset(self.d.names.vectors) if self.layered else frozenset()
        if self.sequential:
            vectors = self.d.vectors
        graph = self.d.graph if self.layered or self.sequential else self.net
        self.graph = graph
        leading = frozenset((*graph.constants, graph.learning_rate_symbol))
        examples = self.d.names.examples if self.layered else {}  # x^{(i)}: one example's, in a batch sum
        self.printer = NotationLatexPrinter(dict(self.d.latex_names), vectors, leading, examples)

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
    def block(self, eq: Equation) -> Block:
        lines = [self.line(s.lhs, s.rhs, s.reason) for s in self.a.steps.get(eq.label, [])]
        relation = r"\leftarrow" if eq.update else "="
        with self.printer.one_example() if eq.example else nullcontext():  # dJ/dx^{(i)}: example i's
            result = self.line(eq.lhs, eq.rhs, self.a.reasons.get(eq.label, ""), relation)
        return Block(lines, result, eq.number, eq.label)

    # --- parts ----------------------------------------------------------------------------
    def parts(self) -> list[Part]:
        parts: dict[str, Part] = {}
        for eq in self.a.equations:
            key = eq.part
            if self.sequential and key == "matrix":  # all is tensor form: the backward pass, then gradients
                key = "delta" if eq.kind == "delta" else "gradient"
            if key not in parts:
                parts[key] = Part(key, getattr(self.msg, key.replace("-", "_")))
            target = parts[key].matrix_blocks if eq.level == "tensor" else parts[key].blocks
            target.append(self.block(eq))
        self._words(parts)
        return [parts[k] for k in PARTS if k in parts]

    def _words(self, parts: dict[str, Part]) -> None:
        m = self.msg
        rate_symbol = self.d.names.learning_rate() if self.layered else self.graph.learning_rate_symbol
        rate = f"${self.p(rate_symbol)} = {self.net.learning_rate:g}$"
        text = {
            "forward": [m.forward_words],
            "loss": [m.loss_words],
            "delta-output": [m.output_words],
            "delta-hidden": [m.hidden_words],
            "delta": [m.backward_words],
            "gradient": [m.gradient_words.format(rate=rate)],
        }
        if self.sequential:
            decay = m.regularisation_words.format(decay=f"{self.net.weight_decay:g}")
            text["loss"] = [self._layers_loss_words(), decay if self.net.weight_decay else m.batch_words]
            text["delta"] = [self._layers_backward_words()] + self._layers_check_words()
            text["gradient"] = [self._layers_gradient_words(), m.layers_update_words.format(rate=rate)]
            words = self._sequence_words
            if words is not None:  # a sequence model's own words, of the layer kinds it has
                text["delta"] = [words["delta"]] + self._layers_check_words()
                text["gradient"] = [words["gradient"], m.gradient_words.format(rate=rate)]
        graph = not self.layered and not self.sequential
        if graph and self.net.trainable:  # a graph with a loss to train: gradients, then updates
            text["gradient"] = [m.graph_gradient_words, m.graph_update_words.format(rate=rate)]
        if graph and not self.net.trainable:  # a graph that only computes gradients
            text["gradient"] = ([] if self.net.targets else [m.no_training_words]) + [m.graph_gradient_words]
            if "gradient" in parts:
                parts["gradient"].heading = m.graph_gradient_parameters if self.net.parameters else m.graph_gradient
        if self.layered:
            text["delta-output"] = self._general_output() + text["delta-output"]
            text["delta-hidden"] = self._general_hidden() + text["delta-hidden"]
        if self._uses_ties():
            text["delta"] = text["delta"] + [m.tie_words]
        for key, words in text.items():
            if key in parts:
                parts[key].words = words
        self._matrix_words(parts)
        if "delta-hidden" in parts:
            parts["delta-hidden"].after = [m.recursion_words]
        if "matrix" in parts and self.a.consistency is not None:
            c = self.a.consistency
            check = m.matrix_check_shortened if c.shortened else m.matrix_check
            width = max(c.sizes)
            parts["matrix"].words = [
                self._in_matrix_form(),
                check.format(checks=c.comparisons, width=width, run=CHECK_RUN),
            ]
            parts["matrix"].words += self._example_loss_words()
            parts["matrix"].after = self._input_gradient_words()
            if self.net.notation == "node" and self.net.bias and self.net.depth == 2:
                parts["matrix"].words.insert(0, self._stacked_words())

    def _layers_loss_words(self) -> str:
        """A network of layers: one example's loss, the summand of the objective's mean."""
        graph = self.graph
        mean = next(e for e in graph.nodes.values() if isinstance(e, LossMean))
        with self.printer.one_example():
            term = self.printer.parenthesize(mean.args[0], 50)
        return self.msg.layers_loss_words.format(loss=rf"\sum_{{k}} {term}")

    def index_section(self) -> dict | None:
        """A network of layers' equations entry by entry: forward, error terms, gradients, each
        line tagged with the number of the tensor equation it writes out."""
        forms = self.a.index_forms
        if not forms:
            return None
        groups: dict[str, list[PrintedLine]] = {"forward": [], "delta": [], "gradient": []}
        for form in forms:
            eq = form.equation
            key = "forward" if eq.kind in ("forward", "loss") else eq.kind
            line = self.line(eq.lhs, eq.rhs)
            groups[key].append(replace(line, reason=form.tensor))  # the label of the tensor equation
        m = self.msg
        skipped = self._index_skipped()
        return {
            "words": [m.index_words]
            + ([m.index_conv_words] if self._has_conv() else [])
            + [
                m.index_maxpool_words.format(size=layer.size)
                for layer in self._index_layers()
                if _routed_by_window(layer)
            ][:1]
            + ([m.index_skipped.format(ops=skipped)] if skipped else []),
            "groups": [(getattr(m, f"index_{k}"), lines) for k, lines in groups.items() if lines],
            "numbers": {eq.label: eq.number for eq in self.a.equations},
        }

    def _index_layers(self) -> list:
        """Every layer of a network of layers, a residual block's body's included."""
        return [layer for top in self.net.layers for layer in (*top.body, top)]

    def _has_conv(self) -> bool:
        return "conv2d" in self._layer_types

    def _index_skipped(self) -> str:
        """The layer types whose equations stay in tensor form (pooling's routing, normalisation)."""
        kinds = [layer.type for layer in self._index_layers() if not _routed_by_window(layer)]
        names = [getattr(self.msg, f"index_only_tensor_{k}") for k in dict.fromkeys(kinds) if k in INDEX_TENSOR_ONLY]
        return self.msg.clause_separator.join(names)

    def _layers_check_words(self) -> list[str]:
        """How a network of layers' tensor equations were checked against its units."""
        c = self.a.consistency
        if c is None:
            return []
        words = self.msg.layers_check_smaller if c.shortened else self.msg.layers_check
        shape = r"$" + r" \times ".join(str(n) for n in c.sizes) + r"$"
        return [words.format(batch=UNIT_BATCH, points=SEQUENTIAL_POINTS, checks=c.comparisons, shape=shape)]

    def _matrix_words(self, parts: dict[str, Part]) -> None:
        """The words between a part's per-unit equations (one example) and its matrix form: the
        batch (the objective's mean over m examples, J = L + s) and how its sums read."""
        if not self.layered:
            return
        m = self.msg
        if "loss" in parts:
            batch = (
                m.regularisation_words.format(decay=f"{self.net.weight_decay:g}")
                if self.net.weight_decay
                else m.batch_words
            )
            parts["loss"].matrix_words = [batch]
            if self.net.notation == "layer" and self.net.weight_decay:
                parts["loss"].matrix_words.append(m.ufldl_costs.format())
        for part in parts.values():  # the forward pass sums over no batch
            if part.blocks and part.matrix_blocks:
                part.matrix_words.append(m.matrix_words_forward if part.key == "forward" else self._in_matrix_form())

    def _in_matrix_form(self) -> str:
        """The sentence before a matrix form: what a sum over the batch runs over, and the names a
        quantity of example i goes by there (x^{(i)}, a^{(2)(i)}, delta^{(2)(i)})."""
        names = self.d.names
        with self.printer.one_example():
            shown = [names.out_vec(1), names.out_vec(2), names.delta_vec(2)]
            if names.d2l:
                shown = [names.out_vec(1), names.out_vec(2), names.delta_vec(3)]
            examples = self.msg.list_separator.join(f"${self.p(s)}$" for s in shown)
        return self.msg.matrix_words.format(examples=examples)

    def _example_loss_words(self) -> list[str]:
        """d2l notation: the loss of example i, whose gradients the batch sums add up."""
        m, names = self.msg, self.d.names
        if not names.d2l:
            return []
        with self.printer.one_example():
            gradient, output = self.p(names.delta_vec(3)), self.p(names.net_vec(3))
        one = self.p(names.delta_vec(3))
        return [m.d2l_example_loss.format(loss=D2L_EXAMPLE_LOSS, gradient=gradient, one=one, output=output)]

    def _input_gradient_words(self) -> list[str]:
        """After the matrix form: the gradient with respect to an input is one example's, with
        the 1/m of the batch mean that the per-node equations (m = 1) do not show."""
        words = []
        for eq in self.a.equations:
            if eq.level == "tensor" and eq.example:
                with self.printer.one_example():
                    gradient = self.p(eq.lhs)
                objective = self.p(self.d.names.objective())
                words.append(
                    self.msg.input_gradient_words.format(number=eq.number, gradient=gradient, objective=objective)
                )
        return words

    def _stacked_words(self) -> str:
        """The node-numbered source's stacked form (bias as a weight on a constant 1), for its
        one-hidden-layer network, in this network's names."""
        names = self.d.names
        unit = names.unit_number(2, 0)
        weights = ", ".join(self.p(names.weight(1, 0, j)) for j in range(self.net.sizes[0]))
        inputs = ", ".join(self.p(names.input(i)) for i in range(self.net.sizes[0]))
        return self.msg.stacked_words.format(unit=unit, weights=weights, inputs=inputs, bias=self.p(names.bias(1, 0)))

    def _general_output(self) -> list[str]:
        """The output layer's error term for any unit, in the notation's index form (an
        elementwise output activation; softmax couples the units and its lemma says so)."""
        m = self.msg
        if ACTIVATIONS[self.net.activations[-1]].vector:
            return []
        if self.net.notation == "node":
            return [m.general_words + " " + m.general_output_node]
        if self.net.notation == "d2l":  # UFLDL's own sign and delta are not d2l's
            return [m.general_words + " " + m.general_output_d2l]
        textbook = LOSSES[self.net.loss].textbook_delta
        return [m.general_words + " " + m.general_output_layer, *([textbook[self.lang]] if textbook else [])]

    def _general_hidden(self) -> list[str]:
        """The recursion for any hidden unit (node notation) or any hidden layer l (UFLDL's)."""
        m = self.msg
        if self.net.notation == "d2l":
            return [m.general_words + " " + m.general_hidden_d2l]
        if self.net.notation != "node":
            return [m.general_words + " " + m.general_hidden_layer]
        if self.net.depth == 2:  # one hidden layer: the nodes a hidden node feeds are the outputs
            return [m.general_words + " " + m.general_hidden_node_outputs]
        return [m.general_words + " " + m.general_hidden_node + " " + m.general_sum_words]

    def _uses_ties(self) -> bool:
        return (
            not self.layered
            and not self.sequential
            and any(
                isinstance(e, (sympy.Max, sympy.Min))
                for x in self.net.nodes.values()
                for e in sympy.preorder_traversal(x)
            )
        )

    # --- lemmas ---------------------------------------------------------------------------
    def lemmas(self) -> list[tuple[str, str, list[PrintedLine], str]]:
        found: list[Lemma] = []
        collapsed = [self.a.collapse.activation] if self.a.collapse is not None else []
        for name in dict.fromkeys([*self._activations_used(), *collapsed]):
            lemma = ACTIVATIONS[name].lemma
            if lemma is not None:
                found.append(lemma)
        if self.sequential:
            found += [op.lemma for op in self._layer_ops() if op.lemma is not None]
        if self.layered or self.sequential:
            loss = LOSSES[self.net.loss]
            output = self.net.activations[-1] if self.layered else self.net.output_activation
            pair = (loss.pair_lemmas or {}).get(output)
            found.append(pair if pair is not None else loss.lemma)
        return [
            (
                lemma.title[self.lang],
                self._renamed(lemma.words[self.lang]),
                self._lines(lemma.steps()),
                self._renamed(f"${lemma.assumes}$")[1:-1],
            )
            for lemma in found
            if lemma
        ]

    def _lemma_names(self) -> dict[str, str]:
        """The lemmas' generic variables (x the argument of an activation, y an output, t a
        target, z a pre-activation, E the loss) in the body's notation."""
        if not self.layered and not self.sequential:
            return {}
        if self.net.notation == "node":
            return {"x": r"\mathrm{net}", "z": r"\mathrm{net}"}
        if self.net.notation == "d2l":
            return {"x": "z", "y": r"\hat{y}", "t": "y", "z": "o", "E": "J"}
        return {"x": "z", "y": "a", "t": "y", "E": "J"}

    def _lines(self, pairs) -> list[PrintedLine]:
        """Lemma lines: scalar maths in the body's names (a, y, z in layer notation; y, t, net in
        node notation); d or \\partial, one of them through a lemma."""
        rename = self._lemma_names()
        names = {
            s: rename[s.name]
            for pair in pairs
            for e in pair
            if e is not None
            for s in e.atoms(sympy.Symbol)
            if s.name in rename
        }
        plain = NotationLatexPrinter(names)
        derivatives = [d for pair in pairs for e in pair if e is not None for d in e.atoms(sympy.Derivative)]
        if any(requires_partial(d.expr) for d in derivatives):  # one partial: every d of the lemma is one
            plain._settings["diff_operator_latex"] = r"\partial"
        return [PrintedLine(plain.doprint(lhs) if lhs is not None else "", plain.doprint(rhs)) for lhs, rhs in pairs]

    def _renamed(self, latex: str) -> str:
        """An assumption or a sentence of a lemma with its one-letter variables renamed (t_i, and
        the y of diag(y) - y y^T), inside its $...$ maths only; prose is left alone."""
        rename = self._lemma_names()
        if not rename:
            return latex

        def letter(m: re.Match) -> str:
            new = rename.get(m.group(1))
            return m.group(1) if new is None else new if len(new) == 1 else "{" + new + "}"

        def maths(m: re.Match) -> str:
            return re.sub(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])", letter, m.group(0))

        return re.sub(r"\$[^$]*\$", maths, latex)

    @cached_property
    def _sequence_words(self) -> dict | None:
        """A sequence model's notation, backward and gradient words (None for other networks)."""
        return sequence_words(self.net, self.msg)

    @cached_property
    def _layer_types(self) -> set[str]:
        """The layer types of a network of layers, a residual block's body's included."""
        return {layer.type for layer in self._index_layers()}

    def _pieces(self, prefix: str, kinds: dict[str, tuple[str, ...]]) -> list[str]:
        """The messages ``prefix + kind`` of the kinds whose layer types the network has."""
        return [getattr(self.msg, prefix + kind) for kind, types in kinds.items() if self._layer_types & set(types)]

    def _layers_notation(self) -> str:
        """What a network of layers' symbols mean: those of the layer kinds it has, no others."""
        m, has = self.msg, self._layer_types
        conv = "conv2d" in has
        text = m.layers_notation_base + (m.layers_notation_conv if conv else "") + m.layers_notation_bias
        text += "".join(self._pieces("layers_notation_", _NOTATION_KINDS))
        text += m.layers_notation_tensor + (m.layers_notation_map if conv else m.layers_notation_vector)
        text += "".join(self._pieces("layers_notation_", _MAP_KINDS))
        return text + m.layers_notation_end

    def _layers_backward_words(self) -> str:
        """Each layer kind's rule for the error term, of the kinds the network has."""
        m = self.msg
        return (
            m.layers_backward_base + "".join(self._pieces("layers_backward_", _BACKWARD_KINDS)) + m.layers_backward_end
        )

    def _layers_gradient_words(self) -> str:
        m = self.msg
        parts = self._pieces("layers_gradient_", _GRADIENT_KINDS)
        listed = m.layers_gradient_colon + m.layers_gradient_comma.join(parts) if parts else ""
        return m.layers_gradient_base + listed + m.layers_gradient_stop

    def _layer_ops(self) -> list:
        """The registry records of the layer types a network of layers uses, in order (dense: W a)."""
        kinds = [layer.type for top in self.net.layers for layer in (*top.body, top)]
        records = {**CONV_LAYER_OPS, **SEQUENCE_LAYER_OPS, "dense": LAYER_OPS["linear"]}
        return [records[k] for k in dict.fromkeys(kinds)]

    def _activations_used(self) -> list[str]:
        if self.layered:
            return list(dict.fromkeys(self.net.activations))
        classes = elementwise_activations()
        found = []
        if self.sequential:  # the layers that have an activation (not pooling, flatten, dropout)
            used = [
                act
                for top in self.net.layers
                for layer in (*top.body, top)
                for act in (
                    (layer.activation,) if layer.type in ACTIVATED_LAYERS else GATED_ACTIVATIONS.get(layer.type, ())
                )
            ]
            return list(dict.fromkeys(used))
        for expr in self.net.nodes.values():
            for node in sympy.preorder_traversal(expr):
                act = classes.get(type(node))
                if act is not None and act.name not in found:
                    found.append(act.name)
        return found

    # --- worked example -------------------------------------------------------------------
    def example(self) -> dict | None:
        if self.sequential:  # feature maps as matrices per channel, the convolution's grids
            rate = f"${self.p(self.graph.learning_rate_symbol)} = {self.net.learning_rate:g}$"
            return layers_example(self.a.layers_example, self.p, number_latex, self.msg, self.net, rate)
        if self.a.example_too_large:
            return {"too_large": True, "words": self.msg.example_too_large}
        ex = self.a.example
        if ex is None:
            return None
        fmt = number_latex
        rows = [
            (
                self.p(s),
                fmt(v),
                self.p(g) if g is not None else "",
                fmt(gv) if gv is not None else "",
                fmt(updated) if updated is not None else "",
            )
            for s, v, g, gv, updated in ex.node_rows
        ]
        circuit = "" if self.layered else self._circuit(ex)
        out = {"rows": rows, "circuit": circuit, "too_large": False, "finite": ex.finite}
        out["units"] = []
        if ex.layers:
            out.update(self._layered_example(ex))
        return out

    def _layered_example(self, ex) -> dict:
        """A layered network's example: a row per unit (z, a and delta side by side, layer by
        layer), the targets, and a row per parameter (value, gradient, value after one update)."""
        fmt = number_latex
        pair = lambda cell: (self.p(cell[0]), fmt(cell[1])) if cell else ("", "")  # noqa: E731
        units = [[(*pair(z), *pair(a), *pair(d)) for z, a, d in layer.units] for layer in ex.layers[1:]]
        if self.brief:  # a handout: the first unit of each layer, as in its equations
            units = [rows[:1] for rows in units]
        given = [f"${self.p(a[0])} = {fmt(a[1])}$" for _, a, _ in ex.layers[0].units]
        targets = [f"${self.p(t)} = {fmt(v)}$" for layer in ex.layers for t, v in layer.targets]
        shown = None  # a brief handout: the parameters of its representative equations
        if self.brief:
            shown = {eq.target for eq in self.a.equations if eq.level == "representative"}
        params = [
            (self.p(leaf), fmt(ex.values[leaf.name]), self.p(g), fmt(v), fmt(updated))
            for leaf, g, v, updated in ex.gradients
            if updated is not None and (shown is None or leaf in shown)
        ]
        inputs = [f"${self.p(g)} = {fmt(v)}$" for leaf, g, v, updated in ex.gradients if updated is None]
        m = self.msg
        data = m.example_data_one if ex.rows_in_data == 1 else m.example_data_first.format(m=ex.rows_in_data)
        if shown is not None:
            data += " " + m.example_brief
        return {
            "units": units,
            "inputs": m.inputs_line.format(values=m.list_separator.join(given)),
            "targets": m.targets.format(values=m.list_separator.join(targets)),
            "params": params,
            "input_gradients": m.input_gradients.format(values=m.list_separator.join(inputs)) if inputs else "",
            "data_words": data.format(rate=f"${self.p(self.d.names.learning_rate())} = {self.net.learning_rate:g}$"),
        }

    def _circuit(self, ex) -> str:
        layout = self.circuit_layout(ex)  # too crowded for its numbers: no picture, no words about one
        return layout.tikz if layout.labelled else ""

    def circuit_layout(self, ex) -> diagram.Layout:
        """The worked example's circuit: names, operators, values, and each wire's own gradient."""
        net = self.net
        nodes = [(s.name, "input", self.p(s)) for s in net.leaves]
        names = {n.name: self.p(n) for n in net.nodes}  # a word prints upright already (\\mathrm{dot})
        nodes += [
            (n.name, "output" if n == net.objective else "gate", _gate_label(e, names[n.name]))
            for n, e in net.nodes.items()
        ]
        names = {name: text for name, _, label in nodes if name in names and label != (text := names[name])}
        known = {n for n, _, _ in nodes}
        edges = [
            (s.name, n.name) for n, e in net.nodes.items() for s in sorted(e.free_symbols, key=str) if s.name in known
        ]
        shown = {k: number_latex(v) for k, v in ex.values.items() if k in known}
        grad_of = {k: number_latex(v) for k, v in ex.gradient_of.items()}
        grad_of[net.objective.name] = "1"
        flows = {edge: number_latex(v) for edge, v in ex.edge_gradients.items()}
        return diagram.graph_layout(nodes, edges, shown, grad_of, names, flows)

    # --- the network picture --------------------------------------------------------------
    def picture(self) -> str:
        layout = self._picture_layout
        return layout.tikz if layout is not None else ""

    def picture_labelled(self) -> bool:
        """Whether the network picture carries the weights on its edges (small enough layers)."""
        layout = self._picture_layout
        return layout is not None and layout.labelled

    @cached_property
    def _picture_layout(self) -> diagram.Layout | None:
        if self.sequential:  # the layer stack with its shapes
            return layer_stack(self.net, self.msg, self.lang)
        if not self.layered:
            return None
        net, names = self.net, self.d.names
        if net.unit_count > 30:
            return None
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
        # a handout's picture: the units, not every weight
        return diagram.layered_layout(layers, edges, biases=biases, edge_labels=not self.brief, caption_layers=captions)

    def d2l(self) -> dict | None:
        """d2l notation's own sections: its computational graph, its backward pass with prod, memory."""
        if not self.layered:
            return None
        graph = self.d.graph
        leading = frozenset((*graph.constants, graph.learning_rate_symbol))
        names, vectors = dict(self.d.latex_names), frozenset(self.d.names.vectors)
        return d2l_sections(self.a, names, vectors, leading, self.msg, self.lang)

    def batch_algorithm(self) -> dict | None:
        """UFLDL's batch gradient descent (layer notation); steps 2 and 3 point to the numbered
        matrix-form equations that do them and to their lines in train.py."""
        if not self.layered or self.net.notation != "layer" or self.brief:
            return None
        m = self.msg

        def traced(kind: str) -> list[tuple[int, str, list[tuple[str, int]]]]:
            return [
                (eq.number, eq.label, self.locations.get(eq.number, []))
                for eq in self.a.equations
                if eq.level == "tensor" and eq.kind == kind and eq.target in self.d.graph.trainable
            ]

        rate, decay = f"{self.net.learning_rate:g}", f"{self.net.weight_decay:g}"
        return {
            "words": m.batch_algorithm_words.format(),
            "steps": [
                (m.batch_step_zero.format(), []),
                (m.batch_step_each.format(), traced("gradient")),
                (m.batch_step_update.format(rate=rate, decay=decay), traced("update")),
            ],
            "after": [m.batch_repeat, m.batch_init.format(scale=f"{self.net.init_scale:g}", seed=self.net.seed)],
        }

    def appendix(self) -> list[tuple[int, str, list[tuple[str, int]]]]:
        """(number, label, [(function, line), ...]) for every equation train.py computes; none in
        a brief handout."""
        if self.brief:
            return []
        labels = {eq.number: eq.label for eq in self.a.equations}
        return [(n, labels[n], self.locations[n]) for n in sorted(self.locations)]

    def intro(self) -> list[str]:
        m = self.msg
        if self.sequential:
            words = self._sequence_words
            return [self._layers_intro(), *(words["notation"] if words else [self._layers_notation()])]
        if self.layered:
            sizes = "–".join(map(str, self.net.sizes))
            acts = m.list_separator.join(ACTIVATIONS[a].description[self.lang] for a in self.net.activations)
            loss = LOSSES[self.net.loss].title[self.lang]
            objective = m.d2l_objective if self.net.weight_decay else m.d2l_objective_no_decay
            d2l = m.d2l_notation.replace("{objective}", objective)  # its maths has braces: no str.format
            notation = {"node": m.node_notation, "d2l": d2l}.get(self.net.notation, m.layer_notation)
            return [m.layered_intro.format(sizes=sizes, activations=tex_escape(acts), loss=tex_escape(loss)), notation]
        return [m.graph_intro, m.graph_notation]

    def _layers_intro(self) -> str:
        """The layers one by one (type, size, activation), the input's shape and the loss."""
        m, lang = self.msg, self.lang
        records = {**CONV_LAYER_OPS, **SEQUENCE_LAYER_OPS, "dense": LAYER_OPS["linear"]}

        def one(layer) -> str:
            name = records[layer.type].description[lang]
            size = {
                "dense": f"{layer.units}",
                "conv2d": f"{layer.channels} x {layer.kernel} x {layer.kernel}, s = {layer.step}, p = {layer.padding}",
                "maxpool2d": f"{layer.size} x {layer.size}, s = {layer.step}",
                "avgpool2d": f"{layer.size} x {layer.size}, s = {layer.step}",
                "dropout": f"p = {layer.rate:g}",
                "rnn": f"{layer.units}, {layer.returns}",
                "lstm": f"{layer.units}, {layer.returns}",
                "gru": f"{layer.units}, {layer.returns}",
                "attention": f"d_k = {layer.dim}" + (", causal" if layer.causal else ""),
            }.get(layer.type, "")
            if layer.type == "residual":
                size = m.list_separator.join(one(part) for part in layer.body)
            act = layer.activation if layer.type in ACTIVATED_LAYERS else ""
            extra = [x for x in (size, ACTIVATIONS[act].description[lang] if act and act != "identity" else "") if x]
            return name + (f" ({'; '.join(extra)})" if extra else "")

        layers = m.list_separator.join(one(layer) for layer in self.net.layers)
        shape = " x ".join(map(str, self.net.input_shape))
        loss = LOSSES[self.net.loss].title[lang]
        return m.layers_intro.format(layers=tex_escape(layers), shape=shape, loss=tex_escape(loss))


_GATES = {
    sympy.Add: "+",
    sympy.Mul: r"\times",
    sympy.Max: r"\max",
    sympy.Min: r"\min",
    sympy.exp: r"\exp",
    sympy.log: r"\log",
}


def _gate_label(expr: sympy.Expr, name: str) -> str:
    """The operator of a gate whose inputs are named values, else the node's own name."""
    if expr.is_Pow and expr.base.is_Symbol and expr.exp.is_Integer:  # CS231n's 1/x gate, a square
        return "1/x" if expr.exp == -1 else rf"x^{{{expr.exp}}}"
    numbers = [a for a in expr.args if a.is_Number]
    if (expr.is_Add or expr.is_Mul) and len(numbers) == 1 and all(a.is_Symbol or a.is_Number for a in expr.args):
        c, text = numbers[0], sympy.latex(numbers[0])  # a constant is part of the gate: CS231n's +1 and *-1
        if expr.is_Add:
            return f"+{text}" if c > 0 else text
        return rf"\times{{{text}}}"
    if all(a.is_Symbol or a.is_Number for a in expr.args):
        label = _GATES.get(expr.func) or getattr(expr.func, "latex_name", "")
        if not label:
            act = elementwise_activations().get(expr.func)
            label = act.latex if act is not None else ""
        if label:
            return label
    return name


INDEX_TENSOR_ONLY = ("maxpool2d", "avgpool2d", "batchnorm", "layernorm")


def _routed_by_window(layer) -> bool:
    """Max pooling whose windows do not overlap: its error term has an index form, one window
    per entry (registry MaxPool2dInput.index_form)."""
    return layer.type == "maxpool2d" and (layer.stride or layer.size) == layer.size


def context(analysis: Analysis, locations: dict[int, list[tuple[str, int]]], lang: str = "en") -> dict:
    """Everything the templates need, printed."""
    b = _Builder(analysis, locations, lang)
    net = b.net
    graph_only = not b.layered and not b.graph.trainable  # nothing trained: gradients, no updates
    return {
        "network_heading": b.msg.network if b.layered or b.sequential else b.msg.graph_heading,
        "teaching": None if b.layered or b.sequential else graph_teaching(analysis, b.p, number_latex, b.msg),
        "trained": not graph_only,
        "backward_values": b.msg.graph_backward_values if not b.layered else b.msg.backward_values,
        "lang": lang,
        "msg": b.msg,
        "name": net.name,
        "title": (net.title_zh if lang == "zh" and net.title_zh else net.title) or net.name,
        "intro": b.intro(),
        "picture": b.picture(),
        "weights_words": b.msg.layers_stack_words
        if b.sequential
        else (b.msg.weights_words if net.bias else b.msg.weights_words_no_bias)
        if b.picture_labelled()
        else "",
        "tikz_libraries": diagram.TIKZ_LIBRARIES,
        "parts": b.parts(),
        "index": b.index_section() if b.sequential else None,
        "lemmas": b.lemmas(),
        "example": b.example(),
        "gates": not b.layered and not b.sequential,
        "appendix": b.appendix(),
        "batch": b.batch_algorithm(),
        "d2l": b.d2l(),
        "brief": b.brief,
        "large": b.msg.large_words.format(units=net.unit_count) if analysis.unit is None and b.layered else "",
    }


SUMMARY_LIMIT = 40


def summary_latex(analysis: Analysis) -> str:
    """The error-term and gradient equations, numbered, in one ``$$ aligned $$`` display."""
    b = _Builder(analysis, {}, "en")
    chosen = [eq for eq in analysis.equations if eq.kind in ("delta", "gradient")]
    rows = [rf"{b.p(eq.lhs)} &= {b.p(eq.rhs)} && ({eq.number})" for eq in chosen[:SUMMARY_LIMIT]]
    return "$$\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}$$"


def latex_document(analysis: Analysis, locations: dict[int, list[tuple[str, int]]], lang: str = "en") -> str:
    """The LaTeX source of the derivation document."""
    return render("latex/derivation.tex.j2", **context(analysis, locations, lang))


NO_FIGURES = {"picture": "", "circuit": "", "d2l_graph": "", "conv": ""}


def markdown_document(analysis: Analysis, locations: dict[int, list[tuple[str, int]]], lang: str = "en") -> str:
    """The Markdown version: the same content, maths in ``$$`` blocks, no pictures (no files)."""
    return render("markdown/derivation.md.j2", **context(analysis, locations, lang), figures=NO_FIGURES)


@dataclass(frozen=True)
class MarkdownDocument:
    """The Markdown text and the pictures it links to: file name beside the .md -> tikzpicture."""

    text: str
    figures: dict[str, str]


def markdown_with_figures(
    analysis: Analysis, locations: dict[int, list[tuple[str, int]]], lang: str = "en", stem: str = "derivation"
) -> MarkdownDocument:
    """The Markdown version with its pictures as ``<stem>.fig<k>.svg`` images (k from 1, in the
    order they appear); the caller turns each picture's TikZ into that file."""
    ctx = context(analysis, locations, lang)
    example = ctx["example"] or {}
    names, figures = dict(NO_FIGURES), {}
    d2l = ctx["d2l"] or {}
    for slot, tikz in (
        ("picture", ctx["picture"]),
        ("d2l_graph", d2l.get("graph", "")),
        ("circuit", example.get("circuit", "")),
        ("conv", example.get("conv", "")),
    ):
        if tikz:
            names[slot] = f"{stem}.fig{len(figures) + 1}.svg"
            figures[names[slot]] = tikz
    return MarkdownDocument(render("markdown/derivation.md.j2", **ctx, figures=names), figures)
