"""The op registry: every activation, loss and function of the package, one block each.

Everything else reads these tables; no other module names an activation or a loss:

* ``ACTIVATIONS`` and ``LOSSES`` — spec name -> record; :func:`activation` and :func:`loss` look
  one up and, on a miss, name the known ones;
* ``FUNCTIONS`` — what expressions may call besides the elementwise activations;
  ``EXPRESSION_FUNCTIONS`` joins both for the spec parser;
* :func:`code_form` — how generated code computes a SymPy function (an ``xp.`` name or a kernel);
* :func:`kernel_source` — the source of the kernels a module needs, dependencies first;
* :func:`numpy_kernels` — the kernels bound to NumPy, for evaluating equations;
* :func:`register_activation` — a new activation from one SymPy expression, at run time;
* ``layers`` — the ops of convolutional networks (convolution, pooling, flatten, batch and layer
  norm), one class each, with their records in ``CONV_LAYER_OPS``;
* ``sequence`` — the ops of sequence models (time steps, gate blocks, attention), with their
  records in ``SEQUENCE_LAYER_OPS``.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Callable

import numpy as np
import sympy

from symbackprop.registry.activations import ACTIVATIONS, LogSoftmax, Sigmoid, Softmax, SoftmaxVector
from symbackprop.registry.base import (
    LANGUAGES,
    Activation,
    Domain,
    Elementwise,
    Lemma,
    Loss,
    MathFunction,
    Text,
    real,
)
from symbackprop.registry.functions import FUNCTIONS
from symbackprop.registry.layers import (
    CONV_LAYER_OPS,
    HELPER_KERNELS,
    LAYER_CLASSES,
    AvgPool2d,
    BatchNorm,
    ChannelBias,
    Conv2d,
    Flatten,
    LayerNorm,
    MaxPool2d,
)
from symbackprop.registry.layers import kernel_samples as conv_kernel_samples
from symbackprop.registry.losses import LOSSES
from symbackprop.registry.sequence import (
    CELL_ACTIVATION,
    GATES,
    RNN_ACTIVATION,
    SEQUENCE_CLASSES,
    SEQUENCE_HELPER_KERNELS,
    SEQUENCE_LAYER_OPS,
    Block,
    BlockPut,
    InitialMatVec,
    RowSoftmax,
    Scores,
    SeqLinear,
    SeqMatMul,
    TimeMean,
    TimePut,
    TimeStack,
    TimeStep,
    sequence_kernel_samples,
)
from symbackprop.registry.tensor import (
    LAYER_OPS,
    BatchMean,
    BatchOuter,
    FrobSq,
    LossMean,
    MatTVec,
    MatVec,
    TensorFunction,
    UnitSum,
)

__all__ = [
    "ACTIVATIONS",
    "CELL_ACTIVATION",
    "CONV_LAYER_OPS",
    "FUNCTIONS",
    "GATES",
    "LANGUAGES",
    "LAYER_OPS",
    "LOSSES",
    "Activation",
    "AvgPool2d",
    "BatchMean",
    "BatchNorm",
    "BatchOuter",
    "ChannelBias",
    "Conv2d",
    "Domain",
    "Elementwise",
    "Block",
    "BlockPut",
    "Flatten",
    "InitialMatVec",
    "FrobSq",
    "LayerNorm",
    "Lemma",
    "LogSoftmax",
    "Loss",
    "LossMean",
    "MatTVec",
    "MatVec",
    "MathFunction",
    "SeqMatMul",
    "MaxPool2d",
    "RowSoftmax",
    "Scores",
    "SeqLinear",
    "TimeMean",
    "TimeStack",
    "TimePut",
    "TimeStep",
    "Sigmoid",
    "Softmax",
    "RNN_ACTIVATION",
    "SEQUENCE_LAYER_OPS",
    "SoftmaxVector",
    "TensorFunction",
    "Text",
    "UnitSum",
    "activation",
    "code_form",
    "coupled_classes",
    "elementary",
    "expression_functions",
    "kernel_samples",
    "kernel_source",
    "kernels",
    "kinks_of",
    "loss",
    "numpy_kernels",
    "real",
    "register_activation",
]


def kernel_samples(xp, x) -> dict[str, tuple]:
    """Arguments for every layer kernel around a map x (m, C, H, W) of at least 3 x 3: the
    convolutional ones on x, the sequence ones on its first channel as sequences (m, H, W)."""
    return {**conv_kernel_samples(xp, x), **sequence_kernel_samples(xp, x[:, 0])}


def activation(name: str) -> Activation:
    """Look up an activation by its spec name; a miss names the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(f"no activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}") from None


def loss(name: str) -> Loss:
    """Look up a loss by its spec name; a miss names the known ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise KeyError(f"no loss {name!r}; known: {', '.join(sorted(LOSSES))}") from None


def expression_functions() -> dict[str, tuple[Callable[..., sympy.Expr], int, int | None]]:
    """What a spec expression may call: name -> (builder, min args, max args).

    The math functions, and every elementwise activation under its spec name (identity and the
    vector softmax are not functions of one scalar)."""
    table = {f.name: (f.function, f.min_args, f.max_args) for f in FUNCTIONS.values()}
    for cls, act in elementwise_activations().items():
        table[act.name] = (cls, 1, 1)
    return table


def elementwise_activations() -> dict[type, Activation]:
    """SymPy class -> activation, for the activations that are function classes (not identity)."""
    return {a.function: a for a in ACTIVATIONS.values() if isinstance(a.function, type) and not a.vector}


def coupled_classes() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """The classes of the activations that couple a layer's units (softmax): applied to a whole
    layer vector, and one unit's component (with ``inputs()`` and ``own_input()``)."""
    z = real("z")
    vectors = tuple(a.function for a in ACTIVATIONS.values() if a.vector)
    units = tuple(type(a.unit(0, [z])) for a in ACTIVATIONS.values() if a.vector)
    return vectors, units


def code_form(cls: type) -> tuple[str, str | Callable, bool] | None:
    """How generated code computes a SymPy function class: ("xp", name, fold) for an array-API
    function, ("kernel", function, False) for one of the registry's kernels, None if unknown."""
    for f in FUNCTIONS.values():
        if f.sympy_class is cls and f.sympy_class is not sympy.Pow:
            if callable(f.code):
                return ("kernel", f.code, False)
            return ("xp", f.code, f.fold)
    for act in ACTIVATIONS.values():
        if act.function is cls and act.xp_name:
            return ("xp", act.xp_name, False)
    kernel = getattr(cls, "kernel", None)
    if kernel is not None:
        return ("kernel", kernel, False)
    return None


def elementary(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every registry function replaced by its definition from SymPy's functions
    (sigma(x) -> 1/(1 + e^-x)): what an independent autodiff library can differentiate."""

    def definition(e):
        return e.definition() if isinstance(e, Softmax) else e.definition(e.args[0])

    return expr.replace(lambda e: isinstance(e, (Elementwise, Softmax)), definition)


def kinks_of(cls: type) -> tuple[float, ...]:
    """Where the derivative of a function class jumps (relu at 0; max where two arguments tie)."""
    for act in ACTIVATIONS.values():
        if act.function is cls:
            return act.domain.kinks
    for f in FUNCTIONS.values():
        if f.sympy_class is cls and f.sympy_class is not sympy.Pow:
            return f.domain.kinks
    if isinstance(cls, type) and (issubclass(cls, TensorFunction) or hasattr(cls, "kinks")):
        return getattr(cls, "kinks", ())  # max pooling and its per-unit gates: where entries tie
    return (0.0,) if cls is sympy.Heaviside else ()


def kernels() -> dict[str, Callable]:
    """Every kernel of the registry by name (the name it has in generated code)."""
    found: dict[str, Callable] = {}
    for f in FUNCTIONS.values():
        if callable(f.code):
            found[f.code.__name__] = f.code
    classes = [a.function for a in ACTIVATIONS.values() if isinstance(a.function, type)]
    classes += [Softmax, LogSoftmax, FrobSq, *LAYER_CLASSES, *SEQUENCE_CLASSES]
    for cls in classes:
        kernel = getattr(cls, "kernel", None)
        if kernel is not None:
            found[kernel.__name__] = kernel
    for kernel in (*HELPER_KERNELS, *SEQUENCE_HELPER_KERNELS):
        found[kernel.__name__] = kernel
    return found


def kernel_source(names: set[str]) -> str:
    """The source of the named kernels and the kernels they call, in a fixed order."""
    table = kernels()
    wanted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        source = inspect.getsource(table[name])
        pending += [n for n in table if n != name and re.search(rf"\b{n}\(xp\b", source)]
    return "\n\n".join(inspect.getsource(table[n]) for n in sorted(wanted))


def numpy_kernels() -> dict[str, Callable]:
    """The kernels bound to NumPy, by name, for ``lambdify`` (analysis evaluates with them)."""
    return {name: functools.partial(fn, np) for name, fn in kernels().items()}


def register_activation(
    name: str,
    forward: Callable[[sympy.Symbol], sympy.Expr],
    *,
    latex: str,
    spellings: tuple[str, ...] = (),
    domain: Domain = Domain(),
) -> Activation:
    """Add an activation from one SymPy expression of its input; a spec can then name it.

    ``forward(x)`` gives f(x) from SymPy's functions (exp, log, tanh, erf, the registered
    activations...). The derivative is SymPy's; the kernel is the forward expression printed as
    array-API code, inline; the lemma states f and f'. Example::

        register_activation("mish", lambda x: x * sympy.tanh(Softplus(x)), latex=r"\\operatorname{mish}")
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"activation name {name!r}: lower-case letters, digits and _")
    if name in ACTIVATIONS or name in FUNCTIONS:
        raise ValueError(f"activation name {name!r} is taken")
    x = real("x")
    body = forward(x)
    if not isinstance(body, sympy.Expr) or body.free_symbols != {x}:
        raise TypeError(f"activation {name!r}: forward(x) must be a SymPy expression of x alone")
    derivative = sympy.diff(body, x)

    class UserActivation(Elementwise):
        latex_name = latex

        @classmethod
        def definition(cls, arg):
            return body.xreplace({x: arg})

        def fdiff(self, argindex=1):
            return derivative.xreplace({x: self.args[0]})

    UserActivation.__name__ = UserActivation.__qualname__ = "".join(p.title() for p in name.split("_"))
    record = Activation(
        name=name,
        function=UserActivation,
        latex=latex,
        description=Text(name.replace("_", " "), name.replace("_", " ")),
        spellings=(name, *spellings),
        domain=domain,
        lemma=Lemma(
            Text(name.replace("_", " "), name.replace("_", " ")),
            Text("Its definition and its derivative:", "定义与导数："),
            lambda: [(UserActivation(x), body), (sympy.Derivative(UserActivation(x), x), derivative)],
        ),
    )
    ACTIVATIONS[name] = record
    return record
