"""What a student's equation is about: the network's quantities, and the target an equation derives.

:func:`context` loads a network once (cached) and builds everything judging needs: the table of
nameable quantities (resolve.py), the sampler that draws the leaves for the verdict's probes
(judge.py), float values of every quantity at a few points for diagnosis, and, for targets that
must sum to one, the last written as one minus the others. :func:`target_of` reads the left-hand
side: what the equation derives and the engine's own equation for it (the reference), in the
stored form a student writes (error terms by symbol, y_4 for sigma(net_4)).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import sympy
from sympy import Symbol

from symbackprop.analysis.evaluate import evaluate_graph
from symbackprop.calculus.derive import derive_graph
from symbackprop.calculus.expand import Units
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.calculus.sequential import SequentialDerivation
from symbackprop.calculus.sequential_units import sequential_unit_graph
from symbackprop.core.network import LayeredNetwork
from symbackprop.core.sequential import SequentialNetwork
from symbackprop.core.spec import load_spec
from symbackprop.registry import CONV_LAYER_OPS, SEQUENCE_LAYER_OPS, loss
from symbackprop.registry.layers import MaxGate
from symbackprop.verify.judge import Sampler
from symbackprop.verify.latex import Node, parse_line
from symbackprop.verify.resolve import (
    PER_EXAMPLE,
    Evaluator,
    FrozenError,
    ResolveError,
    Table,
    build_table,
    derivative_of,
    example_derivative,
    objective_term_derivative,
    one_example,
    sequential_table,
    update_of,
)

POINTS = 64  # float probes for diagnosis (the verdict has its own, see judge.py)
# examples of the checker's batch where statistics over the batch make examples differ (batch
# norm): with two, each normalised entry is +-1 and the input's error term all but vanishes
DIFFERING_BATCH = 3


@dataclass
class Target:
    name: str  # as reported: delta_6, dE/dw_64, w_64 (update), y_4
    kind: str  # delta, gradient, update, forward, partial, layer
    reference: sympy.Expr
    symbol: Symbol | None = None  # the unit, parameter or node
    layer_shape: tuple | None = None  # components of a matrix-form equation
    update: bool = False


@dataclass
class Context:
    table: Table
    sampler: Sampler  # how the verdict's probes draw every leaf
    points: dict  # symbol name -> POINTS values, for diagnosis
    assumed: dict  # the last target of a group that sums to one -> 1 - the others
    leaf_forms: dict = field(default_factory=dict)  # symbol -> its value in the leaves, built once
    max_gates: dict | None = None  # a max pooling window's entry -> the max gates that read it, built once


@lru_cache(maxsize=16)
def context(spec: str, notation: str | None = None) -> Context:
    network = load_spec(spec)
    if notation and isinstance(network, LayeredNetwork):
        network = replace(network, notation=notation)
    if isinstance(network, SequentialNetwork):  # entry by entry: one example, or a batch that differs
        m = DIFFERING_BATCH if _batch_statistics(network) else 1
        table = sequential_table(sequential_unit_graph(SequentialDerivation(network).graph, m=m))
        table.spec = network
    else:
        derivation = LayeredDerivation(network) if isinstance(network, LayeredNetwork) else derive_graph(network)
        table = build_table(derivation)
    sampler = _sampler(table)
    groups = table.unit.network.target_groups
    assumed = {g[-1]: 1 - sympy.Add(*g[:-1]) for g in groups if len(g) > 1}
    return Context(table, sampler, _points(table, sampler), assumed)


def _batch_statistics(network: SequentialNetwork) -> bool:
    """Whether a layer (or a residual block's) takes statistics over the batch (batch norm)."""
    layers = [*network.layers, *(part for layer in network.layers for part in layer.body)]
    ops = {**CONV_LAYER_OPS, **SEQUENCE_LAYER_OPS}
    return any(op.batch_statistics for layer in layers if (op := ops.get(layer.type)) is not None)


def _sampler(table: Table) -> Sampler:
    """Inputs and parameters drawn wide (both signs, near zero to beyond one), targets over their
    valid range, rates and the weight decay positive, the batch size m a small positive integer."""
    derivation = table.derivation
    net = table.unit.network
    target_kind = "wide"
    if isinstance(derivation, LayeredDerivation):
        target_kind = {"unit": "unit", "one-hot": "unit"}.get(loss(derivation.network.loss).targets, "wide")
    kinds: dict[Symbol, str] = {s: "wide" for s in (*net.inputs, *net.parameters)}
    grouped = {t for g in net.target_groups if len(g) > 1 for t in g}
    kinds.update({t: target_kind for t in net.targets if t not in grouped})
    kinds.update({c: "rate" for c in net.constants})
    kinds[net.learning_rate_symbol] = "rate"
    if isinstance(derivation, LayeredDerivation):
        names = derivation.names
        kinds[names.weight_decay()] = "rate"
        kinds[names.batch_size()] = "m"
    groups = tuple(g for g in net.target_groups if len(g) > 1)
    return Sampler(kinds, groups)


def _points(table: Table, sampler: Sampler) -> dict:
    """Float values of every symbol at POINTS draws: leaves drawn, the rest computed."""
    unit = table.unit
    drawn = sampler.draw(POINTS, np.random.default_rng(7))
    env = {s.name: v for s, v in drawn.items()}
    values, deltas, _ = evaluate_graph(unit, {s.name: env[s.name] for s in unit.network.leaves})
    points = {**env, **values, **deltas}
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (POINTS,)) for k, v in points.items()}


# --- targets ------------------------------------------------------------------------------


def target_of(ctx: Context, lhs: Node, relation: str, evaluator: Evaluator, env: dict | None = None) -> Target:
    """What a left-hand side names, with the engine's equation for it. ``env`` binds the free
    indices of a general equation (j = 4 in \\delta_j)."""
    env = env or {}
    table = ctx.table
    if lhs.kind == "derivative":
        top = evaluator.evaluate(lhs.parts[0], env)
        bottom = evaluator.evaluate(lhs.parts[1], env)
        if lhs.parts[1].kind == "example" and isinstance(bottom, Symbol):  # dJ/dx^{(i)}: one example's
            return _example_target(ctx, top, bottom)
        term = objective_term_derivative(table, top, bottom)
        if term is not None:  # d2l's dJ/dL = 1, ds/dW^(1) = lambda W^(1), dL/do
            return _term_target(ctx, top, bottom, term)
        if not isinstance(bottom, Symbol):
            raise ResolveError("differentiate with respect to one quantity: \\frac{\\partial E}{\\partial net_k}")
        if top == PER_EXAMPLE:  # UFLDL's J(W,b;x,y): one example's cost, without weight decay
            target = _derivative_target(ctx, table.objective, bottom)
            decay = table.symbols.get(("lambda", (), None))
            if target.kind == "delta" or decay is None:
                return target
            name = target.name.replace(f"d{table.objective}/", f"d{table.objective}(W,b;x,y)/")
            return replace(target, name=name, reference=target.reference.subs(decay, 0))
        return _derivative_target(ctx, top, bottom)
    if lhs.kind == "dapply":  # \\frac{\\partial}{\\partial w} J: the operator form
        return target_of(ctx, Node("derivative", (lhs.parts[1], lhs.parts[0])), relation, evaluator, env)
    if lhs.kind == "next":  # w^{new} = ...: the update of w
        symbol = evaluator.evaluate(lhs.parts[0], env)
        if not isinstance(symbol, Symbol):
            raise ResolveError("w^{new} names the updated value of one parameter")
        return _symbol_target(ctx, symbol, "<-")
    if lhs.kind == "change":  # \\Delta w_{64} or UFLDL's \\Delta W^{(1)}
        value = evaluator.evaluate(lhs, env)
        parameter = evaluator.evaluate(lhs.parts[0], env)
        if parameter in table.roles:
            shape = table.derivation.names.shape(parameter)
            shape = shape if len(shape) == 2 else (shape[0], None)
            return Target(f"Delta {parameter}", "layer", value, parameter, shape)
        return Target(f"Delta {parameter}", "partial", value, parameter)
    symbol = evaluator.evaluate(lhs, env)
    if table.batch > 1 and isinstance(symbol, sympy.Mul) and symbol.args[0] == table.batch:
        symbol = symbol.args[1]  # an error term of one example, m dJ/dz where examples differ
        if symbol in table.per_example:
            target = _symbol_target(ctx, symbol, relation)
            return replace(target, reference=table.batch * target.reference)
    if table.example_loss is not None and symbol == table.objective:  # J = ... entry by entry: one example's
        return Target(symbol.name, "forward", table.example_loss, symbol)
    if lhs.kind == "name" and not isinstance(symbol, Symbol):  # L or s: a named part of the objective
        return Target(lhs.parts[0], "forward", symbol)
    if not isinstance(symbol, Symbol):
        raise ResolveError(
            "the left-hand side must name one quantity (\\delta_6, \\frac{\\partial E}{\\partial w_{64}}, w_{64})"
        )
    return _symbol_target(ctx, symbol, relation)


def _example_target(ctx: Context, top: sympy.Expr, bottom: Symbol) -> Target:
    """d(top)/d(v^{(i)}) for a quantity v of example i: the per-example target (the gradient of
    that example's own cost), scaled by 1/m where top is the objective, the mean over the batch."""
    table = ctx.table
    own = _derivative_target(ctx, table.objective, bottom)
    reference = example_derivative(table, top, bottom)
    if top == PER_EXAMPLE:
        return replace(own, reference=reference)
    return replace(own, name=f"d{top if isinstance(top, Symbol) else 'L'}/d{bottom}^(i)", reference=reference)


def _derivative_target(ctx: Context, top: sympy.Expr, bottom: Symbol) -> Target:
    factor = one_example(ctx.table, top, bottom)
    target = _derivative_target_of(ctx, top, bottom)
    return target if factor == 1 else replace(target, reference=factor * target.reference)


def _derivative_target_of(ctx: Context, top: sympy.Expr, bottom: Symbol) -> Target:
    table, unit = ctx.table, ctx.table.unit
    if top == table.objective and bottom in unit.delta_symbols:
        return _delta_target(ctx, bottom)
    if top == table.objective and bottom.name in unit.gradients:
        return Target(f"d{top}/d{bottom}", "gradient", unit.gradients[bottom.name], bottom)
    if top == table.objective and bottom in getattr(unit.network, "frozen", ()):
        raise FrozenError(f"{bottom} is frozen: training computes no gradient for it")
    if top == table.objective and bottom in unit.totals:
        return Target(f"d{top}/d{bottom}", "partial", unit.totals[bottom], bottom)
    layer = _layer_target(ctx, bottom, gradient=True) if top == table.objective else None
    if layer is not None:
        return layer
    if top == table.objective and bottom in table.roles:  # d2l's dJ/dz, dJ/dh: a layer vector's gradient
        vector = _vector_gradient_target(ctx, bottom)
        if vector is not None:
            return vector
    if top in unit.partials and bottom in unit.partials[top]:
        return Target(f"d{top}/d{bottom}", "partial", unit.partials[top][bottom], bottom)
    raise ResolveError(f"d{top}/d{bottom} is not a quantity this derivation computes")


def _symbol_target(ctx: Context, symbol: Symbol, relation: str) -> Target:
    unit = ctx.table.unit
    for node, d in unit.delta_symbols.items():
        if d == symbol:
            return _delta_target(ctx, node)
    if symbol in getattr(unit.network, "frozen", ()):
        raise FrozenError(f"{symbol} is frozen: training does not update it, so it has no update to write")
    if symbol.name in unit.updates and relation in ("<-", ":=", "="):
        return Target(symbol.name, "update", unit.updates[symbol.name], symbol, update=True)
    if symbol in unit.network.nodes:
        return Target(symbol.name, "forward", unit.network.nodes[symbol], symbol)
    layer = _layer_target(ctx, symbol, gradient=False, update=relation in ("<-", ":="))
    if layer is None and relation == "=":  # W = W - alpha ...: a parameter on both sides is an update
        layer = _layer_target(ctx, symbol, gradient=False, update=True)
    if layer is not None:
        return layer
    raise ResolveError(f"{symbol} is not derived by this network's equations")


def _term_target(ctx: Context, top: sympy.Expr, bottom: sympy.Expr, reference: sympy.Expr) -> Target:
    """The target of a derivative through J = L + s: a number, or a layer's vector or matrix."""
    table = ctx.table
    named = {v: k for (k, idx, layer), v in table.symbols.items() if k in ("L", "s") and not idx and layer is None}
    name = f"d{named.get(top, top)}/d{named.get(bottom, bottom)}"
    if isinstance(bottom, Symbol) and bottom in table.roles:
        shape = table.derivation.names.shape(bottom)
        return Target(name, "layer", reference, bottom, shape if len(shape) == 2 else (shape[0], None))
    return Target(name, "partial", reference)


def _vector_gradient_target(ctx: Context, vector: Symbol) -> Target | None:
    """dJ/dz^(l) is the layer's error-term vector; dJ/da^(l) of a hidden layer is W^(l)^T times
    the next layer's (d2l's dJ/dh = W^(2)^T dJ/do)."""
    table = ctx.table
    kind, layer = table.roles[vector]
    names = table.derivation.names
    if kind == "net":
        return _layer_target(ctx, names.delta_vec(layer), gradient=False)
    value = derivative_of(table, table.objective, vector) if kind == "out" and 1 < layer < len(table.sizes) else None
    if value is None:
        return None
    return Target(f"d{table.objective}/d{vector}", "layer", value, vector, (names.shape(vector)[0], None))


def _delta_target(ctx: Context, node: Symbol) -> Target:
    unit = ctx.table.unit
    return Target(unit.delta_symbols[node].name, "delta", unit.deltas[node.name], node)


def _layer_target(ctx: Context, symbol: Symbol, gradient: bool, update: bool = False) -> Target | None:
    table = ctx.table
    if symbol not in table.roles or not isinstance(table.derivation, LayeredDerivation):
        return None
    equations = table.derivation.tensor_equations
    for eq in equations:
        wanted = (gradient and eq.kind == "gradient" and eq.target == symbol) or (
            not gradient and eq.lhs == symbol and eq.update == update
        )
        if wanted:
            shape = table.derivation.names.shape(symbol)
            shape = shape if len(shape) == 2 else (shape[0], None)
            name = f"d{table.objective}/d{symbol}" if gradient else symbol.name
            reference = update_of(table, symbol) if eq.update else eq.rhs  # the gradient written out
            return Target(name, "layer", reference, symbol, shape, update=eq.update)
    return None


def target_tree(text: str) -> tuple[Node, str]:
    """--target delta_4, w_64 (its gradient), update:w_64, or any left-hand side in LaTeX: the
    tree of the quantity and the relation it is derived by."""
    text = text.strip()
    if text.startswith("update:"):
        return parse_line(text[7:]).parts[0][0], "<-"
    sides = parse_line(text).parts[0]
    if len(sides) != 1 or sides[0] is None:
        raise ResolveError("a target names one quantity, without '='")
    return sides[0], "target"


def target_from_tree(ctx: Context, node: Node, relation: str, evaluator: Evaluator, env: dict | None = None) -> Target:
    """The target a --target names; a plain parameter (w_64) means its gradient."""
    if relation == "target":
        if node.kind == "name" and node.parts[0] != "delta":
            symbol = evaluator.evaluate(node, env or {})
            unit = ctx.table.unit
            if isinstance(symbol, Symbol) and symbol.name in unit.gradients:
                return Target(f"d{ctx.table.objective}/d{symbol}", "gradient", unit.gradients[symbol.name], symbol)
        relation = "="
    return target_of(ctx, node, relation, evaluator, env)


def _units(ctx: Context) -> Units:
    return Units(ctx.table.derivation.names, keep_batch=True)


def _components(ctx: Context, target: Target, expr: sympy.Expr) -> list[sympy.Expr]:
    """A matrix-form expression as the list of its per-unit components."""
    units = _units(ctx)
    rows, cols = target.layer_shape
    if cols is None:
        return [units.component(expr, k) for k in range(rows)]
    return [units.component(expr, k, j) for k in range(rows) for j in range(cols)]


def _scalar(ctx: Context, expr: sympy.Expr) -> sympy.Expr:
    if ctx.table.roles and expr.free_symbols & ctx.table.roles.keys():  # a scalar in matrix notation
        return _units(ctx).component(expr, 0)
    return expr


def delta_definitions(ctx: Context) -> dict[Symbol, sympy.Expr]:
    """Each error term's symbol -> its equation (in other error terms and stored values), built once."""
    cache = ctx.leaf_forms
    if "#deltas" not in cache:
        unit = ctx.table.unit
        cache["#deltas"] = {d: unit.deltas[n.name] for n, d in unit.delta_symbols.items()}
    return cache["#deltas"]


def _unfold(ctx: Context, expr: sympy.Expr) -> sympy.Expr:
    """Replace delta symbols by their equations until only stored forward values remain."""
    by_symbol = delta_definitions(ctx)
    for _ in range(len(by_symbol) + 1):
        if not (expr.free_symbols & by_symbol.keys()):
            break
        expr = expr.xreplace(by_symbol)
    return expr


def undefined_at(ctx: Context, target: Target) -> list[sympy.Expr]:
    """Where the target's derivative does not exist, as expressions that are zero there: for an
    entry of a max pooling's input, the ties of its window (a - b of each max gate above it),
    where the derivative with respect to the entry has no value (any split of delta among the
    tied entries is a convention: the tensor form's first maximum, or a student's [a = max])."""
    if not ctx.table.layers or target.symbol is None or target.kind not in ("delta", "partial"):
        return []
    consumers = ctx.max_gates
    if consumers is None:
        consumers = {}
        for node, expr in ctx.table.unit.network.nodes.items():
            if isinstance(expr, MaxGate):
                for arg in expr.args:
                    consumers.setdefault(arg, []).append(node)
        ctx.max_gates = consumers
    out, stack = [], list(consumers.get(target.symbol, ()))
    while stack:
        gate = stack.pop()
        a, b = ctx.table.unit.network.nodes[gate].args
        out.append(a - b)
        stack.extend(consumers.get(gate, ()))
    return out


def in_leaves(ctx: Context, expr: sympy.Expr) -> sympy.Expr:
    """An expression in the leaves alone: error terms unfolded, forward values expanded, the
    last target of a group that sums to one written as one minus the others.

    Each error term's and forward value's form in the leaves is built once per network
    (``leaf_forms``) from the forms of the symbols it refers to, so that one pass over the
    expression replaces its symbols: unfolding the whole tree again for every answer would
    grow with the size of the network's expanded expressions (a convolution's are large)."""
    if not isinstance(expr, sympy.Basic):
        expr = sympy.Float(float(expr))
    return expr.xreplace({s: _leaf_form(ctx, s) for s in expr.free_symbols})


def _leaf_form(ctx: Context, symbol: Symbol) -> sympy.Expr:
    cache = ctx.leaf_forms
    if symbol in cache:
        return cache[symbol]
    unit = ctx.table.unit
    deltas = delta_definitions(ctx)  # the error terms by symbol, the forward values expanded: the definitions
    if symbol in deltas:
        definition = deltas[symbol]
        order = sorted(definition.free_symbols, key=lambda s: s.name)
        value = definition.xreplace({s: _leaf_form(ctx, s) for s in order})  # one pass over a small tree
    elif symbol in unit.forward_expanded:
        value = unit.forward_expanded[symbol].xreplace(ctx.assumed)
    else:
        value = ctx.assumed.get(symbol, symbol)
    cache[symbol] = value
    return value


def _pairs(ctx: Context, target: Target, answer: sympy.Expr) -> list[tuple[sympy.Expr, sympy.Expr]]:
    """(answer, reference) component by component: a layer's units, a matrix's entries."""
    if isinstance(answer, sympy.MatrixBase):  # written out as a bmatrix
        reference = _components(ctx, target, target.reference) if target.kind == "layer" else [target.reference]
        rows, cols = target.layer_shape if target.kind == "layer" else (1, None)
        if answer.shape != (rows, cols or 1):
            shape = f"{rows}x{cols or 1}"
            raise ResolveError(f"the matrix written is {answer.rows}x{answer.cols}; {target.name} is {shape}")
        return list(zip(list(answer), reference))
    if target.kind == "layer":
        return list(zip(_components(ctx, target, answer), _components(ctx, target, target.reference)))
    return [(_scalar(ctx, answer), _scalar(ctx, target.reference))]
