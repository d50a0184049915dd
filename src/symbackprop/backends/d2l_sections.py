"""The sections only a document in d2l notation has, printed (the numbers come from analysis/).

* d2l's computational graph of the forward pass (:mod:`symbackprop.backends.d2l_graph`);
* its backward pass in its own order, each step as d2l writes it with prod(A, B) beside what it
  is in this network (:func:`symbackprop.calculus.d2l.d2l_backward`) — a table, not display maths:
  prod is not an operation the verifier (or anyone else) can evaluate, and the results are the
  numbered matrix-form equations of the document, which are checked;
* the memory section: which values the backward pass reads, their sizes in floats per example
  and in bytes for a batch, and the peak of a prediction-only forward pass
  (:func:`symbackprop.analysis.memory.memory_use`).
"""

from __future__ import annotations

from symbackprop.analysis import Analysis
from symbackprop.analysis.memory import FLOAT_BYTES
from symbackprop.backends.d2l_graph import d2l_graph
from symbackprop.backends.environment import tex_escape
from symbackprop.backends.printers import NotationLatexPrinter
from symbackprop.registry import ACTIVATIONS, LOSSES


def _prod(printer: NotationLatexPrinter, a, b) -> str:
    return rf"\operatorname{{prod}}\left({printer.doprint(a)}, {printer.doprint(b)}\right)"


def d2l_sections(
    analysis: Analysis, latex_names: dict, vectors: frozenset, leading: frozenset, msg, lang: str
) -> dict | None:
    """The graph, the backward table and the memory section; None outside d2l notation. The
    printer is the document's (its names, layer vectors, leading coefficients, the names of one
    example in a batch sum) with the partial derivatives d2l writes (dL/do, dJ/dh, ...) added.
    Without weight decay there is no s, so no d2l graph or backward pass (``steps`` empty): the
    memory section only."""
    backward, memory = analysis.d2l, analysis.memory
    if memory is None:
        return None
    d = analysis.derivation
    names, net = d.names, d.network
    extra_names, extra_vectors = (backward.latex, backward.vectors) if backward else ({}, frozenset())
    printer = NotationLatexPrinter({**latex_names, **extra_names}, vectors | extra_vectors, leading, names.examples)
    p = printer.doprint
    labels = {
        "x": names.out_vec(1),
        "z": names.net_vec(2),
        "h": names.out_vec(2),
        "o": names.net_vec(3),
        "y": names.target_vec(),
        "L": names.data_loss(),
        "s": names.regularisation(),
        "J": names.objective(),
        "W1": names.matrix(1),
        "W2": names.matrix(2),
    }
    printed = {key: p(s) for key, s in labels.items()}
    printed["phi"] = r"\phi"  # as d2l draws it; the words name the activation
    printed["loss"] = r"\ell"
    steps = [
        (
            p(step.lhs),
            " + ".join(_prod(printer, a, b) for a, b in step.prods),
            p(step.rhs),
        )
        for step in (backward.steps if backward else [])
    ]
    roles = {"input": msg.role_input, "label": msg.role_label}
    roles |= {"intermediate": msg.role_intermediate, "parameter": msg.role_parameter}
    rows = [
        (
            p(s.symbol),
            roles[s.role],
            r" \times ".join(map(str, s.shape)),
            (msg.floats_per_example if s.per_example else msg.floats_once).format(n=s.floats),
            msg.list_separator.join(f"${p(r)}$" for r in s.read_by),
        )
        for s in memory.stored
    ]
    intermediates = msg.list_separator.join(f"${p(s.symbol)}$" for s in memory.stored if s.role == "intermediate")
    alive = msg.list_separator.join(f"${p(s)}$" for s in memory.peak_values)
    b32, b64 = FLOAT_BYTES["float32"], FLOAT_BYTES["float64"]
    totals = msg.memory_totals.format(
        per_example=memory.per_example,
        intermediate_count=memory.intermediates,
        intermediates=intermediates,
        batch=memory.batch,
        batch_floats=memory.per_example * memory.batch,
        b32=memory.batch_bytes("float32"),
        b64=memory.batch_bytes("float64"),
        params=memory.parameters,
        p32=memory.parameters * b32,
        p64=memory.parameters * b64,
    )
    prediction = msg.memory_prediction.format(
        peak=memory.prediction_peak,
        alive=alive,
        q32=memory.prediction_bytes("float32"),
        q64=memory.prediction_bytes("float64"),
        per_example=memory.per_example,
    )
    loss = LOSSES[net.loss].title[lang]
    return {
        "graph": d2l_graph(printed) if backward else "",
        "graph_words": msg.d2l_graph_words.format(
            activation=tex_escape(ACTIVATIONS[net.activations[0]].description[lang]), loss=tex_escape(loss)
        ),
        "prod_words": msg.d2l_prod_words,
        "backward_words": msg.d2l_backward_words,
        "steps": steps,
        "memory_words": msg.memory_words,
        "memory_rows": rows,
        "memory_after": [totals, prediction],
    }
