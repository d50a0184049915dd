"""A sequence model's names for the checker: time steps, gates, the cell state and attention.

The per-unit graph of a sequence model (:func:`~symbackprop.calculus.sequential_units.sequential_unit_graph`)
names one tensor per time step: ``z1_2`` is z^(1) of step 2, ``h1_2`` h^(1)_2, ``c1_2`` an
LSTM's cell state, ``si1_2`` the pre-activation s^(1)_{i,2} of its input gate, ``u1_2`` and
``v1_2`` a GRU's input and recurrent parts; attention's Q1, K1, V1, S1, A1, O1 are (T, d) or
(T, T) matrices of one example. :func:`sequence_entries` adds them to the checker's table as
the derivation documents write them (section "Entry by entry"):

* a step's entries with the step first, numbered as the documents number them, 1 .. T:
  z^{(1)}_{t,k}, h^{(1)}_{t,k}, c^{(1)}_{t,k}, the gates i f g o (LSTM) and r z n (GRU),
  s^{(1)}_{i,t,k}; the input's rows as written, x_{t-1,j} for step t (rows count from 0);
* error terms: \\delta^{(1)}_{t,k} of the pre-activation z_t, \\delta^{(1)}_{h,t,k}, \\delta^{(1)}_{c,t,k}
  (the cell state), \\delta^{(1)}_{i,t,k} of a gate's pre-activation, \\delta^{(1)}_{u,t,k};
* parameters with their labels: W^{(1)}_{hh,k,j} (also W_{hh,k,j}), W_{xh}, W_{ih}, b_{h,k},
  W_{q,r,c}, W_{k,r,c}, W_{v,r,c}; the constants T (steps) and d_k;
* the state before the first step is zero (h_0 = 0, c_0 = 0, unless learned: then h_0 is the
  parameter), and so is an error term one step after the last (\\delta_{T+1} = 0): a general
  recurrence \\delta_t = ... \\delta_{t+1} ... holds for every t = 1 .. T, as the textbooks write it.

A labelled name's label is read as part of its name, never as an index (h in W_{hh,k,j}, i in
s_{i,t,k}): :func:`~symbackprop.verify.resolve.fold_labels` rewrites the syntax tree before its free indices are counted,
and only where the table has that labelled name with the remaining indices (W_{k,j} stays an
entry of a dense layer's W; W_{k,0,j} is attention's W_k). :func:`joined_subscripts` reads the
documents' spelling of a labelled entry, {W_{hh}^{(1)}}_{k,j}, as W^{(1)}_{hh,k,j}.

:func:`symbol_step` tells the diagnoses which time step a symbol belongs to.
"""

from __future__ import annotations

import re
from typing import Protocol

import sympy
from sympy import Integer, Symbol


class Table(Protocol):
    """What this module needs of resolve.py's table (which imports this module)."""

    symbols: dict

    def add(self, base: str, indices: tuple, layer, symbol) -> None: ...


STEP = re.compile(r"([A-Za-z]+?)(\d+)_(\d+)")  # z1_2: z of layer 1 at step 2 (or a residual block's)
LABELLED = re.compile(r"(W|b)_([a-z]+)(\d+)")  # W_hh1, b_h1, W_q1
INITIAL = re.compile(r"([hc])0(\d+)")  # a learned h_0 (h01) or c_0
MATRIX = re.compile(r"([QKVSAO])(\d+)")  # attention's matrices of one example
GATE = re.compile(r"s([a-z])")  # si1_2: the input gate's pre-activation s_{i,2}
STATES = ("h", "c")  # zero before the first step, unless learned
# the per-example tensors of sequence layers, by their names' letters (h1_2, si1_2, Q1)
SEQUENCE_TENSORS = ("h", "c", "u", "v", "i", "f", "g", "o", "r", "n", "si", "sf", "sg", "so", "sr", "sz", "sn")
SEQUENCE_TENSORS += ("hs", "Q", "K", "V", "S", "A", "O")
ENTRY = re.compile(r"(.+?)__(\d+(?:_\d+)*)")


def _residual_tags(unit) -> set[str]:
    """The tags of a residual block's layers (1_2 in W1_2): there z1_2 is a layer, not a step."""
    tags = set()
    for tensor, _, example in unit.origin.values():
        m = re.fullmatch(r"[A-Za-z_]*?(\d+_\d+)", tensor.name)
        if example is None and m:
            tags.add(m.group(1))
    return tags


def sequence_entries(table: Table, unit) -> None:
    """Add a sequence model's per-step quantities, labelled parameters, zero states and
    constants to a network of layers' table (see the module docstring). Nothing for a network
    without time steps (its input is not a (T, D) sequence)."""
    x = next((t for t, _, _ in unit.origin.values() if t.name == "x"), None)
    if x is None or len(unit.shapes[x]) != 2:
        return
    steps = unit.shapes[x][0]
    residual = _residual_tags(unit)
    derivation = unit.derivation
    delta_of, totals, nodes = derivation.delta_symbols, derivation.totals, unit.network.nodes
    states: dict[tuple[str, int], int] = {}  # (base, layer) -> units: zero at step 0
    deltas: dict[tuple[str, int], int] = {}  # an error term's (base, layer) -> units: zero at step T+1
    dims = set()
    for symbol, (tensor, index, example) in unit.origin.items():
        if example not in (None, 0):
            continue
        name = tensor.name
        step = STEP.fullmatch(name)
        if step and f"{step.group(2)}_{step.group(3)}" not in residual:
            base, layer, t = step.group(1), int(step.group(2)), int(step.group(3))
            gate = GATE.fullmatch(base)
            key = f"s_{gate.group(1)}" if gate else base
            table.add(key, (t, *index), layer, symbol)
            delta = _step_delta(symbol, delta_of, totals, nodes, total=bool(gate) or base == "h")
            if delta is not None:
                label = gate.group(1) if gate else None if base == "z" else base
                delta_base = "delta" if label is None else f"delta_{label}"
                table.add(delta_base, (t, *index), layer, delta)
                deltas[(delta_base, layer)] = unit.shapes[tensor][0]
            if base in STATES:
                states[(base, layer)] = unit.shapes[tensor][0]
            continue
        m = LABELLED.fullmatch(name)
        if m and example is None:
            table.add(f"{m.group(1)}_{m.group(2)}", index, int(m.group(3)), symbol)
            if m.group(1) == "W" and m.group(2) == "q":
                dims.add(unit.shapes[tensor][1])
            continue
        m = INITIAL.fullmatch(name)
        if m and example is None:
            table.add(m.group(1), (0, *index), int(m.group(2)), symbol)
            continue
        m = MATRIX.fullmatch(name)
        if m:
            table.add(m.group(1), index, int(m.group(2)), symbol)
    for (base, layer), width in states.items():  # h_0 = 0 and c_0 = 0 where they are not parameters
        for k in range(width):
            if (base, ("0", str(k)), layer) not in table.symbols:
                table.add(base, (0, k), layer, sympy.S.Zero)
    for (base, layer), width in deltas.items():  # no step after the last: its error term is 0
        for k in range(width):
            table.add(base, (steps + 1, k), layer, sympy.S.Zero)
    table.add("T", (), None, Integer(steps))
    if len(dims) == 1:
        table.add("d_k", (), None, Integer(dims.pop()))


def _step_delta(symbol: Symbol, delta_of: dict, totals: dict, nodes: dict, total: bool) -> sympy.Expr | None:
    """A step's error term: its own delta symbol; for a gate's pre-activation that is an entry of
    the stacked z_t (an LSTM's s_{i,t} = z_t[k]), that entry's; else, with ``total`` (a gate's
    pre-activation, an rnn's h_t), dJ/d(symbol) as the engine's total derivative. None for the
    rest (a GRU's gate z_t has no error term of its own: \\delta_t is not dJ/dz_t there)."""
    if symbol in delta_of:
        return delta_of[symbol]
    expr = nodes.get(symbol)
    if isinstance(expr, Symbol) and expr in delta_of:
        return delta_of[expr]
    return totals.get(symbol) if total else None


_SUB = r"(?:\{([^{}]*)\}|([A-Za-z0-9]))"
_LAYER = r"(\^\{\([^{}()]*\)\})"
_JOINED = [  # {W_{hh}^{(1)}}_{k,j} and {W^{(1)}_{hh}}_{k,j}
    re.compile(r"\{\s*(\\?[A-Za-z]+)\s*_" + _SUB + r"\s*" + _LAYER + r"?\s*\}\s*_" + _SUB),
    re.compile(r"\{\s*(\\?[A-Za-z]+)\s*" + _LAYER + r"\s*_" + _SUB + r"\s*\}\s*_" + _SUB),
]


def joined_subscripts(text: str) -> str:
    """The documents' labelled entries, {W_{hh}^{(1)}}_{k,j} (a name with a subscript, then the
    entry's indices), as one name with one subscript, W^{(1)}_{hh,k,j}. Text that is not of that
    form (which the grammar cannot read: a subscript after a braced subscript) is unchanged."""

    def label_first(m: re.Match) -> str:
        base, label, label1, layer, sub, sub1 = m.groups()
        return f"{base}{layer or ''}_{{{label if label is not None else label1},{sub if sub is not None else sub1}}}"

    def layer_first(m: re.Match) -> str:
        base, layer, label, label1, sub, sub1 = m.groups()
        return f"{base}{layer}_{{{label if label is not None else label1},{sub if sub is not None else sub1}}}"

    if "}_" not in text.replace(" ", ""):
        return text
    for pattern, joined in zip(_JOINED, (label_first, layer_first)):
        text = pattern.sub(joined, text)
    return text


# --- time steps of symbols, for the diagnoses --------------------------------------------------------


def is_sequence(table: Table) -> bool:
    """Whether the table is a sequence model's (it has the number of steps T)."""
    return ("T", (), None) in table.symbols


def tensor_of(symbol: Symbol) -> tuple[str, tuple[int, ...]]:
    """The tensor an entry symbol belongs to and the entry's indices (an example's first):
    h1_2__0_1 -> (h1_2, (0, 1)); delta_z1_2__0_1 -> (delta_z1_2, (0, 1)); W_hh1__0_1 -> (W_hh1, (0, 1))."""
    m = ENTRY.fullmatch(symbol.name)
    if m is None:
        return symbol.name, ()
    return m.group(1), tuple(int(i) for i in m.group(2).split("_"))


def symbol_step(symbol: Symbol) -> int | None:
    """The time step of a per-step entry (h1_2__0_1 and delta_z1_2__0_1: 2), None otherwise. Only
    for a sequence model's table (:func:`is_sequence`), whose residual blocks this ignores."""
    name, _ = tensor_of(symbol)
    name = name.removeprefix("delta_")
    m = STEP.fullmatch(name)
    return int(m.group(3)) if m else None


def symbol_row(symbol: Symbol) -> int | None:
    """The time row of an entry of a sequence matrix of one example (x, Q, K, V, S, A, O): its
    first index after the example's, None for anything else."""
    name, index = tensor_of(symbol)
    name = name.removeprefix("delta_")
    if (name == "x" or MATRIX.fullmatch(name)) and len(index) == 3:
        return index[1]
    return None
