"""Derivation -> template context -> ``derivation.tex``.

All mathematics is printed by :class:`NotationLatexPrinter`; the template arranges the
numbered equations in sections. Names and titles from the spec pass the TeX-escaping
filter in the template, so a spec cannot inject commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from symbackprop.equations import Equation
from symbackprop.network import LayeredNetwork
from symbackprop.render.environment import render
from symbackprop.render.printers import NotationLatexPrinter

SECTIONS = (
    ("forward", "Forward pass"),
    ("loss", "Objective"),
    ("delta", "Error terms"),
    ("gradient", "Gradients"),
    ("update", "Gradient-descent updates"),
)


@dataclass(frozen=True)
class PrintedEquation:
    number: int
    label: str
    lhs: str
    relation: str
    rhs: str


def _printed(eqs: list[Equation], printer: NotationLatexPrinter) -> list[PrintedEquation]:
    return [
        PrintedEquation(
            eq.number, eq.label, printer.doprint(eq.lhs), r"\leftarrow" if eq.update else "=", printer.doprint(eq.rhs)
        )
        for eq in eqs
    ]


def _sections(eqs: list[Equation], printer: NotationLatexPrinter) -> list[tuple[str, list[PrintedEquation]]]:
    out = []
    for key, heading in SECTIONS:
        chosen = [eq for eq in eqs if eq.section == key]
        if chosen:
            out.append((heading, _printed(chosen, printer)))
    return out


def latex_document(derivation) -> str:
    """The LaTeX source of a derivation's equation listing."""
    net = derivation.network
    equations = derivation.equations
    layer_eqs = [eq for eq in equations if not eq.key.startswith("unit-")]
    unit_eqs = [eq for eq in equations if eq.key.startswith("unit-")]
    layered = isinstance(net, LayeredNetwork)
    printer = NotationLatexPrinter(
        derivation.latex_names, frozenset(derivation.names.vectors) if layered else frozenset()
    )
    if layered:
        summary = (
            f"Sizes {', '.join(map(str, net.sizes))}; activations {', '.join(net.activations)}; "
            f"loss {net.loss.replace('_', ' ')}; weight decay {net.weight_decay:g}; {net.notation} notation."
        )
    else:
        summary = f"Objective {net.objective.name}; {len(net.nodes)} nodes."
    return render(
        "latex/derivation.tex.j2",
        name=net.name,
        title=net.title or net.name,
        summary=summary,
        matrix_form=layered,
        sections=_sections(layer_eqs, printer),
        unit_sections=_sections(unit_eqs, printer),
    )
