"""Derivation -> template context -> ``train.py`` text.

Every line of code that computes an equation is printed from that equation by the NumPy
printer and carries its number (``# eq. (7)``), so the module can be read against
derivation.tex. Layered networks use their layer equations (vectorised over the batch);
expression networks use one line per node. The template only arranges the lines.
"""

from __future__ import annotations

from typing import Iterable

import sympy
from sympy import Symbol

from symbackprop.equations import Equation
from symbackprop.network import GraphNetwork, LayeredNetwork
from symbackprop.numeric import helper_source
from symbackprop.render.environment import render
from symbackprop.render.printers import NotationNumPyPrinter
from symbackprop.render.pyformat import assignment

INDENT = "    "
DELTA_SECTIONS = ("delta", "delta-output", "delta-hidden")


def numpy_module(derivation) -> str:
    """The generated training module of a derivation, as text."""
    net = derivation.network
    context = _layered_context(derivation) if isinstance(net, LayeredNetwork) else _graph_context(derivation)
    return render("numpy/train.py.j2", **context)


def helpers_needed(exprs: Iterable[sympy.Expr]) -> set[str]:
    """Names of the :mod:`symbackprop.numeric` kernels the printed expressions call."""
    names: set[str] = set()
    for expr in exprs:
        for node in sympy.preorder_traversal(expr):
            names.update(getattr(node, "numpy_helpers", ()))
            if isinstance(node, sympy.Heaviside):
                names.add("unit_step")
    return names


def _lines(equations: Iterable[Equation], printer: NotationNumPyPrinter) -> list[str]:
    out: list[str] = []
    for eq in equations:
        rhs = eq.code_rhs if eq.code_rhs is not None else eq.rhs
        out += assignment(INDENT, eq.code_name, printer.doprint(rhs), f"eq. ({eq.number})")
    return out


def _update_lines(equations: list[Equation], lr_symbol: Symbol) -> list[str]:
    out: list[str] = []
    for eq in equations:
        p = eq.code_name
        names = {Symbol(p): f'values["{p}"]', lr_symbol: "lr", Symbol(f"grad_{p}"): f'grads["{p}"]'}
        rhs = NotationNumPyPrinter(names).doprint(eq.code_rhs if eq.code_rhs is not None else eq.rhs)
        out += assignment(INDENT, f'new["{p}"]', rhs, f"eq. ({eq.number})")
    return out


def _tuple_lines(name: str, items: Iterable[str]) -> list[str]:
    """``NAME = ("a", "b")``, one item a line when too long (black's layout)."""
    items = [f'"{i}"' for i in items]
    one = f"{name} = ({', '.join(items)}{',' if len(items) == 1 else ''})"
    if len(one) <= 88:
        return [one]
    return [f"{name} = ("] + [f"    {i}," for i in items] + [")"]


def _reads(names: Iterable[str], used: set[str], source: str, batched: bool) -> list[str]:
    """Local variables for the names the following lines use, read from ``source``."""
    out = []
    for n in names:
        if n in used:
            value = f'{source}["{n}"]'
            out.append(
                f"{INDENT}{n} = np.asarray({value}, dtype=float)"
                if batched and source == "values"
                else f"{INDENT}{n} = {value}"
            )
    return out


def _used(equations: Iterable[Equation]) -> set[str]:
    names: set[str] = set()
    for eq in equations:
        rhs = eq.code_rhs if eq.code_rhs is not None else eq.rhs
        names.update(s.name for s in rhs.free_symbols)
    return names


def _select(equations: list[Equation], *sections: str) -> list[Equation]:
    """The equations of the given sections that code implements (layer-level, not per unit)."""
    return [eq for eq in equations if eq.section in sections and not eq.key.startswith("unit-")]


def _common(
    derivation,
    forward_sections: tuple[str, ...],
    printer: NotationNumPyPrinter,
    lr_symbol: Symbol,
    roles: dict,
    leaves: tuple[str, ...],
    batched: bool,
) -> dict:
    """What both kinds of module share: names, the numbered lines, reads and returns."""
    net, equations = derivation.network, derivation.equations
    forward = _select(equations, *forward_sections)
    backward = _select(equations, *DELTA_SECTIONS, "gradient")
    forward_names = [eq.code_name for eq in forward]
    exprs = [eq.code_rhs if eq.code_rhs is not None else eq.rhs for eq in forward + backward]
    return {
        "name_lines": [
            line
            for role in ("parameters", "trainable", "inputs", "targets")
            for line in _tuple_lines(role.upper(), roles[role])
        ],
        "name": net.name,
        "title": net.title,
        "batched": batched,
        "helpers_used": helpers_needed(exprs),
        "forward_reads": _reads(leaves, _used(forward), "values", batched),
        "backward_reads": _reads(leaves, _used(backward), "values", batched)
        + _reads(forward_names, _used(backward), "_fwd", batched),
        "forward_lines": _lines(forward, printer),
        "forward_returns": forward_names,
        "backward_lines": _lines(backward, printer),
        "update_lines": _update_lines(_select(equations, "update"), lr_symbol),
        "learning_rate": repr(float(net.learning_rate)),
        "epochs": net.epochs,
    }


def _layered_context(derivation) -> dict:
    net: LayeredNetwork = derivation.network
    names = derivation.names
    printer = NotationNumPyPrinter({names.weight_decay(): "WEIGHT_DECAY"})
    params = net.parameter_names
    roles = {"parameters": params, "trainable": params, "inputs": ("x",), "targets": ("t",)}
    context = _common(derivation, ("forward", "loss"), printer, names.learning_rate(), roles, ("x", "t", *params), True)
    deltas = _select(derivation.equations, *DELTA_SECTIONS)
    context.update(
        objective=names.objective().name,
        helpers=helper_source(context.pop("helpers_used")),
        constants=[
            ("WEIGHT_DECAY", repr(float(net.weight_decay))),
            ("SEED", str(net.seed)),
            ("INIT_SCALE", repr(float(net.init_scale))),
        ],
        gradient_returns=[(leaf, f"grad_{leaf}") for leaf in ("x", *params)],
        delta_returns=[(f"delta_{names.net_vec(_layer_of(eq)).name}", eq.code_name) for eq in deltas],
        initial_lines=_layered_initial_lines(net),
    )
    return context


def _layer_of(eq: Equation) -> int:
    """Layer number of a layer delta equation (key ``delta-<layer>``)."""
    return int(eq.key.rsplit("-", 1)[1])


def _array_lines(target: str, rows: list[list[float]]) -> list[str]:
    """``target = np.array([...])`` exploded one row a line, with trailing commas (black-stable)."""
    lines = [f"{INDENT}{target} = np.array(", f"{INDENT * 2}["]
    for row in rows:
        numbers = [repr(float(v)) for v in row]
        one = f"{INDENT * 3}[{', '.join(numbers)}],"
        if len(one) <= 88:
            lines.append(one)
        else:
            lines += [f"{INDENT * 3}["] + [f"{INDENT * 4}{n}," for n in numbers] + [f"{INDENT * 3}],"]
    return lines + [f"{INDENT * 2}]", f"{INDENT})"]


def _layered_initial_lines(net: LayeredNetwork) -> list[str]:
    lines = [f"{INDENT}rng = np.random.default_rng(SEED)", f"{INDENT}values = {{}}"]
    for name, shape in net.parameter_shapes().items():
        lines += assignment(INDENT, f'values["{name}"]', f"rng.normal(0.0, INIT_SCALE, {shape!r})")
    if net.example:
        lines += _array_lines('values["x"]', net.example["x"])
        lines += _array_lines('values["t"]', net.example["t"])
    else:
        n_in, n_out = net.sizes[0], net.sizes[-1]
        lines += assignment(INDENT, 'values["x"]', f"rng.normal(0.0, 1.0, (8, {n_in}))")
        if net.loss == "cross_entropy":
            lines += assignment(INDENT, 'values["t"]', f"np.eye({n_out})[rng.integers(0, {n_out}, 8)]")
        else:
            lines += assignment(INDENT, 'values["t"]', f"rng.uniform(0.0, 1.0, (8, {n_out}))")
    return lines + [f"{INDENT}return values"]


def _graph_context(derivation) -> dict:
    net: GraphNetwork = derivation.network
    printer = NotationNumPyPrinter({s: "WEIGHT_DECAY" for s in net.constants})
    roles = {
        "parameters": [s.name for s in net.parameters],
        "trainable": [s.name for s in net.trainable],
        "inputs": [s.name for s in net.inputs],
        "targets": [s.name for s in net.targets],
    }
    leaves = tuple(s.name for s in net.leaves)
    context = _common(derivation, ("forward", "loss"), printer, net.learning_rate_symbol, roles, leaves, False)
    initial = {
        **{s.name: 0.0 for s in net.leaves},
        **{s.name: v for s, v in net.parameters.items()},
        **{s.name: v for s, v in net.example.items()},
    }
    context.update(
        objective=net.objective.name,
        helpers=helper_source(context.pop("helpers_used") | {"unbroadcast"}),
        constants=[],
        gradient_returns=[
            (s.name, f'unbroadcast(grad_{s.name}, _shape, np.shape(values["{s.name}"]))')
            for s in (*net.inputs, *net.parameters)
        ],
        delta_returns=[(eq.code_name, eq.code_name) for eq in _select(derivation.equations, *DELTA_SECTIONS)],
        initial_lines=[f"{INDENT}return {{"]
        + [f'{INDENT}    "{k}": {float(v)!r},' for k, v in initial.items()]
        + [f"{INDENT}}}"],
    )
    return context
