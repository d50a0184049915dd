"""Syntax tree + network -> SymPy: names resolved against the network, never guessed.

A name is looked up by (base, indices, layer): ``w_{41}``, ``w_41`` and ``w_{4,1}`` are the same
key, ``net_4`` and ``\\mathrm{net}_{4}`` too. Digits without a comma may split several ways
(``w_{123}``); exactly one existing symbol must match, otherwise the error says how to write it.
A weight written with its indices swapped (``w_{46}`` where only ``w_{64}`` exists) resolves to
the real weight and is recorded, so the checker can say "transposed index". Sums over an index
are expanded term by term (a range, a named set, or the values where every symbol exists).
Derivatives name known quantities: dE/dnet_k is delta_k, dE/dw_kj the gradient, dy/dnet the
activation's derivative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy
from sympy import Rational, Symbol

from symbackprop.calculus.derive import GraphDerivation
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.registry import (
    ACTIVATIONS,
    FUNCTIONS,
    BatchOuter,
    FrobSq,
    MatTVec,
    MatVec,
    UnitSum,
    activation,
    real,
)
from symbackprop.verify.latex import Node, ParseError, short

MAX_SUM_TERMS = 1000
MAX_EXPONENT = 100
GREEK_BASES = {"delta", "eta", "alpha", "lambda", "sigma"}


class ResolveError(ParseError):
    """A name or construct that does not denote anything in this network."""


class Transposed(sympy.Function):
    """X^T of a matrix or vector symbol, before products turn it into W^T v or d a^T."""

    nargs = 1


@dataclass
class Table:
    """Every nameable quantity of one derivation."""

    derivation: object  # LayeredDerivation or GraphDerivation
    unit: GraphDerivation
    symbols: dict[tuple, sympy.Expr] = field(default_factory=dict)  # mostly symbols; L and s name sums
    roles: dict[Symbol, tuple[str, int]] = field(default_factory=dict)  # layer vectors and matrices
    sets: dict[str, list[int]] = field(default_factory=dict)
    objective: Symbol = real("E")

    def add(self, base: str, indices: tuple, layer: int | None, symbol: Symbol) -> None:
        self.symbols[(base, tuple(str(i) for i in indices), layer)] = symbol


def _split_name(name: str) -> tuple[str, tuple]:
    """A graph network's identifier as base and index: w0 -> (w, (0,)), delta_q -> (delta_q, ())."""
    m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
    return (m.group(1), (m.group(2),)) if m else (name, ())


def build_table(derivation) -> Table:
    net = derivation.network
    if isinstance(derivation, LayeredDerivation):
        return _layered_table(derivation)
    table = Table(derivation, derivation, objective=net.objective)
    for s in (*net.leaves, *net.nodes, *net.constants):
        table.add(*_split_name(s.name), None, s)
    table.add("eta", (), None, net.learning_rate_symbol)
    return table


def _layered_table(derivation) -> Table:
    net, names = derivation.network, derivation.names
    table = Table(derivation, derivation.unit_derivation, objective=names.objective())
    node = names.node
    label = (lambda layer, k: names.unit_number(layer, k)) if node else (lambda layer, k: k + 1)
    for i in range(net.sizes[0]):
        table.add("x", (i + 1,), None, names.input(i))
    for layer in range(2, len(net.sizes) + 1):
        for k in range(net.sizes[layer - 1]):
            u = label(layer, k)
            where = None if node else layer
            table.add("net" if node else "z", (u,), where, names.net(layer, k))
            table.add("y" if node else "a", (u,), where, names.out(layer, k))
            table.add("delta", (u,), where, names.delta(layer, k))
            if net.bias:
                table.add("b", (u,), None if node else layer - 1, names.bias(layer - 1, k))
            for j in range(net.sizes[layer - 2]):
                table.add(
                    "w" if node else "W",
                    (u, label(layer - 1, j)),
                    None if node else layer - 1,
                    names.weight(layer - 1, k, j),
                )
    for k in range(net.sizes[-1]):
        table.add("t" if node else "y", (label(len(net.sizes), k),), None, names.target(k))
    table.add("eta" if node else "alpha", (), None, names.learning_rate())
    table.add("lambda", (), None, names.weight_decay())
    table.add("E" if node else "J", (), None, names.objective())
    table.add("m", (), None, names.batch_size())
    # the matrix form: vectors and matrices by layer
    for layer in range(1, len(net.sizes) + 1):
        if layer > 1:
            table.add("net" if node else "z", (), layer, names.net_vec(layer))
            table.add("y" if node else "a", (), layer, names.out_vec(layer))
            table.add("delta", (), layer, names.delta_vec(layer))
        if layer < len(net.sizes):
            table.add("W", (), layer, names.matrix(layer))
            table.add("b", (), layer, names.bias_vec(layer))
    objective = table.unit.network.nodes[names.objective()]
    decay = sympy.Add(*(t for t in sympy.Add.make_args(objective) if t.has(names.weight_decay())))
    table.add("L", (), None, objective - decay)  # J = L + s, as the documents name the two terms
    table.add("s", (), None, decay)
    table.add("x", (), None, names.out_vec(1))
    table.add("a", (), 1, names.out_vec(1))
    table.add("t" if node else "y", (), None, names.target_vec())
    table.roles = dict(names.roles)
    units = [[label(layer, k) for k in range(net.sizes[layer - 1])] for layer in range(1, len(net.sizes) + 1)]
    table.sets = {
        "inputs": units[0],
        "input": units[0],
        "outputs": units[-1],
        "output": units[-1],
        "hidden": [u for layer in units[1:-1] for u in layer],
    }
    return table


def _index_candidates(text: str | None, env: dict[str, int]) -> list[tuple]:
    """The index tuples a subscript may mean: '41' -> (41,), (4, 1); 'k4' -> (k, 4) with k bound."""
    if text is None:
        return [()]
    if "," in text:
        parts = [p for p in text.split(",")]
        return [tuple(_bound(p, env) for p in parts)]
    pieces = re.findall(r"[A-Za-z]+|\d+", text)
    if any(p.isalpha() for p in pieces):
        items: list = []
        for p in pieces:
            items += [_bound(c, env) for c in p] if p.isalpha() else [int(p)]
        return [tuple(items)]
    digits = pieces[0]
    out = [(int(digits),)]
    out += [(int(digits[:i]), int(digits[i:])) for i in range(1, len(digits)) if digits[i] != "0"]
    return out


def _bound(index: str, env: dict[str, int]):
    if index.isdigit():
        return int(index)
    if index in env:
        return env[index]
    raise ResolveError(f"the index {index} is not bound by a sum; write it as a number or sum over it")


class Evaluator:
    """Turns a syntax tree into SymPy over the table's symbols."""

    def __init__(self, table: Table, free: bool = False):
        self.table = table
        self.strict = False  # inside a sum whose range is inferred: no transposed-index guesses
        self.free = free  # unknown plain names are free variables (identities such as lemmas)
        self.transposed: list[str] = []  # names written with swapped indices
        self.denominators: list[sympy.Expr] = []  # what the answer divides by, before SymPy cancels it

    def lookup(self, base: str, sub: str | None, layer: int | None, env: dict[str, int]) -> Symbol:
        found = []
        for indices in _index_candidates(sub, env):
            key = (base, tuple(str(i) for i in indices), layer)
            if key in self.table.symbols:
                found.append(self.table.symbols[key])
        if len(found) == 1:
            return found[0]
        written = short(f"{base}_{{{sub}}}" if sub else base)
        if len(found) > 1:
            raise ResolveError(
                f"'{written}' is ambiguous; separate the indices with a comma, e.g. {base}_{{{sub[:-1]},{sub[-1]}}}"
            )
        for indices in [] if self.strict else _index_candidates(sub, env):  # a weight written the wrong way round
            if len(indices) == 2:
                key = (base, (str(indices[1]), str(indices[0])), layer)
                if key in self.table.symbols:
                    self.transposed.append(written)
                    return self.table.symbols[key]
        if (
            len(base) > 1
            and base not in GREEK_BASES
            and all((c, (), None) in self.table.symbols or c in "xyzw" for c in base)
        ):
            spaced, dotted = " ".join(base), " \\cdot ".join(base)
            raise ResolveError(
                f"'{written}' is ambiguous: for a product write {spaced} or {dotted}; a name is not known here"
            )
        raise ResolveError(f"'{written}{'' if layer is None else f'^({layer})'}' is not a quantity of this network")

    def evaluate(self, node: Node, env: dict[str, int] | None = None) -> sympy.Expr:
        env = env or {}
        method = getattr(self, "_" + node.kind, None)
        if method is None:
            raise ResolveError(f"cannot use '{node.kind}' here")
        return method(node, env)

    def _num(self, node, env):
        return Rational(node.parts[0])

    def _name(self, node, env):
        base, sub, layer, primes = node.parts
        if primes:
            raise ResolveError(f"{base}' needs an argument, e.g. {base}'(net_j)")
        if base == "e" and not sub and ("e", (), None) not in self.table.symbols:
            return sympy.E
        if self.free and not sub and layer is None:
            return real(f"free_{base}")
        return self.lookup(base, sub, layer, env)

    def _neg(self, node, env):
        return -self.evaluate(node.parts[0], env)

    def _add(self, node, env):
        """A chain a + b - c ... evaluated along its left spine, without recursion per term."""
        terms = []
        while node.kind in ("add", "sub"):
            right = self.evaluate(node.parts[1], env)
            terms.append(right if node.kind == "add" else -right)
            node = node.parts[0]
        terms.append(self.evaluate(node, env))
        return sympy.Add(*reversed(terms))

    _sub = _add

    def _div(self, node, env):
        den = self.evaluate(node.parts[1], env)
        if den == 0:
            raise ResolveError("division by zero")
        if den.free_symbols:
            self.denominators.append(den)
        return self.evaluate(node.parts[0], env) / den

    def _odot(self, node, env):
        return self.evaluate(node.parts[0], env) * self.evaluate(node.parts[1], env)

    def _mul(self, node, env):
        """A product chain, left to right (matrix products keep their order), iteratively."""
        factors = []
        while node.kind == "mul" and node.parts[0].kind != "dop":
            factors.append(node.parts[1])
            node = node.parts[0]
        if node.kind == "mul":  # d/dx applied to the factor that follows it
            variable = self.evaluate(node.parts[0].parts[0], env)
            if not isinstance(variable, Symbol):
                raise ResolveError("differentiate with respect to one variable: \\frac{d}{dx}")
            value = sympy.diff(self.evaluate(node.parts[1], env), variable)
        else:
            value = self.evaluate(node, env)
        for factor in reversed(factors):
            value = self.product(value, self.evaluate(factor, env))
        return value

    def _dop(self, node, env):
        raise ResolveError("\\frac{d}{dx} needs something to differentiate after it")

    def product(self, left, right):
        """Matrix products keep their order: W a, W^T delta, delta a^T; the rest is elementwise."""
        roles = self.table.roles
        kind = lambda e: roles.get(e.args[0] if isinstance(e, Transposed) else e, (None,))[0]  # noqa: E731
        scalar = lambda e: not isinstance(e, Transposed) and not (e.free_symbols & roles.keys())  # noqa: E731
        if scalar(left) or scalar(right):
            return left * right
        if kind(left) == "matrix" and not isinstance(left, Transposed):
            return MatVec(left, right)
        if isinstance(left, Transposed) and kind(left) == "matrix":
            return MatTVec(left.args[0], right)
        if isinstance(right, Transposed) and kind(right) != "matrix":
            return BatchOuter(left, right.args[0])
        if kind(right) == "matrix" or isinstance(right, Transposed):
            raise ResolveError("a matrix stands on the wrong side of a product; write W a or (W)^T delta")
        return left * right

    def _step(self, node, env):
        return sympy.Heaviside(self.evaluate(node.parts[0], env), 0)

    def _norm2(self, node, env):
        inner = self.evaluate(node.parts[0], env)
        if self.table.roles.get(inner, (None,))[0] != "matrix":
            raise ResolveError("a norm needs a weight matrix: \\lVert W^{(1)} \\rVert_F^2")
        return FrobSq(inner)

    def _transpose(self, node, env):
        return Transposed(self.evaluate(node.parts[0], env))

    def _pow(self, node, env):
        base_node, exponent_node = node.parts
        exponent = self.evaluate(exponent_node, env)
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            raise ResolveError(f"an exponent is too large (at most {MAX_EXPONENT})")
        if base_node.kind == "name" and base_node.parts[0] == "e" and not base_node.parts[1]:
            if ("e", (), None) not in self.table.symbols:
                return sympy.exp(exponent)
        base = self.evaluate(base_node, env)
        if base.is_Number and exponent.is_Number and abs(base) > 10**6:
            raise ResolveError("constant too large to evaluate")
        if exponent.is_negative and base.free_symbols:
            self.denominators.append(base)
        return base**exponent

    def _call(self, node, env):
        name, args = node.parts
        values = [self.evaluate(a, env) for a in args]
        function, low, high = CALLABLE[name]
        if len(values) < low or (high is not None and len(values) > high):
            raise ResolveError(f"\\{name} takes {'one argument' if high == 1 else f'at least {low} arguments'}")
        return function(*values)

    def _apply(self, node, env):
        """sigma(x), relu(x), f(net_j), and derivatives with primes: f'(net_j), sigma'(z)."""
        name, args = node.parts
        base, sub, _layer, primes = name.parts
        if base in COUPLED and sub and sub.isdigit() and not primes:  # component k of softmax(z_1, ..., z_n)
            return COUPLED[base].unit(int(sub) - 1, [self.evaluate(a, env) for a in args])
        if not primes and len(args) == 1 and (base, (), None) in self.table.symbols and not sub:
            return self.product(self.table.symbols[(base, (), None)], self.evaluate(args[0], env))  # f (1 - f)
        if len(args) != 1:
            raise ResolveError(f"{base}(...) takes one argument")
        arg = self.evaluate(args[0], env)
        if base in NAMED:
            fn = NAMED[base]
            if primes == 0:
                return fn(arg)
            if primes == 1:
                u = real("u")
                return sympy.diff(fn(u), u).subs(u, arg)
            raise ResolveError(f"only first derivatives of {base} are supported")
        if base in GENERIC:
            return self.activation_at(arg, primes)
        if base == "H" and not primes:  # the step as the documents print it: H(0) = 1/2
            return sympy.Heaviside(arg)
        if base in CALLABLE and primes == 0:
            return CALLABLE[base][0](arg)
        raise ResolveError(f"unknown function '{base}'")

    def activation_at(self, arg: sympy.Expr, primes: int) -> sympy.Expr:
        """f(net_j) and f'(net_j): the network's own activation of that unit, in stored form."""
        unit = self.table.unit
        for y in unit.consumers.get(arg, []):
            if y in unit.fused:
                if primes == 0:
                    return y
                if primes == 1:
                    return unit.partials[y][arg]
        if arg in self.table.roles and self.table.roles[arg][0] == "net":
            layer = self.table.roles[arg][1]
            net = self.table.derivation.network
            names = self.table.derivation.names
            act = activation(net.activations[layer - 2])
            if primes == 0:
                return names.out_vec(layer)
            if primes == 1 and not act.vector:
                return act.derivative_in_output(names.out_vec(layer), arg)
        raise ResolveError("f(...) and f'(...) take a unit's weighted input, e.g. f'(net_4)")

    def _sum(self, node, env):
        var, low, high, domain, body = node.parts
        if isinstance(high, str):  # a sum over the examples of a batch: m times one example's term
            return self.lookup(high, None, None, env) * self.evaluate(body, env)
        if low is not None:
            if high - low + 1 > MAX_SUM_TERMS or high < low:
                raise ResolveError(f"a sum from {low} to {high} has too many terms (at most {MAX_SUM_TERMS})")
            values = list(range(low, high + 1))
        elif domain is not None:
            values = self.table.sets.get(domain, [])
            if not values:
                raise ResolveError(f"this network has no '{domain}' units")
        else:
            if not _uses_index(body, var):  # \sum_k of a layer vector: the sum over its units
                return UnitSum(self.evaluate(body, env))
            values = self._index_values(body, var, env)
        terms = []
        inferred = low is None and domain is None
        for v in values:
            self.strict = inferred
            try:
                terms.append(self.evaluate(body, {**env, var: v}))
            except ResolveError:
                if not inferred:
                    raise
            finally:
                self.strict = False
        if not terms:
            raise ResolveError(f"no value of {var} makes every symbol of the sum exist")
        return sympy.Add(*terms)

    def _index_values(self, body, var, env) -> list[int]:
        """\\sum_k without a range: the values of k for which every symbol in the body exists."""
        seen = sorted({int(i) for key in self.table.symbols for i in key[1] if str(i).isdigit()})
        return seen[:MAX_SUM_TERMS]

    def _derivative(self, node, env):
        num, den = node.parts
        top = self.evaluate(num, env)
        bottom = self.evaluate(den, env)
        return derivative_of(self.table, top, bottom)

    def _differential(self, node, env):
        raise ResolveError("a lone differential; write a derivative as \\frac{\\partial E}{\\partial w}")


def _uses_index(node, var: str) -> bool:
    """Does a subtree mention the index (in a subscript, or as a name)?"""
    if isinstance(node, Node):
        if node.kind == "name" and (
            node.parts[0] == var or (node.parts[1] and var in re.findall(r"[A-Za-z]", node.parts[1]))
        ):
            return True
        return any(_uses_index(p, var) for p in node.parts)
    if isinstance(node, tuple):
        return any(_uses_index(p, var) for p in node)
    return False


def derivative_of(table: Table, top: sympy.Expr, bottom: sympy.Expr) -> sympy.Expr:
    """The quantity d(top)/d(bottom) names, in the stored form the engine uses."""
    unit = table.unit
    if top == table.objective:
        if bottom in unit.delta_symbols:
            return unit.delta_symbols[bottom]
        if bottom.name in unit.gradients:
            return unit.gradients[bottom.name]
        if bottom in unit.totals:
            return unit.totals[bottom]
        layer = _layer_gradient(table, bottom)
        if layer is not None:
            return layer
    elif top in unit.partials and bottom in unit.partials[top]:
        return unit.partials[top][bottom]
    raise ResolveError(f"d{top}/d{bottom} is not a derivative this derivation names")


def _layer_gradient(table: Table, bottom: Symbol):
    if bottom not in table.roles:
        return None
    kind, layer = table.roles[bottom]
    names = table.derivation.names
    if kind == "net":
        return names.delta_vec(layer)
    for eq in table.derivation.tensor_equations:
        if eq.kind == "gradient" and eq.target == bottom:
            return eq.rhs
    return None


# What a student may call, from the registry: each activation by the names it goes by (sigma,
# lrelu, ...), the functions of expressions (exp, log or ln, ...), and f, g, phi for "the
# network's own activation of this unit".
NAMED = {spelling: a.function for a in ACTIVATIONS.values() for spelling in a.spellings}
COUPLED = {spelling: a for a in ACTIVATIONS.values() if a.vector for spelling in a.spellings}
CALLABLE = {spelling: (f.function, f.min_args, f.max_args) for f in FUNCTIONS.values() for spelling in f.spellings} | {
    spelling: (a.function, 1, 1) for a in ACTIVATIONS.values() if a.xp_name for spelling in a.spellings
}
GENERIC = ("f", "g", "phi")
