"""The document parts of a network of layers that are not equations: its worked example, printed
(:func:`layers_example`), and its pictures (:func:`layer_stack`, the layers with their shapes;
the convolution's grids inside the example).

The numbers come finished from :mod:`symbackprop.analysis.sequential_example`; here they are
only formatted (``number_latex``, 4 significant digits) and arranged: a vector as a row, a
matrix as a matrix, a feature map (C, H, W) as one matrix per channel side by side, a kernel
(F, C, k, k) as one matrix per filter and channel. A layer's value and its error term share a
display line, and so do a parameter, its gradient and its updated value, when their estimated
width fits the line (LINE_PT); otherwise each gets a line of its own, and a map too wide for one
line continues on the next, channel by channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symbackprop.backends.diagram_text import text_box
from symbackprop.backends.layer_diagram import StackItem, conv_layout, stack_layout
from symbackprop.backends.printers import NotationLatexPrinter
from symbackprop.backends.sequence_diagram import Unrolled, unrolled_drawing
from symbackprop.registry import ACTIVATIONS, LOSSES
from symbackprop.registry.sequence import SEQUENCE_NOTES

LINE_PT = 465.0  # of the 472 pt of the text width (A4, 2.2 cm margins); the widths are upper estimates
FONT_PT = 10.0  # the example is set \small (10 pt in an 11 pt document)
COLSEP_PT = 2.5  # \arraycolsep in the example's matrices
GAP_PT = 20.0  # \qquad between two items of a line
VECTOR_ROW = 10  # a longer vector is printed in rows of this many entries
MAX_COLUMNS = 20  # of a bmatrix (the example sets MaxMatrixCols to this)
BLOCK_PT = LINE_PT - 90.0  # a wider matrix is printed in blocks of columns (room for its name)
ACTIVATED = ("dense", "conv2d", "batchnorm", "layernorm", "residual", "rnn")


@dataclass(frozen=True)
class _Piece:
    latex: str
    width: float


def _width(latex: str) -> float:
    return text_box(f"${latex}$", FONT_PT).width


def _matrix(rows: list[list[str]], label: str = "") -> _Piece:
    """A bmatrix of formatted numbers, an index label under it when given; its width estimated."""
    columns = list(zip(*rows))
    width = sum(max(_width(v) for v in col) for col in columns) + 2 * COLSEP_PT * (len(columns) - 1) + 10.0
    body = r" \\ ".join(" & ".join(row) for row in rows)
    latex = r"\begin{bmatrix} " + body + r" \end{bmatrix}"
    if label:
        latex = r"\underset{" + label + "}{" + latex + "}"
    return _Piece(latex, width)


def _column_blocks(rows: list[list[str]]) -> list[_Piece]:
    """A matrix too wide for a line as blocks of its columns, each labelled with its columns
    (j = 1..8), which the line breaking then puts one under the other."""
    whole = _matrix(rows)
    if whole.width <= BLOCK_PT and len(rows[0]) <= MAX_COLUMNS:
        return [whole]
    widths = [max(_width(row[j]) for row in rows) + 2 * COLSEP_PT for j in range(len(rows[0]))]
    blocks, start, used = [], 0, 10.0
    for j, width in enumerate(widths):
        if j > start and (used + width > BLOCK_PT or j - start == MAX_COLUMNS):
            blocks.append((start, j))
            start, used = j, 10.0
        used += width
    blocks.append((start, len(widths)))
    return [_matrix([row[a:b] for row in rows], f"j={a}" + (f"..{b - 1}" if b - a > 1 else "")) for a, b in blocks]


def tensor_pieces(value: np.ndarray, fmt: Callable[[float], str]) -> list[_Piece]:
    """A tensor as matrices: a vector a row (rows of at most VECTOR_ROW entries, as many as fit a
    line, when longer), a matrix as it is (in blocks of columns when too wide),
    a map one matrix per channel, a kernel one per filter and channel (labelled when several)."""
    value = np.asarray(value, dtype=float)
    if value.ndim == 0:
        return [_Piece(fmt(float(value)), _width(fmt(float(value))))]
    if value.ndim == 1:
        entries = [fmt(float(v)) for v in value]
        column = max(_width(e) for e in entries) + 2 * COLSEP_PT
        per_row = max(1, min(VECTOR_ROW, int((BLOCK_PT - 10.0) // column)))  # rows that fit a line
        rows = [entries[i : i + per_row] for i in range(0, len(entries), per_row)]
        if len(rows) > 1:
            rows[-1] += [""] * (per_row - len(rows[-1]))
        return [_matrix(rows)]
    if value.ndim == 2:
        return _column_blocks([[fmt(float(v)) for v in row] for row in value])
    if value.ndim == 3:
        several = value.shape[0] > 1
        return [
            _matrix([[fmt(float(v)) for v in row] for row in channel], f"c={c}" if several else "")
            for c, channel in enumerate(value)
        ]
    pieces = []
    for f, filters in enumerate(value):
        for c, channel in enumerate(filters):
            label = f"f={f},c={c}" if value.shape[1] > 1 else f"f={f}"
            pieces.append(_matrix([[fmt(float(v)) for v in row] for row in channel], label))
    return pieces


def _item(name: str, relation: str, value, fmt) -> list[_Piece]:
    pieces = tensor_pieces(value, fmt)
    head = _Piece(f"{name} {relation} ", _width(f"{name} {relation}") + 6.0)
    return [head, *pieces]


def _lines(groups: list[list[list[_Piece]]]) -> list[str]:
    """Display lines: each group (items that belong together: a value and its error term) on
    one line when it fits, else as many of its items a line as fit; an item too wide for a line
    breaks between its matrices (:func:`_broken`)."""
    lines: list[str] = []
    for group in groups:
        widths = [sum(p.width for p in item) for item in group]
        joined = lambda items: r" \qquad ".join(r"\;".join(p.latex for p in item) for item in items)
        if sum(widths) + GAP_PT * (len(group) - 1) <= LINE_PT:
            lines.append(joined(group))
            continue
        shared, used = [], 0.0  # as many whole items a line as fit, in order
        for item, width in zip(group, widths):
            if shared and used + GAP_PT + width > LINE_PT:
                lines.append(joined(shared))
                shared, used = [], 0.0
            if width > LINE_PT:
                lines += _broken(item)
                continue
            used += (GAP_PT if shared else 0.0) + width
            shared.append(item)
        if shared:
            lines.append(joined(shared))
    return lines


def _broken(item: list[_Piece]) -> list[str]:
    """An item too wide for a line, broken between its matrices (never after its name), the
    continuation indented."""
    lines: list[str] = []
    current, used = [], 0.0
    for k, piece in enumerate(item):
        if k > 1 and used + piece.width > LINE_PT:
            lines.append(r"\;".join(current))
            current, used = [r"\qquad"], GAP_PT
        current.append(piece.latex)
        used += piece.width + 3.0
    lines.append(r"\;".join(current))
    return lines


def layer_kind(layer, msg) -> str:
    """A layer's name in the document's language (卷积, 池化, ...)."""
    return getattr(msg, f"layer_{layer.type}")


def _layer_text(layer, msg) -> str:
    """A box of the stack: the layer's name, its size, its activation."""
    name = layer_kind(layer, msg)
    extra = {
        "dense": msg.layer_units.format(units=layer.units),
        "conv2d": msg.layer_kernels.format(channels=layer.channels) + rf" ${layer.kernel} \times {layer.kernel}$",
        "maxpool2d": rf"${layer.size} \times {layer.size}$",
        "avgpool2d": rf"${layer.size} \times {layer.size}$",
        "dropout": rf"$p = {layer.rate:g}$",
        "rnn": msg.layer_units.format(units=layer.units),
        "lstm": msg.layer_units.format(units=layer.units),
        "gru": msg.layer_units.format(units=layer.units),
        "attention": rf"$d_k = {layer.dim}$" + (msg.layer_comma + msg.layer_causal if layer.causal else ""),
    }.get(layer.type, "")
    if layer.type == "conv2d" and (layer.step != 1 or layer.padding):
        extra += msg.layer_comma + rf"$s = {layer.step}, p = {layer.padding}$"
    if layer.type in ("maxpool2d", "avgpool2d") and layer.step != layer.size:
        extra += msg.layer_comma + rf"$s = {layer.step}$"
    text = name + (" " + extra if extra else "")
    if layer.type in ACTIVATED and layer.activation != "identity":
        text += msg.layer_comma + "$" + ACTIVATIONS[layer.activation].latex + "$"
    return text


def _shape(shape: tuple[int, ...]) -> str:
    return "$" + r" \times ".join(map(str, shape)) + "$"


def layer_stack(net, msg, lang: str):
    """The layer stack's layout: the input, each layer (a residual block's body, then its sum),
    the loss; each arrow's tensor shape."""
    items = [StackItem(msg.layer_input + " $x$", _shape(net.input_shape))]
    start = 0
    for tag, layer, _, shape in net._walk():
        if "_" in tag and tag.endswith("_1"):
            start = len(items)  # the wire into the body's first layer carries the block's input
        if layer.type != "residual":
            items.append(StackItem(_layer_text(layer, msg), _shape(shape)))
            continue
        after = layer.activation != "identity"
        items.append(StackItem("", "" if after else _shape(shape), "sum", start, msg.layer_residual))
        if after:
            items.append(StackItem("$" + ACTIVATIONS[layer.activation].latex + "$", _shape(shape)))
    loss = LOSSES[net.loss].title[lang]
    items.append(StackItem(f"{loss} $J$", ""))
    unrolled = _unrolled(net, msg)
    if unrolled is None:
        return stack_layout(items)
    return stack_layout(items, lambda x0, y_mid: unrolled_drawing(unrolled, x0, y_mid))


def _unrolled(net, msg) -> Unrolled | None:
    """The first recurrent (rnn) layer at the top level unrolled, or None: what its picture shows."""
    layers = list(net.layers)
    number = next((k for k, layer in enumerate(layers, start=1) if layer.type == "rnn"), None)
    if number is None:
        return None
    layer, sup = layers[number - 1], f"^{{({number})}}"
    above = layers[number:]
    words = layer_kind(above[0], msg) if above else ""
    if len(above) > 1:
        words += r" $\to \cdots \to J$"
    elif above:
        words += r" $\to J$"
    source = "x" if number == 1 else f"a^{{({number - 1})}}"
    return Unrolled(
        steps=net.input_shape[0] if number == 1 else net.shapes[number - 2][0],
        x=f"${source}_{{{{t}}}}$",
        z=f"$z{sup}_{{{{t}}}}$",
        h=f"$h{sup}_{{{{t}}}}$",
        h0=f"$h{sup}_{{0}} = 0$" if not layer.learn_initial else f"$h{sup}_{{0}}$",
        w_xh=f"$W{sup}_{{xh}}$",
        w_hh=f"$W{sup}_{{hh}}$",
        activation="$" + ACTIVATIONS[layer.activation].latex + "$",
        above=words or "$J$",
        every_step=layer.returns != "last",
    )


def conv_picture(conv, fmt, msg, p):
    """The convolution's grids (input window, kernel, output entry (0, 0) framed), or None."""
    if conv is None:
        return None
    k = conv.window[0]
    source = f"{msg.conv_input} ${p(conv.symbols[0])}$, $c=0$"
    if conv.padding:
        source += msg.conv_padded.format(padding=conv.padding)
    grids = [
        (source, [[fmt(float(v)) for v in row] for row in conv.input]),
        (f"{msg.conv_kernel} ${p(conv.symbols[1])}_{{0,0}}$", [[fmt(float(v)) for v in row] for row in conv.kernel]),
        (f"{msg.conv_output} ${p(conv.symbols[2])}$, $f=0$", [[fmt(float(v)) for v in row] for row in conv.output]),
    ]
    frames = [(0, 0, k, k), None, (0, 0, 1, 1)]
    return conv_layout(grids, [r"$\star$", "$=$"], frames, [conv.padding, 0, 0])


def conv_sum_rows(conv, fmt, p) -> list[str]:
    """Output entry (0, 0) of the first filter written out: the window's entries times the
    kernel's, a row of the kernel a row of the display, the bias, the value (one input channel
    only: with more, the other channels' sums would be missing from it)."""
    if conv is None or conv.channels != 1:
        return []
    k = conv.window[0]

    def factor(value: float) -> str:
        text = fmt(value)
        return rf"\left({text}\right)" if text.startswith("-") else text

    rows = []
    for u in range(k):
        terms = [rf"{factor(float(conv.input[u, v]))} \cdot {factor(float(conv.kernel[u, v]))}" for v in range(k)]
        rows.append(" + ".join(terms))
    if conv.bias is not None:
        rows[-1] += f" + {factor(conv.bias)}"
    name = f"{p(conv.symbols[2])}_{{0,0,0}}"
    lines = [f"{name} &= {rows[0]}"] + [rf"&\quad + {row}" for row in rows[1:]]
    lines.append(f"&= {fmt(float(conv.output[0, 0]))}")
    return lines


def _room(layout) -> str:
    """How much of the page the convolution's words and picture need together, in cm (its
    sentence of three or four lines and its captions above and below the grids)."""
    if layout is None:
        return ""
    _, y0, _, y1 = layout.geometry.extent()
    return f"{(y1 - y0) * layout.scale + 3.0:.1f}"


def layers_example(ex, p: Callable, fmt: Callable[[float], str], msg, net, rate: str) -> dict:
    """The template's context for the worked example of a network of layers (``rate``: the
    learning rate as printed, $\\alpha = 0.1$)."""
    sequence = sequence_notes(net, ex, fmt, msg)
    if ex is None:
        words = msg.layers_example_too_large if net.example else msg.no_example
        return {"too_large": True, "words": words, "sequence": sequence}
    masks = msg.layers_example_masks if net.masks() else ""
    if ex.rows_in_data > 1:
        coupled = msg.layers_example_coupled if net.batch_norm else ""
        data = msg.layers_example_data.format(m=ex.rows_in_data, coupled=coupled, seed=net.seed, masks=masks, rate=rate)
    else:
        data = msg.layers_example_data_one.format(seed=net.seed, masks=masks, rate=rate)
    maps = any(len(s) >= 3 for s in net.shapes) or len(net.input_shape) == 3
    inputs = [[_item(p(s), "=", v, fmt) for s, v in ex.inputs]]
    target, tv = ex.targets
    inputs[0].append(_item(p(target), "=", tv, fmt))
    layers = []
    for layer in ex.layers:
        groups = []
        for row in layer.rows:
            group = [_item(p(row.symbol), "=", row.value, fmt)]
            if row.delta is not None:
                group.append(_item(p(row.delta), "=", row.delta_value, fmt))
            groups.append(group)
        kind = layer_kind(net.layers[layer.number - 1], msg)
        layers.append((msg.layers_example_layer.format(number=layer.number, kind=kind), _lines(groups)))
    params = [
        [
            _item(p(q.symbol), "=", q.value, fmt),
            _item(p(q.gradient_symbol), "=", q.gradient, fmt),
            _item(p(q.symbol), r"\leftarrow", q.updated, fmt),
        ]
        for q in ex.parameters
    ]
    _, value = ex.objective
    decay = msg.layers_example_decay if net.weight_decay else ""
    words_objective = msg.layers_example_objective.format(value=fmt(value), decay=decay, loss=fmt(ex.example_loss))
    conv = ex.conv
    conv_layout_ = conv_picture(conv, fmt, msg, p)
    conv_words = ""
    if conv_layout_ is not None:
        channels = msg.layers_example_conv_channels if conv.channels > 1 else ""
        bias = (
            msg.layers_example_conv_bias.format(layer=conv.layer, value=fmt(conv.bias)) if conv.bias is not None else ""
        )
        stride = (
            msg.layers_example_stride_one if conv.stride == 1 else msg.layers_example_stride.format(stride=conv.stride)
        )
        conv_words = msg.layers_example_conv.format(layer=conv.layer, channels=channels, bias=bias, stride=stride)
    conv_sum = conv_sum_rows(conv, fmt, p) if conv_layout_ is not None else []
    return {
        "too_large": False,
        "layers_mode": True,
        "finite": ex.finite,
        "data_words": data,
        "maps_words": msg.layers_example_maps if maps else "",
        "inputs_words": msg.layers_example_input_masks if net.masks() else msg.layers_example_input,
        "inputs": _lines(inputs),
        "layers": layers,
        "params": _lines(params),
        "objective_words": words_objective,
        "conv_words": conv_words,
        "conv": conv_layout_.tikz if conv_layout_ is not None else "",
        "conv_layout": conv_layout_,
        "conv_sum": conv_sum,
        "conv_space": _room(conv_layout_),
        "max_columns": MAX_COLUMNS,
        "units": [],
        "circuit": "",
        "sequence": sequence,
    }


# --- a sequence model's own parts: its notation, its backward words, its section -------------------
SEQUENCE_KINDS = ("rnn", "lstm", "gru", "attention")


@dataclass(frozen=True)
class NoteLine:
    """A line of a section's general equations, as the lemma macro prints it."""

    lhs: str
    rhs: str
    relation: str = "="


def _fill(text: str, **fields: str) -> str:
    """A message with its {name} fields filled (by name: the maths keeps its braces)."""
    for key, value in fields.items():
        text = text.replace("{" + key + "}", value)
    return text


def _top_layers(net) -> list:
    return list(net.layers)


def _kinds(net) -> list[str]:
    """The sequence layer types of the network, in order, each once."""
    return list(dict.fromkeys(layer.type for layer in _top_layers(net) if layer.type in SEQUENCE_KINDS))


def _printed(notes, group: str) -> list[NoteLine]:
    """A group of a section's equations, printed (⊙ between the tensors of the layer)."""
    printer = NotationLatexPrinter({}, notes.vectors)
    return [
        NoteLine(printer.doprint(line[0]) if line[0] is not None else "", printer.doprint(line[1]), *line[2:])
        for line in notes.groups[group]
    ]


def _source(number: int) -> str:
    """The name of a layer's input sequence in its section: x for the first layer."""
    return "x" if number == 1 else f"a^{{({number - 1})}}"


def _vector(value, fmt) -> str:
    return tensor_pieces(value, fmt)[0].latex


def _sum_line(name: str, parts: list, total, fmt, joiner: str = "+") -> list[_Piece]:
    """name = part + part = total, as pieces (their widths for the line breaking)."""
    pieces = [_Piece(f"{name} =", _width(name) + 12.0)]
    for k, part in enumerate(parts):
        if k:
            pieces.append(_Piece(joiner, 10.0))
        pieces += tensor_pieces(part, fmt)
    pieces.append(_Piece("=", 10.0))
    return pieces + tensor_pieces(total, fmt)


def _rnn_numbers(paths, fmt, sup: str) -> list[str]:
    groups = []
    for step in reversed(paths.steps):
        t = step.t
        dh = rf"\frac{{\partial J}}{{\partial h{sup}_{{{t}}}}}"
        first = _sum_line(dh, [step.direct, step.through], step.total, fmt)
        second = _sum_line(rf"\delta{sup}_{{{t}}}", [step.total, step.gate], step.delta, fmt, r"\odot")
        groups.append([first, second])
    return _lines(groups)


def _gated_numbers(paths, fmt, sup: str) -> list[str]:
    lstm = paths.kind == "lstm"
    carried, last = dict(paths.carried), paths.steps[-1].t
    groups = []
    for step in reversed(paths.steps):
        t = step.t
        name = rf"\delta{sup}_{{c,{t}}}" if lstm else rf"\delta{sup}_{{h,{t - 1}}}"
        gate = rf"{'f' if lstm else 'z'}{sup}_{{{t}}}"
        state = "c" if lstm else "h"
        chain = rf"\frac{{\partial {state}{sup}_{{{last}}}}}{{\partial {state}{sup}_{{{t}}}}}"
        group = [_item(gate, "=", step.gate, fmt)] if t > 1 else []  # step 1 has no forget or update gate
        if lstm:
            group.append(_sum_line(name, [step.direct, step.through], step.total, fmt))
        group.append(_item(chain, r"= \operatorname{diag}", carried[t], fmt))
        groups.append(group)
    if not lstm:  # a GRU's dJ/dh_t from the step after it: straight through z_{t+1}, and the rest
        for step in reversed(paths.steps[:-1]):
            name = rf"\delta{sup}_{{h,{step.t}}}"
            groups.append([_sum_line(name, [step.through, step.direct], step.total, fmt)])
    return _lines(groups)


def _attention_numbers(paths, fmt, sup: str) -> list[str]:
    a = _item(rf"a{sup}_{{1}}", "=", paths.weights[0], fmt)
    jac = _item(
        rf"\operatorname{{diag}}(a{sup}_{{1}}) - a{sup}_{{1}} (a{sup}_{{1}})^{{\top}}", "=", paths.jacobian, fmt
    )
    return _lines([[a, jac]])


def _rnn_section(layer, number, paths, fmt, msg) -> dict:
    notes = SEQUENCE_NOTES["rnn"](number, _source(number))
    direct = msg.seq_rnn_direct_last if layer.returns == "last" else msg.seq_rnn_direct_all
    blocks = [
        (
            _fill(msg.seq_rnn_paths, steps=str(paths.steps[-1].t if paths else "T"), direct=direct),
            _printed(notes, "paths"),
        ),
        (msg.seq_rnn_weight, _printed(notes, "weight")),
        (msg.seq_rnn_input, _printed(notes, "input")),
    ]
    section = {"heading": msg.seq_rnn_heading, "blocks": blocks, "numbers_words": "", "numbers": []}
    sub = {"heading": msg.seq_rnn_vanishing, "words": msg.seq_rnn_chain, "lines": _printed(notes, "chain")}
    if paths is not None:
        sup = f"^{{({number})}}"
        section["numbers_words"] = _fill(msg.seq_rnn_numbers, example=msg.example)
        section["numbers"] = _rnn_numbers(paths, fmt, sup)
        factors, bounds = dict(paths.factor_norms), dict(paths.bounds)
        sub["table_words"] = _fill(msg.seq_rnn_bound, norm=fmt(paths.weight_norm))
        sub["columns"] = [msg.seq_rnn_col_step, msg.seq_rnn_col_factor, msg.seq_rnn_col_product, msg.seq_rnn_col_bound]
        sub["rows"] = [
            [f"${t}$", f"${fmt(factors[t])}$" if t in factors else "", f"${fmt(v)}$", f"${fmt(bounds[t])}$"]
            for t, v in paths.jacobian_norms
        ]
        last = paths.jacobian_norms[-1][1]
        closing = msg.seq_rnn_shrinks if paths.shrinking else msg.seq_rnn_grows
        sub["after"] = _fill(closing, steps=str(paths.steps[-1].t), value=f"${fmt(last)}$")
    section["sub"] = sub
    return section


def _gated_section(layer, number, paths, fmt, msg) -> dict:
    kind = layer.type
    notes = SEQUENCE_NOTES[kind](number, _source(number))
    if kind == "lstm":
        blocks = [
            (msg.seq_lstm_cell, _printed(notes, "cell")),
            (msg.seq_lstm_gates, _printed(notes, "gates") + _printed(notes, "state")),
            (msg.seq_lstm_chain, _printed(notes, "chain")),
        ]
    else:
        blocks = [
            (msg.seq_gru_gates, _printed(notes, "gates")),
            (msg.seq_gru_state, _printed(notes, "state")),
            (msg.seq_gru_chain, _printed(notes, "chain")),
        ]
    section = {"heading": getattr(msg, f"seq_{kind}_heading"), "blocks": blocks, "numbers_words": "", "numbers": []}
    if paths is not None:
        section["numbers_words"] = getattr(msg, f"seq_{kind}_numbers")
        section["numbers"] = _gated_numbers(paths, fmt, f"^{{({number})}}")
    section["sub"] = None
    return section


def _attention_section(layer, number, paths, fmt, msg) -> dict:
    notes = SEQUENCE_NOTES["attention"](number, layer.dim, _source(number))
    if layer.causal:
        entries = ", ".join(f"$({t}, {u})$" for t, u in paths.masked) if paths is not None else ""
        mask = _fill(msg.seq_attention_causal, entries=entries)
    else:
        mask = msg.seq_attention_no_mask
    scale = fmt(1 / float(layer.dim) ** 0.5) if paths is None else fmt(paths.scale)
    blocks = [
        (msg.seq_attention_values, _printed(notes, "values")),
        (msg.seq_attention_softmax, _printed(notes, "jacobian")),
        (mask, []),
        (_fill(msg.seq_attention_scores, scale=f"{scale}", dim=str(layer.dim)), _printed(notes, "scores")),
        (msg.seq_attention_weights, _printed(notes, "weights")),
    ]
    section = {"heading": msg.seq_attention_heading, "blocks": blocks, "numbers_words": "", "numbers": [], "sub": None}
    if paths is not None:
        section["numbers_words"] = msg.seq_attention_numbers
        section["numbers"] = _attention_numbers(paths, fmt, f"^{{({number})}}")
    return section


def sequence_words(net, msg) -> dict | None:
    """A sequence model's own words (None for other networks): the notation paragraphs of the
    layer kinds it has (not the others'), and the first paragraph of its backward pass
    ("delta") and of its gradients ("gradient")."""
    kinds = _kinds(net)
    if not kinds:
        return None
    layers = _top_layers(net)
    notation = [msg.seq_notation_base]
    for kind in kinds:
        text = getattr(msg, f"seq_notation_{kind}")
        if kind == "attention":
            causal = any(layer.causal for layer in layers if layer.type == "attention")
            text = _fill(text, causal=msg.seq_notation_causal if causal else "")
        notation.append(text)
    notation += [
        getattr(msg, f"seq_notation_{t}")
        for t in dict.fromkeys(layer.type for layer in layers)
        if t in ("mean_over_time", "last_step")
    ]
    headings = {kind: getattr(msg, f"seq_{kind}_heading") for kind in kinds}
    backward = " ".join(
        [msg.seq_backward_base]
        + [_fill(getattr(msg, f"seq_backward_{k}"), heading=headings[k]) for k in kinds]
        + [msg.seq_backward_end]
    )
    gradient = " ".join([msg.seq_gradient_base] + [getattr(msg, f"seq_gradient_{k}") for k in kinds])
    return {"notation": notation, "delta": backward, "gradient": gradient}


def sequence_notes(net, ex, fmt: Callable[[float], str], msg) -> dict | None:
    """A sequence model's own sections (None for other networks): one per sequence layer (its
    general equations, the worked example's numbers of its paths, an rnn's vanishing and
    exploding gradients), and the words beside the unrolled picture."""
    if not _kinds(net):
        return None
    layers = _top_layers(net)
    paths = {p.layer: p for p in ex.paths} if ex is not None else {}
    builders = {"rnn": _rnn_section, "lstm": _gated_section, "gru": _gated_section, "attention": _attention_section}
    sections = [
        builders[layer.type](layer, number, paths.get(number), fmt, msg)
        for number, layer in enumerate(layers, start=1)
        if layer.type in SEQUENCE_KINDS
    ]
    rnn = next((layer for layer in layers if layer.type == "rnn"), None)
    figure = _fill(msg.seq_figure_unrolled, steps=str(net.input_shape[0])) if rnn is not None else ""
    return {"sections": sections, "figure_words": figure}
