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


def _common(derivation, equations: list[Equation], lr_symbol: Symbol, context_names: dict) -> dict:
    net = derivation.network
    return {
        "name_lines": _tuple_lines("PARAMETERS", context_names["parameters"])
        + _tuple_lines("TRAINABLE", context_names["trainable"])
        + _tuple_lines("INPUTS", context_names["inputs"])
        + _tuple_lines("TARGETS", context_names["targets"]),
        "name": net.name,
        "title": net.title,
        "update_lines": _update_lines(_select(equations, "update"), lr_symbol),
        "learning_rate": repr(float(net.learning_rate)),
        "epochs": net.epochs,
    }


def _layered_context(derivation) -> dict:
    net: LayeredNetwork = derivation.network
    names = derivation.names
    equations = derivation.equations
    printer = NotationNumPyPrinter({names.weight_decay(): "WEIGHT_DECAY"})
    forward = _select(equations, "forward", "loss")
    backward = _select(equations, *DELTA_SECTIONS, "gradient")
    exprs = [eq.code_rhs if eq.code_rhs is not None else eq.rhs for eq in forward + backward]
    leaves = ("x", "t", *net.parameter_names)
    roles = {"parameters": net.parameter_names, "trainable": net.parameter_names, "inputs": ("x",), "targets": ("t",)}
    context = _common(derivation, equations, names.learning_rate(), roles)
    forward_names = [eq.code_name for eq in forward]
    context.update(
        batched=True,
        forward_reads=_reads(leaves, _used(forward), "values", True),
        backward_reads=_reads(leaves, _used(backward), "values", True)
        + _reads(forward_names, _used(backward), "_fwd", True),
        objective=names.objective().name,
        helpers=helper_source(helpers_needed(exprs)),
        constants=[
            ("WEIGHT_DECAY", repr(float(net.weight_decay))),
            ("SEED", str(net.seed)),
            ("INIT_SCALE", repr(float(net.init_scale))),
        ],
        forward_lines=_lines(forward, printer),
        forward_returns=forward_names,
        backward_lines=_lines(backward, printer),
        gradient_returns=[(leaf, f"grad_{leaf}") for leaf in ("x", *net.parameter_names)],
        delta_returns=[
            (f"delta_{names.net_vec(_layer_of(eq)).name}", eq.code_name) for eq in _select(equations, *DELTA_SECTIONS)
        ],
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
    equations = derivation.equations
    printer = NotationNumPyPrinter({s: "WEIGHT_DECAY" for s in net.constants})
    forward = _select(equations, "forward")
    backward = _select(equations, *DELTA_SECTIONS, "gradient")
    exprs = [eq.rhs for eq in forward + backward]
    leaves = tuple(s.name for s in net.leaves)
    initial = {
        **{s.name: 0.0 for s in net.leaves},
        **{s.name: v for s, v in net.parameters.items()},
        **{s.name: v for s, v in net.example.items()},
    }
    roles = {
        "parameters": [s.name for s in net.parameters],
        "trainable": [s.name for s in net.trainable],
        "inputs": [s.name for s in net.inputs],
        "targets": [s.name for s in net.targets],
    }
    context = _common(derivation, equations, net.learning_rate_symbol, roles)
    forward_names = [eq.code_name for eq in forward]
    context.update(
        batched=False,
        forward_reads=_reads(leaves, _used(forward), "values", False),
        backward_reads=_reads(leaves, _used(backward), "values", False)
        + _reads(forward_names, _used(backward), "_fwd", False),
        objective=net.objective.name,
        helpers=helper_source(helpers_needed(exprs) | {"unbroadcast"}),
        constants=[],
        forward_lines=_lines(forward, printer),
        forward_returns=forward_names,
        backward_lines=_lines(backward, printer),
        gradient_returns=[
            (s.name, f'unbroadcast(grad_{s.name}, _shape, np.shape(values["{s.name}"]))')
            for s in (*net.inputs, *net.parameters)
        ],
        delta_returns=[(eq.code_name, eq.code_name) for eq in _select(equations, *DELTA_SECTIONS)],
        initial_lines=[f"{INDENT}return {{"]
        + [f'{INDENT}    "{k}": {float(v)!r},' for k, v in initial.items()]
        + [f"{INDENT}}}"],
    )
    return context
