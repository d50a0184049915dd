"""Derivation -> ``train.py`` text and the line of it that computes each equation.

The module is written against the Python array API standard: it takes the namespace ``xp``
from the arrays it is given (NumPy by default, PyTorch through array-api-compat, JAX, CuPy) and
never changes their dtype. Every line that computes an equation is printed from that equation
by :class:`~symbackprop.backends.printers.ArrayPrinter` and cites its number (``# eq. (7)``).

Three functions share the printed lines, each doing only the work it needs:

* ``forward`` — the forward pass and the objective;
* ``backward`` — the forward values the error terms use, the error terms, the gradients (input
  gradients only when asked);
* ``step`` — one training step with one forward pass: the objective (before the update), the
  error terms, the batch *sums* of the per-example gradients, and updates with the 1/m and the
  weight decay folded in (W <- (1 - alpha lambda) W - (alpha/m) sum_i delta_i a_i^T).

Where a loss takes the log of a softmax or sigmoid output, the forward pass computes the stable
log first and the output as its exp, which is no more work and serves both (registry:
``log_output``, ``from_log``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import sympy
from sympy import Symbol

from symbackprop.backends.environment import render
from symbackprop.backends.printers import ArrayPrinter
from symbackprop.backends.pyformat import LINE_LENGTH, assignment
from symbackprop.backends.runtime import helper_source
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.calculus.sequential import SequentialDerivation
from symbackprop.registry import ACTIVATIONS, TensorFunction, code_form, kernel_source, loss, real

INDENT = "    "
TARGETS = ("numpy", "jax")


@dataclass(frozen=True)
class GeneratedModule:
    """The module's text, and for each equation number the (function, line) that computes it."""

    text: str
    locations: dict[int, list[tuple[str, int]]]


@dataclass
class _Line:
    """One statement: a variable, the expression it gets, the names it reads, its equation."""

    name: str
    expr: sympy.Expr
    number: int
    reads: set[str] = field(default_factory=set)

    def __post_init__(self):
        self.reads = {s.name for s in self.expr.free_symbols}


@dataclass
class _Function:
    """A function body: reads of ``values``, statements, and the lines they print as."""

    name: str
    printed: list[tuple[list[str], tuple[int, ...]]] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)  # prerequisites computed so far

    def emit(self, target: str, code: str, numbers: Iterable[int] = (), indent: str = INDENT) -> None:
        """``target = code``, laid out as ruff does, citing the equations it computes."""
        numbers = tuple(numbers)
        comment = ", ".join(f"eq. ({n})" for n in numbers)
        self.printed.append((assignment(indent, target, code, comment), numbers))

    def raw(self, text: str, numbers: tuple[int, ...] = ()) -> None:
        """A line as it is; ``numbers`` the equations it computes, if any (it cites them)."""
        self.printed.append(([text], numbers))

    @property
    def lines(self) -> list[str]:
        return [line for lines, _ in self.printed for line in lines]


def _bare(code: str) -> str:
    """A right-hand side without parentheses around all of it (``(delta @ W)`` alone, which an
    op prints so for the products it is usually part of)."""
    if not (code.startswith("(") and code.endswith(")")):
        return code
    depth = 0
    for i, char in enumerate(code):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and i < len(code) - 1:
            return code  # the first parenthesis closes before the end: (a) * (b)
    return code[1:-1]


def _kernels_used(exprs: Iterable[sympy.Expr]) -> set[str]:
    """Names of the registry kernels the printed expressions call."""
    names: set[str] = set()
    for expr in exprs:
        for node in sympy.preorder_traversal(expr):
            form = code_form(type(node)) if isinstance(node, sympy.Function) else None
            if form is not None and form[0] == "kernel":
                names.add(form[1].__name__)
    return names


def _fits(target: str, code: str) -> bool:
    return all(len(line) <= LINE_LENGTH for line in assignment(INDENT, target, code, "eq. (99)"))


def _short(name: str, expr: sympy.Expr, code) -> list[tuple[str, sympy.Expr]]:
    """``name = expr`` as statements that fit a line: the longest factor of a product too long
    to wrap gets a variable of its own (``delta2_1 = ...``), until every statement fits."""
    statements: list[tuple[str, sympy.Expr]] = []
    count = 0
    while not _fits(name, code(expr)) and expr.is_Mul and len(expr.args) > 1:
        factor = max(expr.args, key=lambda f: len(code(f)))
        count += 1
        part = f"{name}_{count}"
        statements += _short(part, factor, code)
        expr = expr.xreplace({factor: Symbol(part, real=True)})
    return statements + [(name, expr)]


def _needed(lines: list[_Line], wanted: set[str]) -> list[_Line]:
    """The lines ``wanted`` depends on, in order."""
    keep = []
    for line in reversed(lines):
        if line.name in wanted:
            keep.append(line)
            wanted |= line.reads
    return list(reversed(keep))


def _tuple_lines(name: str, items: Iterable[str]) -> list[str]:
    """``NAME = ("a", "b")``, one item a line when too long (black's layout)."""
    items = [f'"{i}"' for i in items]
    one = f"{name} = ({', '.join(items)}{',' if len(items) == 1 else ''})"
    if len(one) <= LINE_LENGTH:
        return [one]
    return [f"{name} = ("] + [f"    {i}," for i in items] + [")"]


class _Builder:
    """Shared by both kinds of network: printing, reads, the line map."""

    def __init__(self, printer: ArrayPrinter, leaves: tuple[str, ...]):
        self.printer = printer
        self.leaves = leaves

    def code(self, expr: sympy.Expr) -> str:
        return self.printer.doprint(expr)

    def emit(self, fn: _Function, target: str, code, numbers: tuple[int, ...], indent: str = INDENT) -> None:
        """``target = code()``, after the prerequisites the code names that ``fn`` has not
        computed yet (each cites the equations of the line that first needs it)."""
        self.printer.prerequisites = {}
        try:
            text = code()
            needed = self.printer.prerequisites
        finally:
            self.printer.prerequisites = None
        for name, prerequisite in needed.items():
            if name not in fn.defined:
                fn.emit(name, prerequisite, numbers, indent=indent)
                fn.defined.add(name)
        fn.emit(target, text, numbers, indent=indent)

    def reads(self, fn: _Function, used: set[str]) -> None:
        for leaf in self.leaves:
            if leaf in used:
                fn.raw(f'{INDENT}{leaf} = values["{leaf}"]')

    def statements(self, fn: _Function, lines: list[_Line]) -> None:
        for line in lines:
            for name, expr in _short(line.name, line.expr, self.code):
                self.emit(fn, name, lambda e=expr: _bare(self.code(e)), (line.number,))


def _locations(text: str, functions: list[_Function]) -> dict[int, list[tuple[str, int]]]:
    """Where each equation's statement starts: the emitted statements found, in order, in the
    rendered text (every one must be found; the template only arranges them)."""
    expected = [
        (fn.name, lines[0] if not lines[0].lstrip().startswith("# eq.") else lines[1], numbers)
        for fn in functions
        for lines, numbers in fn.printed
        if numbers
    ]
    found: dict[int, list[tuple[str, int]]] = {}
    i = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if i < len(expected) and line == expected[i][1]:
            for n in expected[i][2]:
                found.setdefault(n, []).append((expected[i][0], number))
            i += 1
    if i != len(expected):
        raise AssertionError(f"generated statement not found in the module: {expected[i][1]!r}")
    return found


def generate(derivation, target: str = "numpy") -> GeneratedModule:
    """The training module of a derivation, for the array API (``target="jax"`` also jit-compiles
    ``step``)."""
    if target not in TARGETS:
        raise ValueError(f"no code target {target!r}; known: {', '.join(TARGETS)}")
    if isinstance(derivation, LayeredDerivation):
        context, functions = _tensor_module(_layered_plan(derivation))
    elif isinstance(derivation, SequentialDerivation):
        context, functions = _tensor_module(_sequential_plan(derivation))
    else:
        context, functions = _graph_module(derivation)
    context["jax"] = target == "jax"
    for fn in functions:
        context[fn.name] = fn.lines
    text = render("python/train.py.j2", **context)
    return GeneratedModule(text, _locations(text, functions))


# --- batched (tensor) networks: fully connected, or a list of layers ----------------------------

LAYERED_LAYOUT = """arrays (x: (m, inputs), t: (m, outputs),
W<l>: (units of l+1, units of l), b<l>: (units of l+1,))."""
SEQUENTIAL_LAYOUT = """arrays in PyTorch's layouts (x: (m, *input), t: (m, outputs),
mask<l>: like layer l's input, 1 keeps an entry; W<l>: (out, in) or (out_channels,
in_channels, k, k), b<l>, gamma<l>, beta<l>: (out,), (channels,) or layer norm's input)."""


class _ZerosLike(sympy.Function):
    """A gradient that is 0 (no path from the parameter to the objective), as zeros of its shape."""

    nargs = 1

    def _arraycode(self, printer):
        return f"xp.zeros_like({printer._print(self.args[0])})"


@dataclass
class _TensorPlan:
    """What a batched module needs beyond its equations: leaves, constants, initial values."""

    equations: list  # the tensor-level equations, numbered
    decay: Symbol  # lambda, printed WEIGHT_DECAY
    batch: Symbol  # m
    inputs: tuple[Symbol, ...]  # x first; dropout masks after it
    parameters: tuple[str, ...]
    objective: str
    context: dict  # the template's: name, title, constants, initial lines, ...
    clip_norm: float = 0.0  # step clips the gradient to this global norm (0: no clipping)


def _tensor_module(plan: _TensorPlan) -> tuple[dict, list[_Function]]:
    equations = plan.equations
    by_kind = {k: [eq for eq in equations if eq.kind == k] for k in ("forward", "loss", "delta", "gradient", "update")}
    printer = ArrayPrinter({plan.decay: "WEIGHT_DECAY", plan.batch: "m"}, leading=frozenset({plan.decay}))
    params = plan.parameters
    build = _Builder(printer, (*(s.name for s in plan.inputs[:1]), "t", *(s.name for s in plan.inputs[1:]), *params))

    # forward lines; a loss that takes log(a) of an output computed "from its log" reads log_a
    objective_terms = [eq.rhs for eq in by_kind["loss"]]
    forward: list[_Line] = []
    logs: dict[sympy.Expr, sympy.Expr] = {}
    for eq in by_kind["forward"]:
        expr = eq.rhs
        act = _activation_of(expr)
        a = eq.target
        if act is not None and act.from_log and any(t.has(sympy.log(a)) for t in objective_terms):
            z = expr.args[0]
            log_a = Symbol(f"log_{a.name}", real=True)
            forward.append(_Line(log_a.name, act.log_output(z), eq.number))
            forward.append(_Line(a.name, sympy.exp(log_a), eq.number))
            logs[sympy.log(a)] = log_a
            if act.log_one_minus_output is not None:
                logs[sympy.log(1 - a)] = act.log_one_minus_output(z, log_a)
            continue
        forward.append(_Line(a.name, expr, eq.number))
    loss_lines = [_Line(eq.target.name, eq.rhs.xreplace(logs), eq.number) for eq in by_kind["loss"]]
    deltas = [_Line(eq.lhs.name, eq.rhs, eq.number) for eq in by_kind["delta"]]
    gradients = {eq.target: eq for eq in by_kind["gradient"]}
    input_gradients = [gradients.pop(x) for x in plan.inputs]
    grad_lines = [
        _Line(eq.lhs.name, eq.rhs if eq.rhs != 0 else _ZerosLike(leaf), eq.number) for leaf, eq in gradients.items()
    ]
    updates = {eq.target: eq for eq in by_kind["update"]}

    # forward()
    fwd = _Function("forward")
    everything = forward + loss_lines
    build.reads(fwd, set().union(*(line.reads for line in everything)))
    fwd.raw(f"{INDENT}xp = array_namespace(x)")
    fwd.raw(f"{INDENT}m = x.shape[0]")
    build.statements(fwd, everything)
    fwd.raw(f"{INDENT}return {{")
    for line in everything:
        fwd.raw(f'{INDENT * 2}"{line.name}": {line.name},')
    fwd.raw(f"{INDENT}}}")

    # backward(values, inputs=False)
    bwd = _Function("backward")
    wanted = set().union(
        *(line.reads for line in deltas + grad_lines),
        *({s.name for s in eq.rhs.free_symbols} for eq in input_gradients),
    )
    needed = _needed(forward, set(wanted))
    body = needed + deltas + grad_lines
    build.reads(bwd, set().union(*(line.reads for line in body), wanted))
    bwd.raw(f"{INDENT}xp = array_namespace(x)")
    bwd.raw(f"{INDENT}m = x.shape[0]")
    build.statements(bwd, body)
    bwd.raw(f"{INDENT}grads = {{")
    for leaf, eq in gradients.items():
        bwd.raw(f'{INDENT * 2}"{leaf.name}": {eq.lhs.name},')
    for line, eq in zip(deltas, by_kind["delta"]):
        bwd.raw(f'{INDENT * 2}"delta_{eq.target.name}": {line.name},')
    bwd.raw(f"{INDENT}}}")
    bwd.raw(f"{INDENT}if inputs:")
    for eq in input_gradients:
        target, mean = f'grads["{eq.target.name}"]', eq.rhs * plan.batch
        if _fits(target, build.code(eq.rhs)) or mean.has(plan.batch):
            build.emit(bwd, target, lambda e=eq.rhs: build.code(e), (eq.number,), INDENT * 2)
        else:  # a sum too long for one line (one term per time step): the sum, then the 1/m
            build.emit(bwd, target, lambda e=mean: _bare(build.code(e)), (eq.number,), INDENT * 2)
            bwd.raw(f"{INDENT * 2}{target} = {target} / m  # eq. ({eq.number})")
    bwd.raw(f"{INDENT}return grads")

    # step(values, lr=None): one forward pass, sums, folded updates
    stp = _Function("step")
    sums, update_code = [], []
    for leaf, eq in gradients.items():
        if leaf not in updates:
            continue
        batch = [t for t in sympy.Add.make_args(eq.rhs) if isinstance(t, TensorFunction) and t.batch_reduces]
        direct = sympy.Add(*(t for t in sympy.Add.make_args(eq.rhs) if t not in batch))
        sum_name = f"sum_{leaf.name}"
        zero = f"xp.zeros_like({leaf.name})"  # a weight no step uses (W_hh of one time step, h_0 = 0)
        sums.append(
            (sum_name, lambda batch=batch, zero=zero: " + ".join(t._sumcode(printer) for t in batch) or zero, eq.number)
        )
        update_code.append((leaf, sum_name, direct, updates[leaf].number))
    body = forward + loss_lines + deltas
    build.reads(stp, set().union(*(line.reads for line in body), {leaf.name for leaf in updates}))
    stp.raw(f"{INDENT}lr = LEARNING_RATE if lr is None else lr")
    stp.raw(f"{INDENT}xp = array_namespace(x)")
    stp.raw(f"{INDENT}m = x.shape[0]")
    build.statements(stp, body)
    for name, code, number in sums:
        build.emit(stp, name, code, (number,))
    stp.raw(f"{INDENT}new = dict(values)")
    if plan.clip_norm:
        _clipped_updates(stp, update_code, printer)
        update_code = []
    for leaf, sum_name, direct, number in update_code:
        # p - lr (sum/m + c p) = (1 - lr c) p - (lr/m) sum, computed in the sum's own array
        p = leaf.name
        kept = _kept_fraction(direct, leaf, printer)
        stp.raw(f"{INDENT}{sum_name} *= -lr / m  # eq. ({number})", (number,))
        stp.raw(f"{INDENT}{sum_name} += {f'{kept} * {p}' if kept else p}  # eq. ({number})")
        stp.raw(f'{INDENT}new["{p}"] = {sum_name}')
    objective = plan.objective
    stp.raw(f'{INDENT}new["{objective}"] = {objective}')
    stp.raw(f"{INDENT}return new")

    exprs = [line.expr for line in forward + loss_lines + deltas + grad_lines] + [eq.rhs for eq in input_gradients]
    context = {
        "batched": True,
        "objective": objective,
        "name_lines": _name_lines(params, params, tuple(s.name for s in plan.inputs), ("t",)),
        "helpers": helper_source({"array_namespace"}).rstrip(),
        "kernels": kernel_source(_kernels_used(exprs) | ({"squared_norm"} if plan.clip_norm else set())).rstrip(),
        "masks": [],
        **plan.context,
    }
    return context, [fwd, bwd, stp]


def _clipped_updates(fn: _Function, update_code: list, printer: ArrayPrinter) -> None:
    """The updates with the gradient clipped to the global norm CLIP_NORM, as PyTorch's
    ``clip_grad_norm_`` clips it: g <- g min(1, CLIP_NORM / (||g|| + 1e-6)), ||g|| over every
    parameter's gradient (weight decay's term included), then p <- p - lr g."""
    numbers = tuple(number for *_, number in update_code)
    for i, (leaf, sum_name, direct, number) in enumerate(update_code):
        fn.raw(f"{INDENT}{sum_name} /= m  # eq. ({number})", (number,))
        if direct != 0:
            c = sympy.simplify(direct / leaf)
            fn.raw(f"{INDENT}{sum_name} += {printer.doprint(c)} * {leaf.name}  # eq. ({number})")
        total = f"squared_norm(xp, {sum_name})"
        fn.raw(f"{INDENT}norm = {total if i == 0 else f'norm + {total}'}  # eq. ({number})")
    fn.emit("scale", "CLIP_NORM / (xp.sqrt(norm) + 1e-6)", numbers)
    fn.emit("scale", "-lr * xp.minimum(scale, xp.ones_like(scale))", numbers)
    for leaf, sum_name, _, number in update_code:
        fn.raw(f"{INDENT}{sum_name} *= scale  # eq. ({number})")
        fn.raw(f"{INDENT}{sum_name} += {leaf.name}  # eq. ({number})")
        fn.raw(f'{INDENT}new["{leaf.name}"] = {sum_name}')


def _layered_plan(d: LayeredDerivation) -> _TensorPlan:
    net, names = d.network, d.names
    context = {
        "name": net.name,
        "title": net.title,
        "layout": LAYERED_LAYOUT,
        "learning_rate": repr(float(net.learning_rate)),
        "epochs": net.epochs,
        "constants": [
            ("WEIGHT_DECAY", repr(float(net.weight_decay))),
            ("SEED", str(net.seed)),
            ("INIT_SCALE", repr(float(net.init_scale))),
        ],
        "initial_lines": _layered_initial_lines(net),
    }
    equations = [eq for eq in d.equations if eq.level == "tensor"]
    return _TensorPlan(
        equations,
        names.weight_decay(),
        names.batch_size(),
        (names.out_vec(1),),
        net.parameter_names,
        d.graph.objective.name,
        context,
    )


def _sequential_plan(d: SequentialDerivation) -> _TensorPlan:
    net, graph = d.network, d.graph
    masks = net.masks()
    context = {
        "name": net.name,
        "title": net.title,
        "layout": SEQUENTIAL_LAYOUT,
        "learning_rate": repr(float(net.learning_rate)),
        "epochs": net.epochs,
        "constants": [
            ("WEIGHT_DECAY", repr(float(net.weight_decay))),
            ("SEED", str(net.seed)),
            ("INIT_SCALE", repr(float(net.init_scale))),
        ],
        "initial_lines": _sequential_initial_lines(net),
        "masks": [(name, shape, repr(float(rate))) for name, (shape, rate) in masks.items()],
    }
    if net.clip_norm:
        context["constants"].append(("CLIP_NORM", repr(float(net.clip_norm))))
    return _TensorPlan(
        d.equations,
        real("lambda"),
        real("m"),
        graph.inputs,
        net.parameter_names,
        graph.objective.name,
        context,
        clip_norm=net.clip_norm,
    )


def _activation_of(expr: sympy.Expr):
    for act in ACTIVATIONS.values():
        if isinstance(act.function, type) and isinstance(expr, act.function):
            return act
    return None


def _kept_fraction(direct: sympy.Expr, leaf: Symbol, printer: ArrayPrinter) -> str:
    """Code for 1 - lr c when the direct part of a gradient is c * leaf (weight decay), else ''."""
    if direct == 0:
        return ""
    c = sympy.simplify(direct / leaf)
    if c.has(leaf):
        raise NotImplementedError(f"cannot fold the gradient term {direct} into the update of {leaf}")
    return f"(1 - lr * {printer.doprint(c)})"


def _name_lines(parameters, trainable, inputs, targets) -> list[str]:
    out = []
    for role, items in (("parameters", parameters), ("trainable", trainable), ("inputs", inputs), ("targets", targets)):
        out += _tuple_lines(role.upper(), items)
    return out


def _array_lines(target: str, rows: list[list[float]]) -> list[str]:
    """``target = np.array([...])`` exploded one row a line, with trailing commas (black-stable)."""
    lines = [f"{INDENT}{target} = np.array(", f"{INDENT * 2}["]
    for row in rows:
        numbers = [repr(float(v)) for v in row]
        one = f"{INDENT * 3}[{', '.join(numbers)}],"
        if len(one) <= LINE_LENGTH:
            lines.append(one)
        else:
            lines += [f"{INDENT * 3}["] + [f"{INDENT * 4}{n}," for n in numbers] + [f"{INDENT * 3}],"]
    return lines + [f"{INDENT * 2}]", f"{INDENT})"]


def _layered_initial_lines(net) -> list[str]:
    lines = [f"{INDENT}rng = np.random.default_rng(SEED)", f"{INDENT}values = {{}}"]
    for name, shape in net.parameter_shapes().items():
        lines += assignment(INDENT, f'values["{name}"]', f"rng.normal(0.0, INIT_SCALE, {shape!r})")
    if net.example:
        lines += _array_lines('values["x"]', net.example["x"])
        lines += _array_lines('values["t"]', net.example["t"])
    else:
        n_in, n_out = net.sizes[0], net.sizes[-1]
        lines += assignment(INDENT, 'values["x"]', f"rng.normal(0.0, 1.0, (8, {n_in}))")
        kind = loss(net.loss).targets
        if kind == "one-hot":
            lines += assignment(INDENT, 'values["t"]', f"np.eye({n_out})[rng.integers(0, {n_out}, 8)]")
        elif kind == "unit":
            lines += assignment(INDENT, 'values["t"]', f"rng.uniform(0.0, 1.0, (8, {n_out}))")
        else:
            lines += assignment(INDENT, 'values["t"]', f"rng.normal(0.0, 1.0, (8, {n_out}))")
    return lines + [f"{INDENT}return values"]


def _nested_lines(depth: int, value: list, last: str = "") -> list[str]:
    """A nested list of numbers laid out as ruff lays it out: on one line where it fits, else one
    item a line with trailing commas (an example of shape (m, C, H, W) keeps its shape)."""
    text = lambda v: "[" + ", ".join(text(i) for i in v) + "]" if isinstance(v, list) else repr(float(v))  # noqa: E731
    one = f"{INDENT * depth}{text(value)}{last}"
    if len(one) <= LINE_LENGTH or not isinstance(value, list):
        return [one]
    inner = [line for item in value for line in _nested_lines(depth + 1, item, ",")]
    return [f"{INDENT * depth}[", *inner, f"{INDENT * depth}]{last}"]


def _sequential_initial_lines(net) -> list[str]:
    """Parameters drawn as the network's initial_parameters draws them; the example (reshaped to
    (m, *input)) or random data; fresh dropout masks."""
    lines = [f"{INDENT}rng = np.random.default_rng(SEED)", f"{INDENT}values = {{}}"]
    for name, shape in net.parameter_shapes().items():
        scale = net.initial_scale(name)
        if scale is not None:
            fan_in = net.fan_in(name)
            code = f"rng.normal(0.0, INIT_SCALE / {math.sqrt(fan_in)!r}, {shape!r})"
        else:
            code = f"np.{'ones' if name.startswith('gamma') else 'zeros'}({shape!r})"
        lines += assignment(INDENT, f'values["{name}"]', code)
    if net.example:
        for key in ("x", "t"):
            one = _nested_lines(0, net.example[key])
            if len(one) == 1 and len(f'{INDENT}values["{key}"] = np.array({one[0]})') <= LINE_LENGTH:
                lines.append(f'{INDENT}values["{key}"] = np.array({one[0]})')
            else:
                lines += [f'{INDENT}values["{key}"] = np.array(', *_nested_lines(2, net.example[key]), f"{INDENT})"]
    else:
        n_out = net.output_shape[-1]
        rows = (8, *net.output_shape[:-1])  # (8, T) with a per-step loss
        lines += assignment(INDENT, 'values["x"]', f"rng.normal(0.0, 1.0, {(8, *net.input_shape)!r})")
        kind = loss(net.loss).targets
        if kind == "one-hot":
            lines += assignment(INDENT, 'values["t"]', f"np.eye({n_out})[rng.integers(0, {n_out}, {rows!r})]")
        elif kind == "unit":
            lines += assignment(INDENT, 'values["t"]', f"rng.uniform(0.0, 1.0, {(*rows, n_out)!r})")
        else:
            lines += assignment(INDENT, 'values["t"]', f"rng.normal(0.0, 1.0, {(*rows, n_out)!r})")
    if net.masks():
        lines.append(f'{INDENT}values.update(dropout_masks(values["x"], rng))')
    return lines + [f"{INDENT}return values"]


# --- scalar graphs -------------------------------------------------------------------------------


def _graph_module(d) -> tuple[dict, list[_Function]]:
    net = d.network
    equations = [eq for eq in d.equations if eq.level == "unit"]
    names = {s: "WEIGHT_DECAY" for s in net.constants}
    scalars = set(net.constants)  # and the gradients that are numbers (f = 2 s: df/ds = 2)
    for eq in equations:
        if eq.kind == "delta" and eq.rhs.free_symbols <= scalars:
            scalars.add(eq.lhs)
    printer = ArrayPrinter(names, leading=frozenset(net.constants), scalars=frozenset(scalars))
    leaves = tuple(s.name for s in net.leaves)
    build = _Builder(printer, leaves)
    forward = [_Line(eq.target.name, eq.rhs, eq.number) for eq in equations if eq.kind in ("forward", "loss")]
    deltas = [_Line(eq.lhs.name, eq.rhs, eq.number) for eq in equations if eq.kind == "delta"]
    gradients = {eq.target: _Line(eq.lhs.name, eq.rhs, eq.number) for eq in equations if eq.kind == "gradient"}
    updates = {eq.target: eq for eq in equations if eq.kind == "update"}
    objective = net.objective.name
    # numbers become arrays: (-1.0) ** 1.5 is then nan with a warning, as NumPy has it, not complex
    namespace = f"{INDENT}xp = array_namespace(*(values[n] for n in LEAVES))"
    read = lambda leaf: f'{INDENT}{leaf} = xp.asarray(values["{leaf}"])'  # noqa: E731
    shape_line = f"{INDENT}shape = broadcast_shape(*(values[n] for n in LEAVES))"

    fwd = _Function("forward")
    fwd.raw(namespace)
    for leaf in leaves:
        fwd.raw(read(leaf))
    build.statements(fwd, forward)
    fwd.raw(f"{INDENT}return {{")
    for line in forward:
        fwd.raw(f'{INDENT * 2}"{line.name}": {line.name},')
    fwd.raw(f"{INDENT}}}")

    params, inputs, trainable = list(net.parameters), list(net.inputs), list(net.trainable)
    bwd = _Function("backward")
    bwd.raw(namespace)
    for leaf in leaves:
        bwd.raw(read(leaf))
    bwd.raw(shape_line)
    param_lines = [gradients[s] for s in params]
    wanted = set().union(*(line.reads for line in deltas + list(gradients.values())))
    build.statements(bwd, _needed(forward, wanted) + deltas + param_lines)
    bwd.raw(f"{INDENT}grads = {{")
    for s in params:
        bwd.raw(f'{INDENT * 2}"{s.name}": unbroadcast(xp, {gradients[s].name}, values["{s.name}"], shape),')
    for line in deltas:
        bwd.raw(f'{INDENT * 2}"{line.name}": {line.name},')
    bwd.raw(f"{INDENT}}}")
    if inputs:
        bwd.raw(f"{INDENT}if inputs:")
        for s in inputs:
            line = gradients[s]
            code = f'unbroadcast(xp, {build.code(line.expr)}, values["{s.name}"], shape)'
            bwd.emit(f'grads["{s.name}"]', code, (line.number,), indent=INDENT * 2)
    bwd.raw(f"{INDENT}return grads")

    stp = _Function("step")
    stp.raw(f"{INDENT}lr = LEARNING_RATE if lr is None else lr")
    stp.raw(namespace)
    for leaf in leaves:
        stp.raw(read(leaf))
    if trainable:
        stp.raw(shape_line)
    grads = [gradients[s] for s in trainable]
    wanted = set().union(*(line.reads for line in grads)) | {objective}
    build.statements(stp, _needed(forward + deltas, wanted) + grads)
    stp.raw(f"{INDENT}new = dict(values)")
    for s in trainable:
        code = f'values["{s.name}"] - lr * unbroadcast(xp, {gradients[s].name}, values["{s.name}"], shape)'
        stp.emit(f'new["{s.name}"]', code, (updates[s].number,))
    stp.raw(f'{INDENT}new["{objective}"] = xp.mean(xp.asarray({objective}))')
    stp.raw(f"{INDENT}return new")

    exprs = [line.expr for line in forward + deltas + list(gradients.values())]
    initial = {
        **{s.name: 0.0 for s in net.leaves},
        **{s.name: v for s, v in net.parameters.items()},
        **{s.name: v for s, v in net.example.items()},
    }
    context = {
        "name": net.name,
        "title": net.title,
        "batched": False,
        "masks": [],
        "objective": objective,
        "name_lines": _name_lines(
            [s.name for s in net.parameters],
            [s.name for s in net.trainable],
            [s.name for s in net.inputs],
            [s.name for s in net.targets],
        )
        + ["LEAVES = (*INPUTS, *TARGETS, *PARAMETERS)"],
        "learning_rate": repr(float(net.learning_rate)),
        "epochs": net.epochs,
        "constants": [("WEIGHT_DECAY", repr(float(v))) for v in net.constants.values()][:1],
        "helpers": helper_source({"array_namespace", "broadcast_shape", "unbroadcast"}).rstrip(),
        "kernels": kernel_source(_kernels_used(exprs)).rstrip(),
        "initial_lines": [f"{INDENT}return {{"]
        + [f'{INDENT}    "{k}": {float(v)!r},' for k, v in initial.items()]
        + [f"{INDENT}}}"],
    }
    return context, [fwd, bwd, stp]
