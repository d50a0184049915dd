"""Syntax tree + network -> SymPy: names resolved against the network, never guessed.

A name is looked up by (base, indices, layer): ``w_{41}``, ``w_41`` and ``w_{4,1}`` are the same
key, ``net_4`` and ``\\mathrm{net}_{4}`` too. Digits without a comma may split several ways
(``w_{123}``); exactly one existing symbol must match, otherwise the error says how to write it.
A weight written with its indices swapped (``w_{46}`` where only ``w_{64}`` exists) resolves to
the real weight and is recorded, so the checker can say "transposed index". Sums over an index
are expanded term by term (a range, a named set, or the values where every symbol exists).
Derivatives name known quantities: dE/dnet_k is delta_k, dE/dw_kj the gradient, dy/dnet the
activation's derivative.

Examples of a batch. A sum whose upper end is m runs over the batch's examples; the checker
models a batch as m alike examples, so it is m times one example's term. That is sound only
for what it can see, so an equation that names examples is held to these rules (see
:func:`example_scope`): x^{(i)}, a^{(2)(i)}, \\delta_k^{(i)} are example i's quantities only where
i is the index of the sum over the batch around them, or free on the left-hand side too (an
equation of one example: \\frac{\\partial J}{\\partial x^{(i)}}, which is 1/m of the gradient of
that example's own cost, since J averages over the batch); once a sum's summand names its
example, every per-example quantity in it must; an equation with a sum over the batch has no
per-example quantity outside it; such a sum is not nested in another, nor under a function,
a power or a denominator, nor multiplied by another (its value would depend on how the
examples differ). x^{(1)} is never "the first example": a number in parentheses is a layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import sympy
from sympy import Integer, Rational, Symbol

from symbackprop.calculus.derive import GraphDerivation
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.registry import (
    ACTIVATIONS,
    FUNCTIONS,
    BatchOuter,
    FrobSq,
    MatTVec,
    MatVec,
    TensorFunction,
    UnitSum,
    activation,
    real,
)
from symbackprop.verify.latex import Node, ParseError, short
from symbackprop.verify.sequence import sequence_entries

MAX_SUM_TERMS = 1000
PER_EXAMPLE = real("J_example")  # J(W,b;x,y): one example's cost, without weight decay
BATCH = "#batch"  # env key: (index, summand names its example) of the sum over the batch around
EXAMPLE = "#example:"  # env key + an example index: the example it stands for, where examples differ
MAX_EXPONENT = 100
GREEK_BASES = {"delta", "eta", "alpha", "lambda", "sigma"}


class ResolveError(ParseError):
    """A name or construct that does not denote anything in this network."""


class FrozenError(ResolveError):
    """A gradient or update asked of a parameter the network keeps fixed."""


class ExampleError(ResolveError):
    """An example index the checker cannot tell from a guess (whatever a free index is bound to)."""


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
    sizes: dict[int, int] = field(default_factory=dict)  # units per layer (s_l); n_l = L = len
    node_notation: bool = True  # \\Delta w is a weight's change; in layer notation a batch accumulator
    per_example: set[Symbol] = field(default_factory=set)  # what differs between examples: x, z, a, delta, y
    maps: dict = field(default_factory=dict)  # (base, layer) -> shape of a feature map: zero outside it
    layers: bool = False  # a network of layers: judged by walking its large expressions (judge.Problem)
    # a batch of examples that differ (batch norm's statistics): how many, and for each example n
    # the map from example 0's symbols to example n's; 1 is the model of m alike examples
    batch: int = 1
    example_maps: list = field(default_factory=list)
    example_loss: sympy.Expr | None = None  # one example's loss, what J = ... writes entry by entry
    spec: object = None  # a network of layers' own spec (SequentialNetwork): its layers' strides and paddings

    def add(self, base: str, indices: tuple, layer: int | None, symbol: Symbol) -> None:
        self.symbols[(base, tuple(str(i) for i in indices), layer)] = symbol


def per_example(table: Table, value) -> bool:
    """Whether a value is one example's (x, z, delta: differs between the batch's examples)."""
    if value == PER_EXAMPLE or value in table.per_example:
        return True
    return table.batch > 1 and isinstance(value, sympy.Basic) and bool(value.free_symbols & table.per_example)


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


def sequential_table(unit) -> Table:
    """The quantities of a network of layers, entry by entry, from its per-unit graph of one
    example (:func:`~symbackprop.calculus.sequential_units.sequential_unit_graph`): z^{(l)}_{f,i,j},
    a^{(l)}_{c,i,j}, x_{c,i,j} (also a^{(0)}), \\delta^{(l)}_{f,i,j} = dJ/dz^{(l)}_{f,i,j}, W^{(l)}_{f,c,u,v},
    b^{(l)}_{f}, \\gamma, \\beta, the dropout mask r^{(l)}, the target y (or t), J, L, s; indices count
    from 0 as in the documents. An entry of a feature map outside the map is zero (``maps``)."""
    derivation = unit.derivation
    net = unit.network
    table = Table(derivation, derivation, objective=net.objective)
    delta_of = derivation.delta_symbols
    maps: dict[tuple[str, int | None], tuple[int, ...]] = {}
    _example_maps(table, unit)
    for symbol, (tensor, index, example) in unit.origin.items():
        if example not in (None, 0):  # example n's entries: reached through example_maps
            continue
        name = tensor.name
        keys = []
        m = re.fullmatch(r"(z|a|xhat|W|b|gamma|beta|mask)(\d+(?:_\d+)?)", name)
        if name == "x":
            keys = [("x", None), ("a", 0)]
        elif name == "t":
            keys = [("y", None), ("t", None)]
        elif m:
            base = {"mask": "r", "xhat": "xhat"}.get(m.group(1), m.group(1))
            keys = [(base, _layer_key(m.group(2)))]
        for base, layer in keys:
            table.add(base, index, layer, symbol)
            if len(index) == 3:
                maps[(base, layer)] = tuple(unit.shapes[tensor])
        if name.startswith("z") and m and symbol in delta_of:  # one example's: m dJ/dz, as the documents
            table.add("delta", index, _layer_key(m.group(2)), unit.m * delta_of[symbol])
            if len(index) == 3:
                maps[("delta", _layer_key(m.group(2)))] = tuple(unit.shapes[tensor])
    _batch_statistics(table, unit)
    sequence_entries(table, unit)  # a sequence model's steps, gates and attention (verify/sequence.py)
    ranks: dict[tuple[str, int], set] = {}  # a base whose entries of one rank are in one layer only
    for (base, index, layer), symbol in list(table.symbols.items()):
        if layer is not None:
            ranks.setdefault((base, len(index)), set()).add(layer)
    for (base, index, layer), symbol in list(table.symbols.items()):
        if layer is not None and len(ranks[(base, len(index))]) == 1 and (base, index, None) not in table.symbols:
            table.symbols[(base, index, None)] = symbol  # W_{f,c,u,v} where one layer has kernels
            if (base, layer) in maps:
                maps[(base, None)] = maps[(base, layer)]
    for c, value in net.constants.items():
        table.add(c.name, (), None, c)
    table.add("J", (), None, net.objective)
    table.add("E", (), None, net.objective)
    if real("s") in unit.scalars:  # J = L + s: the loss and the weight decay name their sums
        table.add("L", (), None, unit.scalars[real("L")])
        table.add("s", (), None, unit.scalars[real("s")])
    else:  # no weight decay: the loss is the objective
        table.add("L", (), None, net.objective)
    table.add("m", (), None, real("m") if unit.m == 1 else Integer(unit.m))
    table.add("alpha", (), None, net.learning_rate_symbol)
    table.add("eta", (), None, net.learning_rate_symbol)
    table.maps = maps
    table.layers = True
    table.per_example = {s for s, (t, _, example) in unit.origin.items() if example is not None}
    table.per_example |= {delta_of[s] for s in table.per_example if s in delta_of}
    return table


def _example_maps(table: Table, unit) -> None:
    """A per-unit graph of m > 1 examples that differ (batch norm): for each example n the map
    from example 0's entries (and their error terms) to example n's, and one example's own loss
    (what J = ... writes entry by entry)."""
    delta_of = unit.derivation.delta_symbols
    by_entry: dict[tuple, dict[int, Symbol]] = {}
    for symbol, (tensor, index, example) in unit.origin.items():
        if example is not None:
            by_entry.setdefault((tensor, index), {})[example] = symbol
    table.batch = unit.m
    table.example_maps = [{} for _ in range(unit.m)]
    for entries in by_entry.values():
        for n, symbol in entries.items():
            table.example_maps[n][entries[0]] = symbol
            if symbol in delta_of:
                table.example_maps[n][delta_of[entries[0]]] = delta_of[symbol]
    if unit.m > 1:
        first = {entries[0] for entries in by_entry.values()}
        loss = unit.scalars.get(real("L"), unit.scalars[unit.network.objective])
        others = {s for entries in by_entry.values() for n, s in entries.items() if n != 0}
        terms = sympy.Add.make_args(sympy.expand(loss))
        own = [t for t in terms if t.free_symbols & first and not t.free_symbols & others]
        table.example_loss = unit.m * sympy.Add(*own)


def _batch_statistics(table: Table, unit) -> None:
    """Batch norm's statistics by the names students give them: \\mu^{(l)}_k, \\sigma^{(l)}_k (so
    that \\sigma^2 is the variance), and \\epsilon where the network has one."""
    eps = set()
    for node, expr in unit.network.nodes.items():
        m = re.fullmatch(r"xhat(\d+(?:_\d+)?)__(mean|var)_(\d+)", node.name)
        if m is None:
            if node.name.startswith("xhat"):
                eps |= expr.atoms(sympy.Float)
            continue
        layer, index = _layer_key(m.group(1)), (m.group(3),)
        if m.group(2) == "mean":
            table.add("mu", index, layer, node)
        else:
            table.add("sigma", index, layer, sympy.sqrt(node))
    if len(eps) == 1:
        for name in ("epsilon", "varepsilon"):
            table.add(name, (), None, next(iter(eps)))


# --- a sequence model's labelled names in the syntax tree (verify/sequence.py) --------------------


def _ranks(table: Table) -> dict[str, set[int]]:
    """Each base's numbers of indices: W_hh -> {2}, delta -> {1, 2}."""
    ranks: dict[str, set[int]] = {}
    for base, index, _ in table.symbols:
        ranks.setdefault(base, set()).add(len(index))
    return ranks


def _folded_name(node: Node, ranks: dict[str, set[int]]) -> Node:
    """W_{hh,k,j} as the name W_hh with indices k, j, where the table has such entries and W
    itself has none with three indices; any other name unchanged."""
    base, sub, layer, primes = node.parts
    if not sub:
        return node
    head, _, rest = sub.partition(",")
    labelled = f"{base}_{head.strip()}"
    if labelled not in ranks:
        return node
    rank = len(index_elements(rest)) if rest else 0
    if rank not in ranks[labelled] or len(index_elements(sub)) in ranks.get(base, set()):
        return node
    return Node("name", (labelled, rest or None, layer, primes), node.extra)


def fold_labels(table: Table, tree):
    """The tree with every labelled name folded (see the module docstring); the same tree where
    the table has no labelled names. Iterative: a long sum is a deep left spine."""
    if tree is None or not any("_" in base for base, _, _ in table.symbols if base != "J_example"):
        return tree
    ranks = _ranks(table)
    done: dict[int, object] = {}
    stack = [(tree, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in done:
            continue
        parts = node if isinstance(node, tuple) else node.parts if isinstance(node, Node) else None
        if parts is None:
            done[id(node)] = node
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((p, False) for p in parts if isinstance(p, (Node, tuple)) and id(p) not in done)
            continue
        new = tuple(done.get(id(p), p) if isinstance(p, (Node, tuple)) else p for p in parts)
        if isinstance(node, tuple):
            done[id(node)] = new
        elif node.kind == "name":
            done[id(node)] = _folded_name(node, ranks)
        else:
            done[id(node)] = Node(node.kind, new, node.extra) if new != parts else node
    return done[id(tree)]


def _layer_key(tag: str) -> int | str:
    """A layer's number from a tensor's name: 1 (z1), or "1,2" for a residual block's (z1_2)."""
    return int(tag) if tag.isdigit() else tag.replace("_", ",")


def _layered_table(derivation) -> Table:
    net, names = derivation.network, derivation.names
    table = Table(derivation, derivation.unit_derivation, objective=names.objective())
    node, d2l = names.node, names.d2l
    label = (lambda layer, k: names.unit_number(layer, k)) if node else (lambda layer, k: k + 1)

    def letters(layer: int) -> tuple[str, str]:
        """A layer's names of its weighted input and its output: net, y; z, a; d2l's z, h and o, yhat."""
        if d2l:
            return names.d2l_letter("net", layer)[0], names.d2l_letter("out", layer)[0]
        return ("net", "y") if node else ("z", "a")

    for i in range(net.sizes[0]):
        table.add("x", (i + 1,), None, names.input(i))
        if not d2l:
            table.add("y" if node else "a", (label(1, i),), None if node else 1, names.input(i))  # an input's output
    for layer in range(2, len(net.sizes) + 1):
        net_name, out_name = letters(layer)
        for k in range(net.sizes[layer - 1]):
            u = label(layer, k)
            where = None if node or d2l else layer
            table.add(net_name, (u,), where, names.net(layer, k))
            table.add(out_name, (u,), where, names.out(layer, k))
            if not d2l:  # d2l writes dJ/dz_k, dJ/do_k: no delta
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
    table.add(names.learning_rate().name, (), None, names.learning_rate())
    table.add("lambda", (), None, names.weight_decay())
    table.add("E" if node else "J", (), None, names.objective())
    table.add("m", (), None, names.batch_size())
    # the matrix form: vectors and matrices by layer
    for layer in range(1, len(net.sizes) + 1):
        if layer > 1 and d2l:
            net_name, out_name = letters(layer)
            table.add(net_name, (), None, names.net_vec(layer))
            table.add(out_name, (), None, names.out_vec(layer))
        elif layer > 1:
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
    if not d2l:
        table.add("a", (), 1, names.out_vec(1))
    table.add("t" if node else "y", (), None, names.target_vec())
    table.roles = dict(names.roles)
    table.sizes = {layer: size for layer, size in enumerate(net.sizes, start=1)}
    table.node_notation = bool(node)
    table.per_example = {
        symbol
        for symbol in table.symbols.values()
        if isinstance(symbol, Symbol) and (symbol in names.vectors or _per_unit_example(symbol))
    } | set(table.unit.delta_symbols.values())
    units = [[label(layer, k) for k in range(net.sizes[layer - 1])] for layer in range(1, len(net.sizes) + 1)]
    table.sets = {
        "inputs": units[0],
        "input": units[0],
        "outputs": units[-1],
        "output": units[-1],
        "hidden": [u for layer in units[1:-1] for u in layer],
    }
    return table


def _per_unit_example(symbol: Symbol) -> bool:
    """A unit's input, weighted input, output, error term or target: one example's value."""
    return bool(re.fullmatch(r"(x|t|net|y|z|a|h|o|yhat|delta|grad_[a-z]+)\d*_\d+", symbol.name))


_ELEMENT = re.compile(r"[A-Za-z](?:[+-]\d+)?|\d+")


def index_elements(text: str) -> list[str]:
    """The indices of a subscript: '4,1' -> 4, 1; 'kj' -> k, j; 'k4' -> k, 4; 'l+1' -> l+1;
    '4c+2r+q' (a flattened map's entry) -> one index."""
    return list(_index_elements(text))


@lru_cache(maxsize=4096)
def _index_elements(text: str) -> tuple[str, ...]:  # read once per subscript, not once per binding
    if "," in text:
        parts = [p.replace(" ", "") for p in text.split(",")]
        if not all(parts):
            raise ResolveError(f"an empty index in _{{{text}}}")
        return tuple(parts)
    compact = text.replace(" ", "")
    if "⌊" in compact:  # one floored index (a pooling window's), written alone
        return (compact,)
    if (
        re.fullmatch(_LINEAR_INDEX, compact)
        and re.search(r"[A-Za-z0-9][+-]", compact)
        and not re.fullmatch(r"[A-Za-z][+-]\d+", compact)
    ):
        return (compact,)
    return tuple(_ELEMENT.findall(text))


_TERM = r"[+-]?\d*[A-Za-z]?"
_LINEAR_INDEX = rf"(?:{_TERM})+"


def _letters_of(element: str) -> list[str]:
    """The index letters an index uses: i and u in i+u."""
    return re.findall(r"[A-Za-z]", element)


def _linear_value(index: str, env: dict[str, int]) -> int | None:
    """The value of a linear index (2i+u-1, r-u) with every letter bound; None if it is not one."""
    if not re.fullmatch(_LINEAR_INDEX, index):
        return None
    total = 0
    for sign, digits, letter in re.findall(r"([+-]?)(\d*)([A-Za-z]?)", index):
        if not digits and not letter:
            continue
        coefficient = int(digits) if digits else 1
        if letter:
            if letter not in env or not isinstance(env[letter], int):
                return None
            value = coefficient * env[letter]
        else:
            value = coefficient
        total += -value if sign == "-" else value
    return total


def _index_candidates(text: str | None, env: dict[str, int]) -> list[tuple]:
    """The index tuples a subscript may mean: '41' -> (41,), (4, 1); 'k4' -> (k, 4) with k bound."""
    if text is None:
        return [()]
    if "," in text or not text.isdigit():
        return [tuple(_bound(p, env) for p in index_elements(text))]
    out = [(int(text),)]
    out += [(int(text[:i]), int(text[i:])) for i in range(1, len(text)) if text[i] != "0"]
    return out


_FLOOR = re.compile(r"⌊\(?([^()/⌊⌋]+)\)?/\(?(\d+)\)?⌋")


def _floored(index: str, env: dict[str, int]) -> int | None:
    """⌊(linear index)/n⌋ with every letter bound (max pooling's window of an entry); None if
    a letter is not bound yet."""
    m = _FLOOR.fullmatch(index)
    if m is None:
        raise ResolveError(f"cannot read the index '{short(index)}': write \\lfloor i/2 \\rfloor")
    value = _linear_value(m.group(1), env)
    if value is None or int(m.group(2)) == 0:
        return None
    return value // int(m.group(2))


def _bound(index: str, env: dict[str, int]):
    """One index: a number, or a letter (plus or minus a number) bound by a sum or a binding, a
    linear index (i+u), or a floored one (⌊i/2⌋)."""
    if index.isdigit():
        return int(index)
    if "⌊" in index:
        value = _floored(index, env)
        if value is not None:
            return value
        unbound = [c for c in _letters_of(index) if c not in env] or [index]
        raise ResolveError(f"the index {unbound[0]} is not bound by a sum; write it as a number or sum over it")
    m = re.fullmatch(r"([A-Za-z])([+-]\d+)?", index)
    if m and m.group(1) in env:
        return env[m.group(1)] + int(m.group(2) or 0)
    if not m:
        value = _linear_value(index, env)
        if value is not None:
            return value
        unbound = [c for c in _letters_of(index) if c not in env]
        if not unbound or not re.fullmatch(_LINEAR_INDEX, index):
            raise ResolveError(f"cannot read the index '{short(index)}'")
        m = re.fullmatch(r"([A-Za-z])", unbound[0])
    batch = env.get(BATCH)
    if batch and m.group(1) == batch[0]:
        i = batch[0]
        raise ExampleError(
            f"{i} runs over the examples of the batch (\\sum_{{{i}=1}}^{{m}}), not over units: "
            f"example {i}'s quantities are written x^{{({i})}}, \\delta^{{(2)({i})}}"
        )
    raise ResolveError(f"the index {m.group(1)} is not bound by a sum; write it as a number or sum over it")


class Evaluator:
    """Turns a syntax tree into SymPy over the table's symbols."""

    def __init__(self, table: Table, free: bool = False):
        self.table = table
        self.strict = False  # inside a sum whose range is inferred: no transposed-index guesses
        self.free = free  # unknown plain names are free variables (identities such as lemmas)
        self.exact = False  # a general equation's instance: names must exist as written
        self.transposed: list[str] = []  # names written with swapped indices
        self.denominators: list[sympy.Expr] = []  # what the answer divides by, before SymPy cancels it
        self.examples: frozenset[str] = frozenset()  # example indices free on the left: an equation of example i
        self.batch_equation = False  # it sums over the batch: no per-example quantity outside the sum
        self._indexed = False  # resolving the name of an x^{(i)}

    def layer(self, layer: int | str | None, env: dict[str, int]) -> int | None:
        """A layer superscript's value: a number; l, l+1 bound like any index; n_l and L the last layer."""
        if layer is None or isinstance(layer, int):
            return layer
        if re.fullmatch(r"\d+,\d+", layer):  # a residual block's own layer (l, k)
            return layer
        m = re.fullmatch(r"(n_l|L|l)([+-]\d+)?", layer)
        if m is None:
            raise ResolveError(f"cannot read the layer ({short(layer)})")
        offset = int(m.group(2) or 0)
        if m.group(1) == "l":
            if "l" not in env:
                raise ResolveError("the layer index l is not bound")
            return env["l"] + offset
        if not self.table.sizes:
            raise ResolveError(f"this network has no layers to call {m.group(1)}")
        return len(self.table.sizes) + offset

    def extent(self, node: Node, env: dict[str, int]) -> int | None:
        """The upper end of a sum: a number, s_l (the units of layer l), n_l or L (the number of
        layers), sums and differences of these; None for m, the batch."""
        if node.kind == "num":
            if not node.parts[0].isdigit():
                raise ResolveError("a sum's range needs whole numbers")
            return int(node.parts[0])
        if node.kind in ("add", "sub"):
            left, right = (self.extent(p, env) for p in node.parts)
            if left is None or right is None:
                raise ResolveError("a sum over the batch runs from 1 to m")
            return left + right if node.kind == "add" else left - right
        if node.kind == "name":
            base, sub, layer, primes = node.parts
            if base == "m" and not sub and layer is None and ("m", (), None) in self.table.symbols:
                return None
            if base == "s" and sub and self.table.sizes:
                (value,) = [_bound(e, env) for e in index_elements(sub)] or [None]
                if value not in self.table.sizes:
                    raise ResolveError(f"this network has no layer {value} (s_{{{sub}}})")
                return self.table.sizes[value]
            if (base, sub) in (("n", "l"), ("L", None)) and self.table.sizes:
                return len(self.table.sizes)
            if base in env and not sub:
                return env[base]
            value = self.table.symbols.get((base, (), None))
            if not sub and layer is None and isinstance(value, sympy.Integer):  # T, a sequence's steps
                return int(value)
        raise ResolveError("a sum's upper end must be a number, s_{l+1}, n_l or m")

    def lookup(self, base: str, sub: str | None, layer: int | str | None, env: dict[str, int]) -> Symbol:
        layer = self.layer(layer, env)
        found = []
        for indices in _index_candidates(sub, env):
            key = (base, tuple(str(i) for i in indices), layer)
            if key in self.table.symbols:
                found.append(self.table.symbols[key])
        if len(found) == 1:
            return found[0]
        shape = self.table.maps.get((base, layer))
        if shape and not found:  # a feature map's entry outside the map: zero padding, as the documents say
            for indices in _index_candidates(sub, env):
                inside = [isinstance(i, int) and 0 <= i < n for i, n in zip(indices, shape)]
                if len(indices) == len(shape) and not all(inside) and all(isinstance(i, int) for i in indices):
                    return sympy.S.Zero
        written = short(f"{base}_{{{sub}}}" if sub else base)
        if len(found) > 1:
            raise ResolveError(
                f"'{written}' is ambiguous; separate the indices with a comma, e.g. {base}_{{{sub[:-1]},{sub[-1]}}}"
            )
        for indices in (
            [] if self.strict or self.exact else _index_candidates(sub, env)
        ):  # a weight written the wrong way round
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
        plain = self.table.symbols.get((base, tuple(str(i) for i in _index_candidates(sub, env)[0]), None))
        if layer is not None and plain in self.table.per_example:
            raise ResolveError(
                f"'{written}^({layer})': a number in parentheses is a layer, and {written} has none here; "
                f"for example i of a batch write {written}^{{(i)}}, with i the index of the sum over the batch "
                "(\\sum_{i=1}^{m}) or named on the left as well; one particular example is not a quantity of this network"
            )
        raise ResolveError(f"'{written}{'' if layer is None else f'^({layer})'}' is not a quantity of this network")

    def evaluate(self, node: Node, env: dict[str, int] | None = None) -> sympy.Expr:
        env = env or {}
        method = getattr(self, "_" + node.kind, None)
        if method is None:
            raise ResolveError(f"cannot use '{node.kind}' here")
        try:
            value = method(node, env)
        except (TypeError, ValueError, NotImplementedError, sympy.ShapeError) as err:
            if isinstance(err, ParseError) or not _has_matrix(node):
                raise
            raise ResolveError("a written-out matrix cannot be used this way: write each entry") from err
        if value is sympy.S.NaN or value is sympy.S.ComplexInfinity:
            raise ResolveError("a constant that is undefined (a division by zero?)")
        if isinstance(value, TensorFunction) and not (value.free_symbols & self.table.roles.keys()):
            raise ResolveError("this function takes a layer's vector; for one unit write softmax_k(z_1, ..., z_n)")
        if node.kind in ("pow", "call", "apply") and isinstance(value, sympy.Basic) and value.has(sympy.I):
            raise ResolveError("a value that is not a real number (the root or log of a negative number?)")
        return value

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
        value = self.lookup(base, sub, layer, env)
        if not self._indexed and per_example(self.table, value):
            self._unindexed(_spelled(base, sub, layer), env)
        return value

    def _unindexed(self, written: str, env: dict) -> None:
        """A per-example quantity written without an example index: read as the example's, as
        the documents' per-example equations are, except where the equation names its examples
        or sums over the batch (then it would have to be guessed which example it is)."""
        batch = env.get(BATCH)
        if batch is not None and batch[1]:
            i = batch[0]
            raise ExampleError(
                f"{written} stands in the sum over the examples {i} without their index: "
                f"write example {i}'s as {_spelled_example(written, i)}"
            )
        if batch is None and self.examples:
            i = min(self.examples)
            raise ExampleError(
                f"this equation is about example {i} (named on the left); write its {written} as "
                f"{_spelled_example(written, i)}"
            )
        if batch is None and self.batch_equation:
            raise ExampleError(
                f"{written} stands outside the sum over the batch's examples: which example's is it? "
                "Write it inside the sum, with the example's index (\\sum_{i=1}^{m} ... x^{(i)})"
            )

    def _example(self, node, env):
        """x^{(i)}, a^{(2)(i)}: example i's quantity, where i is the index of the sum over the
        batch around it or names the example on the left; the checker's batch has m alike
        examples, so it is the example's symbol. Anything else with a parenthesised letter
        above it is a power, as it always was (e^{(x)}), unless that would hide a mistake."""
        inner, letter = node.parts
        power = Node("pow", (inner, Node("name", (letter, None, None, 0))))
        if self.free:  # an identity of free variables (a lemma): a power
            return self.evaluate(power, env)
        base, sub, layer, primes = inner.parts
        written = _spelled_example(_spelled(base, sub, layer), letter)
        batch = env.get(BATCH)
        bound = batch[0] == letter if batch is not None else letter in self.examples
        if self.table.batch > 1:  # examples that differ: the equation's own example inside a batch sum too
            bound = bound or letter in self.examples
        if base == "l" and not sub and layer is None and not primes and self.table.roles:
            value = PER_EXAMPLE  # l^{(i)} (or \\ell^{(i)}): d2l's loss of example i
        else:
            outer, self._indexed = self._indexed, True
            try:
                value = self.evaluate(inner, env)
            finally:
                self._indexed = outer
        own = per_example(self.table, value)
        if own and bound and self.table.batch > 1:  # examples that differ: example n's own symbols
            n = env.get(EXAMPLE + letter, 0)  # the equation's own example (free on the left) is example 0
            return value.xreplace(self.table.example_maps[n])
        if own and bound:
            return value
        if own and batch is not None:
            i = batch[0]
            raise ExampleError(
                f"{written} stands in the sum over the examples {i}: write example {i}'s "
                f"{_spelled(base, sub, layer)} as {_spelled_example(_spelled(base, sub, layer), i)}"
            )
        if own:
            raise ExampleError(
                f"the example index {letter} of {written} is not bound: sum over the batch "
                f"(\\sum_{{{letter}=1}}^{{m}}) or name example {letter} on the left-hand side as well"
            )
        if bound or layer is not None or value in self.table.roles or value == self.table.objective:
            raise ExampleError(
                f"{written}: {_spelled(base, sub, layer)} is the same for every example; it takes no example index"
            )
        return self.evaluate(power, env)

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
        matrices = [isinstance(t, sympy.MatrixBase) for t in terms]
        if any(matrices):  # sympy.Add would accept a matrix among its terms and mean nothing
            if not all(matrices):
                raise ResolveError("a written-out matrix added to a number: write each entry")
            total = terms[-1]
            for term in reversed(terms[:-1]):
                total = total + term  # a ShapeError for different shapes
            return total
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
        while node.kind == "mul":
            factors.append(node.parts[1])
            node = node.parts[0]
        value = self.evaluate(node, env)
        for factor in reversed(factors):
            value = self.product(value, self.evaluate(factor, env))
        return value

    def _dapply(self, node, env):
        """\\frac{d}{dx} f: the derivative operator applied to what follows it."""
        return self.differentiate(node.parts[0], node.parts[1], env)

    def differentiate(self, variable_node: Node, operand_node: Node, env: dict) -> sympy.Expr:
        """d(operand)/d(variable): a quantity the derivation names (dE/dw, dy/dnet), or, in an
        identity, the derivative of an expression of free variables."""
        variable = self.evaluate(variable_node, env)
        if not isinstance(variable, Symbol):
            raise ResolveError("differentiate with respect to one variable: \\frac{d}{dx}")
        operand = self.evaluate(operand_node, env)
        if variable_node.kind == "example" and not self.free:  # \\frac{\\partial}{\\partial x^{(i)}} J
            return example_derivative(self.table, operand, variable)
        if isinstance(operand, Symbol) and (operand in (self.table.objective, PER_EXAMPLE) or not self.free):
            return derivative_of(self.table, operand, variable)  # \\frac{\\partial}{\\partial w} E
        value = sympy.diff(operand, variable)
        if value.has(sympy.DiracDelta):
            raise ResolveError(
                "the step [x > 0] has no derivative where it jumps; it is not a function to differentiate"
            )
        return value

    def _cost(self, node, env):
        """J(W,b) is the cost; J(W,b;x,y) UFLDL's cost of one example, without weight decay."""
        cost = self.evaluate(node.parts[0], env)
        if cost != self.table.objective:
            raise ResolveError(
                f"{node.parts[0].parts[0]}(...) names the cost, and this network's cost is {self.table.objective}"
            )
        return PER_EXAMPLE if node.parts[1] else cost

    def _change(self, node, env):
        """\\Delta w: in node notation the change an update makes (-eta dE/dw); in layer notation
        UFLDL's accumulator, the sum over the batch of one example's gradient (no weight decay)."""
        parameter = self.evaluate(node.parts[0], env)
        if not isinstance(parameter, Symbol):
            raise ResolveError("\\Delta stands before one parameter: \\Delta w_{64}, \\Delta W^{(1)}")
        if self.table.node_notation:
            return update_of(self.table, parameter) - parameter
        m = self.lookup("m", None, None, env)
        return m * derivative_of(self.table, PER_EXAMPLE, parameter)

    def _next(self, node, env):
        raise ResolveError("w^{new} is the value after the update: it stands on the left of the update")

    def _norm(self, node, env):
        return sympy.sqrt(self._norm2(node, env))

    def _matrix(self, node, env):
        rows = [[self.evaluate(entry, env) for entry in row] for row in node.parts]
        if any(isinstance(e, sympy.MatrixBase) for row in rows for e in row):
            raise ResolveError("a matrix's entries must be numbers or single quantities")
        return sympy.ImmutableMatrix(rows)

    def _dop(self, node, env):
        raise ResolveError("\\frac{d}{dx} needs something to differentiate after it")

    def product(self, left, right):
        """Matrix products keep their order: W a, W^T delta, delta a^T; the rest is elementwise."""
        roles = self.table.roles
        kind = lambda e: roles.get(e.args[0] if isinstance(e, Transposed) else e, (None,))[0]  # noqa: E731
        scalar = lambda e: not isinstance(e, Transposed) and not (e.free_symbols & roles.keys())  # noqa: E731
        written = [isinstance(e, sympy.MatrixBase) for e in (left, right)]
        if any(written) and not all(written) and not (scalar(left) and scalar(right)):
            raise ResolveError("a written-out matrix times a layer's vector or matrix: write each entry")
        if scalar(left) or scalar(right):
            return left * right
        if isinstance(left, sympy.Mul):  # \\frac{1}{m} (W)^T \\delta, \\lambda W a: the number, then the product
            numbers = [f for f in left.args if scalar(f)]
            rest = [f for f in left.args if not scalar(f)]
            if numbers and len(rest) == 1:
                return sympy.Mul(*numbers) * self.product(rest[0], right)
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
        """[a > b]: 1 where a > b, else 0."""
        a = self.evaluate(node.parts[0], env)
        b = self.evaluate(node.parts[1], env) if len(node.parts) > 1 else 0
        return sympy.Heaviside(a - b, 0)

    def _equal(self, node, env):
        """[i = j]: 1 where two indices agree, else 0 (the Kronecker delta, written so that it
        is not taken for an error term delta); [a = b] of two quantities: 1 where they are equal
        (max pooling's routing, [a_{c,i,j} = a^{(2)}_{c,p,q}]), as two steps [a >= b][b >= a]."""
        values = []
        for side in node.parts:
            base, sub, layer, primes = side.parts if side.kind == "name" else (None, None, None, 0)
            if side.kind == "num":
                values.append(int(side.parts[0]) if side.parts[0].isdigit() else None)
            else:
                values.append(env.get(base) if base and not sub and layer is None and not primes else None)
        if None not in values:
            return sympy.S.One if values[0] == values[1] else sympy.S.Zero
        if all(side.kind in ("name", "num") for side in node.parts) and any(
            side.kind == "name" and not side.parts[1] and side.parts[2] is None for side in node.parts
        ):
            raise ResolveError(
                "[a = b] compares two indices ([i = j]) or two quantities ([a_{c,i,j} = a^{(2)}_{c,p,q}])"
            )
        a, b = (self.evaluate(side, env) for side in node.parts)
        if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
            raise ResolveError("[a = b] compares two numbers, one entry each")
        return sympy.Heaviside(a - b, 1) * sympy.Heaviside(b - a, 1)  # 1 where they are equal, else 0

    def _norm2(self, node, env):
        inner = self.evaluate(node.parts[0], env)
        if self.table.roles.get(inner, (None,))[0] != "matrix":
            raise ResolveError("a norm needs a weight matrix: \\lVert W^{(1)} \\rVert_F^2")
        return FrobSq(inner)

    def _transpose(self, node, env):
        value = self.evaluate(node.parts[0], env)
        if isinstance(value, sympy.MatrixBase):
            return value.T
        if isinstance(value, Transposed):
            return value.args[0]
        if not (value.free_symbols & self.table.roles.keys()):  # a number or one unit's value: itself
            return value
        return Transposed(value)

    def _pow(self, node, env):
        base_node, exponent_node = node.parts
        exponent = self.evaluate(exponent_node, env)
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            raise ResolveError(f"an exponent is too large (at most {MAX_EXPONENT})")
        if base_node.kind == "name" and base_node.parts[0] == "e" and not base_node.parts[1]:
            if ("e", (), None) not in self.table.symbols:
                return sympy.exp(exponent)
        base = self.evaluate(base_node, env)
        if isinstance(base, sympy.MatrixBase) or isinstance(exponent, sympy.MatrixBase):
            raise ResolveError("a power of a written-out matrix: write the power of each entry")
        if base.is_Number and exponent.is_Number and abs(base) > 10**6:
            raise ResolveError("constant too large to evaluate")
        if exponent.is_negative and base.free_symbols:
            self.denominators.append(base)
        value = base**exponent
        if value is sympy.S.NaN or value is sympy.S.ComplexInfinity or value in (sympy.oo, -sympy.oo):
            raise ResolveError("a power that is undefined (0 to a negative power?)")
        if value.is_Number and value != 0 and not (sympy.Rational(1, 10**300) < abs(value) < 10**300):
            raise ResolveError("a constant too large (or too small) to evaluate")
        return value

    def _call(self, node, env):
        name, args = node.parts
        values = [self.evaluate(a, env) for a in args]
        function, low, high = CALLABLE[name]
        if len(values) < low or (high is not None and len(values) > high):
            raise ResolveError(f"\\{name} takes {'one argument' if high == 1 else f'at least {low} arguments'}")
        if len(values) == 1 and isinstance(values[0], sympy.MatrixBase):  # exp of a written-out vector: elementwise
            return values[0].applyfunc(function)
        if any(isinstance(v, sympy.MatrixBase) for v in values):
            raise ResolveError(f"\\{name} of several arguments, one a written-out matrix: write it for each entry")
        return function(*values)

    def _apply(self, node, env):
        """sigma(x), relu(x), f(net_j), and derivatives with primes: f'(net_j), sigma'(z)."""
        name, args = node.parts
        base, sub, _layer, primes = name.parts
        if base in COUPLED and (sub or primes):  # component k of softmax(z_1, ..., z_n)
            if primes:
                raise ResolveError(f"write the derivative of {base} as y_k (1[k = j] - y_j), not {base}'")
            indices = [_bound(e, env) for e in index_elements(sub)]
            if len(indices) != 1:
                raise ResolveError(f"{base} takes one index: {base}_k(...)")
            k = indices[0]
            values = [self.evaluate(a, env) for a in args]
            if not 1 <= k <= len(values):
                raise ResolveError(f"{base}_{k} needs at least {k} arguments")
            return COUPLED[base].unit(k - 1, values)
        if not primes and len(args) == 1 and (base, (), None) in self.table.symbols and not sub:
            return self.product(self.table.symbols[(base, (), None)], self.evaluate(args[0], env))  # f (1 - f)
        gate = self._named_entry(name, env) if not primes and len(args) == 1 and sub and base in GENERIC else None
        if gate is not None:  # an LSTM's gates f and g: f_{t,k} (1 - f_{t,k}) is a product
            return self.product(gate, self.evaluate(args[0], env))
        if len(args) != 1:
            raise ResolveError(f"{base}(...) takes one argument")
        arg = self.evaluate(args[0], env)
        if isinstance(arg, sympy.MatrixBase):  # sigma of a written-out vector: elementwise
            return arg.applyfunc(lambda a: self._apply_one(base, primes, a))
        return self._apply_one(base, primes, arg)

    def _named_entry(self, name: Node, env: dict) -> sympy.Expr | None:
        """The quantity a subscripted name of a network of layers denotes (an LSTM's gate f_{t,k}),
        None where it denotes none (f_j(net_j) is the activation f)."""
        base, sub, layer, _ = name.parts
        if not self.table.layers:
            return None
        try:
            return self.lookup(base, sub, layer, env)
        except ResolveError:
            return None

    def _apply_one(self, base: str, primes: int, arg: sympy.Expr) -> sympy.Expr:
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
        if isinstance(high, Node):
            high = self.extent(high, env)
            if high is None:  # a sum over the examples of a batch: m times one example's term
                if env.get(BATCH) is not None:
                    raise ExampleError("a sum over the batch inside another: the batch is summed over once")
                inner = {**env, BATCH: (var, _names_example(body, var))}
                if self.table.batch > 1:  # examples that differ: one term each
                    return sympy.Add(
                        *(self.evaluate(body, {**inner, EXAMPLE + var: n}) for n in range(self.table.batch))
                    )
                return self.lookup("m", None, None, env) * self.evaluate(body, inner)
        if low is not None:
            if high < low:
                raise ResolveError(f"the sum over {var} runs from {low} down to {high}; write the smaller end below")
            if high - low + 1 > MAX_SUM_TERMS:
                raise ResolveError(f"a sum from {low} to {high} has too many terms (at most {MAX_SUM_TERMS})")
            values = list(range(low, high + 1))
        elif domain is not None:
            values = self.table.sets.get(domain, [])
            if not values:
                raise ResolveError(f"this network has no '{domain}' units")
        else:
            if not _uses_index(body, var):  # \sum_k of a layer vector: the sum over its units
                summed = self.evaluate(body, env)
                if isinstance(summed, sympy.MatrixBase) or not (summed.free_symbols & self.table.roles.keys()):
                    raise ResolveError(f"the sum over {var}: its term does not depend on {var}")
                return UnitSum(summed)
            values = self._index_values(body, var, env)
        terms = []
        inferred = low is None and domain is None
        for v in values:
            self.strict = inferred
            try:
                terms.append(self.evaluate(body, {**env, var: v}))
            except ExampleError:  # not a unit that does not exist: wrong for every unit
                raise
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
        if self.free:  # an identity: \\frac{\\partial y}{\\partial x} of free variables
            return self.differentiate(den, num, env)
        top = self.evaluate(num, env)
        bottom = self.evaluate(den, env)
        if den.kind == "example" and isinstance(bottom, Symbol):  # d/dx^{(i)}: example i's, see example_derivative
            return example_derivative(self.table, top, bottom)
        term = objective_term_derivative(self.table, top, bottom)
        if term is not None:
            return term
        if not isinstance(bottom, Symbol):
            raise ResolveError("differentiate with respect to one quantity: \\frac{\\partial E}{\\partial net_k}")
        return one_example(self.table, top, bottom) * derivative_of(self.table, top, bottom)

    def _differential(self, node, env):
        raise ResolveError("a lone differential; write a derivative as \\frac{\\partial E}{\\partial w}")


def _spelled(base: str, sub: str | None, layer) -> str:
    """A name as a student would write it, for messages: \\delta^{(2)}_{1}."""
    text = ("\\" + base) if base in GREEK_BASES else base
    if layer is not None:
        text += f"^{{({layer})}}"
    return text + (f"_{{{sub}}}" if sub else "")


def _spelled_example(written: str, index: str) -> str:
    """x -> x^{(i)}, \\delta^{(2)}_{1} -> \\delta^{(2)(i)}_{1}."""
    m = re.fullmatch(r"(.*?\^\{\([^{}]*\))\}(.*)", written)
    if m:
        return f"{m.group(1)}({index})}}{m.group(2)}"
    base, _, sub = written.partition("_")
    return f"{base}^{{({index})}}" + (f"_{sub}" if sub else "")


def _names_example(node, var: str) -> bool:
    """Does a sum's summand name its example (x^{(i)} with the sum's index i)?"""
    return any(n.kind == "example" and n.parts[1] == var for n, _ in walk(node))


def _batch_sum(node: Node) -> bool:
    high = node.parts[2] if node.kind == "sum" else None
    return isinstance(high, Node) and high.kind == "name" and high.parts == ("m", None, None, 0)


_LINEAR = {"add", "sub", "neg", "transpose", "sum", "matrix"}  # a batch sum's value passes through linearly


def example_scope(lhs, rhs, target=None, differ: bool = False) -> tuple[frozenset[str], bool]:
    """The examples an equation names and how it sums over the batch: (the example indices free
    on the left-hand side or the target, whether a sum over the batch occurs). Refuses what the
    checker's batch of alike examples cannot judge: see the module's docstring. ``differ``: the
    checker's examples differ (batch norm), so it judges every such equation."""
    left = (lhs, target)
    examples = frozenset(n.parts[1] for n, bound in walk(left) if n.kind == "example" and n.parts[1] not in bound)
    trees = (lhs, *rhs, target)
    if not any(n.kind == "sum" and _batch_sum(n) for n, _ in walk(trees)):
        return examples, False
    if differ:
        return examples, True
    if examples:
        i = min(examples)
        raise ExampleError(
            f"this equation is about one example {i} (named on the left), so it cannot sum over the batch's examples"
        )
    has = _holds_batch_sum(trees)
    stack = [(t, True, False) for t in trees if t is not None]
    while stack:
        node, linear, inside = stack.pop()
        if isinstance(node, tuple):
            stack.extend((p, linear, inside) for p in node)
            continue
        if not isinstance(node, Node):
            continue
        if node.kind == "sum" and _batch_sum(node):
            if inside:
                raise ExampleError("a sum over the batch inside another: the batch is summed over once")
            if not linear:
                raise ExampleError(
                    "a sum over the batch's examples can be added, scaled or multiplied by a matrix "
                    "(\\frac{1}{m} \\sum_{i=1}^{m} ...); under a function, a power or a fraction bar, "
                    "or times another such sum, its value depends on how the examples differ"
                )
            stack.append((node.parts[4], True, True))
        elif inside or node.kind in _LINEAR:
            stack.extend((p, linear, inside) for p in node.parts if isinstance(p, (Node, tuple)))
        elif node.kind in ("mul", "odot"):
            both = all(has.get(id(p), False) for p in node.parts)
            stack.extend((p, linear and not both, inside) for p in node.parts)
        elif node.kind == "div":
            numerator, denominator = node.parts
            stack.append((numerator, linear and not has.get(id(denominator), False), inside))
            stack.append((denominator, False, inside))
        else:
            stack.extend((p, False, inside) for p in node.parts if isinstance(p, (Node, tuple)))
    return examples, True


def _holds_batch_sum(trees) -> dict[int, bool]:
    """id(node) -> whether a sum over the batch is in it, computed without recursion."""
    order, stack = [], [trees]
    while stack:
        node = stack.pop()
        order.append(node)
        parts = node if isinstance(node, tuple) else node.parts if isinstance(node, Node) else ()
        stack.extend(p for p in parts if isinstance(p, (Node, tuple)))
    has: dict[int, bool] = {}
    for node in reversed(order):
        parts = node if isinstance(node, tuple) else node.parts if isinstance(node, Node) else ()
        own = isinstance(node, Node) and node.kind == "sum" and _batch_sum(node)
        has[id(node)] = own or any(has.get(id(p), False) for p in parts if isinstance(p, (Node, tuple)))
    return has


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


def objective_term_derivative(table: Table, top: sympy.Expr, bottom: sympy.Expr) -> sympy.Expr | None:
    """d2l's steps through J = L + s: dJ/dL = dJ/ds = 1; ds/dW^(l) = lambda W^(l) (the weight-decay
    terms of the engine's gradient); dL/dv = dJ/dv for a layer's values v, on which s does not
    depend. None for anything else."""
    if not isinstance(table.derivation, LayeredDerivation):
        return None
    L, s = table.symbols.get(("L", (), None)), table.symbols.get(("s", (), None))
    if s is None or s == 0:
        return None
    if top == table.objective and bottom in (L, s):
        return sympy.S.One
    if not isinstance(bottom, Symbol) or bottom not in table.roles:
        return None
    kind, _ = table.roles[bottom]
    lam = table.symbols.get(("lambda", (), None))
    if top == s and kind == "matrix":
        gradient = next(
            eq.rhs for eq in table.derivation.tensor_equations if eq.kind == "gradient" and eq.target == bottom
        )
        return sympy.Add(*(t for t in sympy.Add.make_args(gradient) if t.has(lam)))
    if top == L and kind in ("net", "out"):
        return _layer_gradient(table, bottom)
    return None


def derivative_of(table: Table, top: sympy.Expr, bottom: sympy.Expr) -> sympy.Expr:
    """The quantity d(top)/d(bottom) names, in the stored form the engine uses."""
    unit = table.unit
    term = objective_term_derivative(table, top, bottom)
    if term is not None:
        return term
    if top == PER_EXAMPLE:  # one example's cost: the cost without its weight-decay term
        decay = table.symbols.get(("lambda", (), None))
        value = derivative_of(table, table.objective, bottom)
        return value.subs(decay, 0) if decay is not None else value
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


def one_example(table: Table, top: sympy.Expr, bottom: Symbol) -> int:
    """m where examples differ and dJ/dv is written of one example's v with no example index:
    the documents' one-example derivative, m times the derivative of J, the mean over the batch."""
    averaged = (table.objective, table.symbols.get(("L", (), None)))
    return table.batch if table.batch > 1 and top in averaged and bottom in table.per_example else 1


def example_derivative(table: Table, top: sympy.Expr, bottom: Symbol) -> sympy.Expr:
    """d(top)/d(v^{(i)}) for a quantity v of example i: of that example's own cost (J(W,b;x,y),
    d2l's l^{(i)}) as the per-example equations give it (m = 1); of the objective J or its data
    term L, which average over the batch, 1/m of that."""
    m = table.symbols.get(("m", (), None))
    averaged = (table.objective, table.symbols.get(("L", (), None)))
    if table.batch > 1 and top == PER_EXAMPLE:  # examples that differ: the example's own cost, m J's share
        return table.batch * derivative_of(table, table.objective, bottom)
    if table.batch > 1:  # of J itself
        return derivative_of(table, top, bottom)
    if m is not None and (top == PER_EXAMPLE or top in averaged):
        own = derivative_of(table, PER_EXAMPLE, bottom).subs(m, 1)
        return own if top == PER_EXAMPLE else own / m
    return derivative_of(table, top, bottom)


def update_of(table: Table, parameter: Symbol) -> sympy.Expr:
    """The value a parameter takes after one update, with its gradient written out."""
    unit = table.unit
    if parameter.name in unit.updates:
        return unit.updates[parameter.name]
    if isinstance(table.derivation, LayeredDerivation):
        equations = table.derivation.tensor_equations
        for eq in equations:
            if eq.kind == "update" and eq.lhs == parameter:
                gradient = next(g for g in equations if g.kind == "gradient" and g.target == parameter)
                return eq.rhs.xreplace({gradient.lhs: gradient.rhs})
    if parameter in getattr(unit.network, "frozen", ()):
        raise FrozenError(f"{parameter} is frozen: training does not update it")
    raise ResolveError(f"{parameter} is not a parameter that training updates")


def _layer_gradient(table: Table, bottom: Symbol):
    if bottom not in table.roles:
        return None
    kind, layer = table.roles[bottom]
    names = table.derivation.names
    if kind == "net":
        return names.delta_vec(layer)
    if kind == "out" and 1 < layer < len(table.sizes):  # a hidden layer's output feeds z^(l+1) only
        return MatTVec(names.matrix(layer), names.delta_vec(layer + 1))
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


# --- free indices: \delta_j = \sum_k \delta_k w_{kj} f'(net_j) holds for every hidden j ---------

MAX_BINDINGS = 20_000  # index combinations tried before giving up


def walk(tree, bound: frozenset = frozenset()):
    """Every node of a tree with the index letters the sums around it bind, without recursion
    (a sum of 2,400 terms is a left spine 2,400 deep)."""
    stack = [(tree, bound)]
    while stack:
        node, bound = stack.pop()
        if isinstance(node, tuple):
            stack.extend((p, bound) for p in reversed(node))
        elif isinstance(node, Node):
            yield node, bound
            if node.kind == "sum":
                var, _low, high, _domain, body = node.parts
                stack.append((body, bound | {var}))
            elif node.kind == "apply":
                stack.append((node.parts[1], bound))
            else:
                stack.extend((p, bound) for p in reversed(node.parts) if isinstance(p, (Node, tuple)))


def _has_matrix(tree: Node) -> bool:
    """Whether a written-out matrix (bmatrix) occurs in the tree."""
    return any(node.kind == "matrix" for node, _ in walk(tree))


def _letters(sub: str | None) -> list[str]:
    return [c for e in index_elements(sub) for c in _letters_of(e)] if sub else []


def free_indices(tree) -> set[str]:
    """The index letters a tree uses without a sum binding them: j and k in w_{kj}, l in
    W^{(l)} and s_{l+1}. Function names (f in f'(net_j)) and the batch size m are not indices."""
    found: set[str] = set()
    for node, bound in walk(tree):
        if node.kind == "name":
            base, sub, layer, _ = node.parts
            letters = set(_letters(sub)) | ({"l"} if isinstance(layer, str) and layer[0] == "l" else set())
            found |= letters - bound
        elif node.kind == "apply":
            head = node.parts[0]
            if head.parts[1] and head.parts[0] in COUPLED:  # softmax_k(...)
                found |= set(_letters(head.parts[1])) - bound
        elif node.kind == "sum" and isinstance(node.parts[2], Node):
            found |= _extent_indices(node.parts[2]) - bound
    return found


def _extent_indices(node: Node) -> set[str]:
    """l in s_{l+1}; nothing in n_l, L or m."""
    found: set[str] = set()
    for inner, _ in walk(node):
        if inner.kind == "name" and inner.parts[0] == "s" and inner.parts[1]:
            found |= set(_letters(inner.parts[1]))
    return found


def _occurrences(tree):
    """Every (base, subscript, layer, bound letters) a quantity is written with."""
    for node, bound in walk(tree):
        if node.kind == "name":
            yield node.parts[0], node.parts[1], node.parts[2], bound


def _layer_binding(layer, key_layer, last: int) -> tuple[bool, int | None]:
    """Does a key's layer fit a written one? (fits, the value of l it implies)."""
    if layer is None or isinstance(layer, int) or re.fullmatch(r"\d+,\d+", layer):
        return layer == key_layer, None
    if key_layer is None:
        return False, None
    m = re.fullmatch(r"(n_l|L|l)([+-]\d+)?", layer)
    if m is None:
        return False, None
    offset = int(m.group(2) or 0)
    if m.group(1) == "l":
        return True, key_layer - offset
    return key_layer == last + offset, None


def binding_candidates(table: Table, tree, free: set[str]) -> dict[str, list[int]]:
    """Values each free index may take: those for which every quantity it indexes exists,
    quantity by quantity (a necessary condition; the instance check decides)."""
    units = sorted({int(i) for key in table.symbols for i in key[1] if str(i).isdigit()})
    layers = sorted(table.sizes)
    last = len(table.sizes)
    allowed: dict[str, set[int]] = {v: set(layers if v == "l" else units) for v in free}
    for base, sub, layer, bound in _occurrences(tree):
        elements = index_elements(sub) if sub else []
        letters = {
            e[0] for e in elements if re.fullmatch(r"[A-Za-z]([+-]\d+)?", e) and e[0] in free and e[0] not in bound
        }
        layer_free = isinstance(layer, str) and layer[0] == "l" and "l" in free and "l" not in bound
        if not letters and not layer_free:
            continue
        seen: dict[str, set[int]] = {v: set() for v in letters | ({"l"} if layer_free else set())}
        for (kbase, kindices, klayer), _ in table.symbols.items():
            if kbase != base or len(kindices) != len(elements):
                continue
            fits, l_value = _layer_binding(layer, klayer, last)
            if not fits:
                continue
            values, ok = {}, True
            for e, k in zip(elements, kindices):
                if not str(k).lstrip("-").isdigit():
                    ok = False
                    break
                m = re.fullmatch(r"([A-Za-z])([+-]\d+)?", e)
                if m and m.group(1) in seen:
                    values[m.group(1)] = int(k) - int(m.group(2) or 0)
                elif e.isdigit() and int(e) != int(k):
                    ok = False
                    break
            if ok:
                for v, value in values.items():
                    seen[v].add(value)
                if layer_free and l_value is not None:
                    seen["l"].add(l_value)
        for v, values in seen.items():
            allowed[v] &= values
    return {v: sorted(values) for v, values in sorted(allowed.items())}
