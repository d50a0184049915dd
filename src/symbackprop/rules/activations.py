"""The activation registry: every fact about an activation function in one place.

Each activation is a ``sympy.Function`` subclass that carries its own calculus and printing:

* ``fdiff`` gives the derivative in terms of the function's *output* where that is the
  textbook form (sigma' = sigma (1 - sigma)); the derivation engine then replaces the
  output expression by the stored forward value (y_k), so no exp() survives in a delta;
* ``_latex`` and ``_numpycode`` are SymPy printer hooks (the printers call them);
* ``numpy_helpers`` names the stable kernels of :mod:`symbackprop.numeric` the code needs.

``ACTIVATIONS`` maps the spec names to :class:`Activation` records, which add what the
layered engine needs (stable log-of-output forms for the loss). Adding an activation means
adding one class and one record here; nothing else in the package names activations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy
from sympy import Function, Heaviside, Piecewise, Rational, S

LEAKY_SLOPE = Rational(1, 100)
ELU_ALPHA = S.One


class _Unary(Function):
    """An elementwise activation: prints as ``latex_name(x)`` and ``numpy_name(x)``.

    ``exp`` is the power SymPy's LaTeX printer passes for sigma(x)^2 and the like.
    """

    nargs = 1
    latex_name = ""
    numpy_name = ""

    def _latex(self, printer, exp=None):
        power = f"^{{{exp}}}" if exp else ""
        return r"%s%s\left(%s\right)" % (self.latex_name, power, printer._print(self.args[0]))

    def _numpycode(self, printer):
        return "%s(%s)" % (self.numpy_name, printer._print(self.args[0]))

    @property
    def numpy_helpers(self) -> tuple[str, ...]:
        return (self.numpy_name,)


class Sigmoid(_Unary):
    """Logistic sigmoid; derivative sigma (1 - sigma)."""

    latex_name, numpy_name = r"\sigma", "sigmoid"

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _eval_evalf(self, prec):
        return self.rewrite(sympy.exp)._eval_evalf(prec)


class Relu(_Unary):
    """Rectified linear unit; derivative the step [x > 0]."""

    latex_name, numpy_name = r"\operatorname{relu}", "relu"

    def fdiff(self, argindex=1):
        return Heaviside(self.args[0], 0)

    def _eval_evalf(self, prec):
        return sympy.Max(self.args[0], 0)._eval_evalf(prec)


class LeakyRelu(_Unary):
    """Leaky ReLU with slope 0.01 below zero."""

    latex_name, numpy_name = r"\operatorname{lrelu}", "leaky_relu"

    def fdiff(self, argindex=1):
        return Piecewise((S.One, self.args[0] > 0), (LEAKY_SLOPE, True))

    def _eval_evalf(self, prec):
        x = self.args[0]
        return Piecewise((x, x > 0), (LEAKY_SLOPE * x, True))._eval_evalf(prec)


class Softplus(_Unary):
    """log(1 + e^x); derivative sigma(x)."""

    latex_name, numpy_name = r"\operatorname{softplus}", "softplus"

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    def _eval_evalf(self, prec):
        return sympy.log(1 + sympy.exp(self.args[0]))._eval_evalf(prec)


class Elu(_Unary):
    """Exponential linear unit (alpha = 1); derivative 1 above zero, y + 1 below."""

    latex_name, numpy_name = r"\operatorname{elu}", "elu"

    def fdiff(self, argindex=1):
        return Piecewise((S.One, self.args[0] > 0), (self + ELU_ALPHA, True))

    def _eval_evalf(self, prec):
        x = self.args[0]
        return Piecewise((x, x > 0), (ELU_ALPHA * (sympy.exp(x) - 1), True))._eval_evalf(prec)


class Softmax(Function):
    """Component ``i`` (first argument, 0-based) of softmax(z_0, ..., z_n).

    Derivative: d softmax_i / d z_k = softmax_i (delta_ik - softmax_k), again in terms of
    outputs, so a softmax layer's deltas use only the stored y_k.
    """

    numpy_helpers = ("softmax_component",)

    def fdiff(self, argindex=2):
        i, zs = int(self.args[0]), self.args[1:]
        k = argindex - 2
        if k < 0:
            raise sympy.ArgumentIndexError(self, argindex)
        yk = Softmax(k, *zs)
        return self * ((1 if i == k else 0) - yk)

    def _eval_evalf(self, prec):
        i, zs = int(self.args[0]), self.args[1:]
        return (sympy.exp(zs[i]) / sum(sympy.exp(z) for z in zs))._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        zs = ", ".join(printer._print(z) for z in self.args[1:])
        power = f"^{{{exp}}}" if exp else ""
        return r"\operatorname{softmax}_{%d}%s\left(%s\right)" % (int(self.args[0]) + 1, power, zs)

    def _numpycode(self, printer):
        zs = ", ".join(printer._print(z) for z in self.args[1:])
        return "softmax_component(%d, %s)" % (int(self.args[0]), zs)


class LogSoftmax(_Unary):
    """Row-wise log softmax of a layer vector: the stable form of log(softmax(z))."""

    latex_name, numpy_name = r"\log\operatorname{softmax}", "log_softmax"


class SoftmaxVector(_Unary):
    """Row-wise softmax of a layer vector (layer-level equations only)."""

    latex_name, numpy_name = r"\operatorname{softmax}", "softmax"


@dataclass(frozen=True)
class Activation:
    """A registered activation: its SymPy form and what the engines need to know of it.

    ``log_output`` / ``log_one_minus_output`` give stable forms of log f(z) and
    log(1 - f(z)) in terms of z, used when a loss takes the log of this activation.
    """

    name: str
    apply: Callable[[sympy.Expr], sympy.Expr]
    latex: str
    vector: bool = False  # softmax couples the units of a layer
    output_in_unit_interval: bool = False
    log_output: Callable[[sympy.Expr], sympy.Expr] | None = None
    log_one_minus_output: Callable[[sympy.Expr], sympy.Expr] | None = None
    helpers: tuple[str, ...] = field(default=())


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", lambda z: z, r"\operatorname{id}"),
        Activation(
            "sigmoid",
            Sigmoid,
            r"\sigma",
            output_in_unit_interval=True,
            log_output=lambda z: -Softplus(-z),
            log_one_minus_output=lambda z: -Softplus(z),
            helpers=("sigmoid", "softplus"),
        ),
        Activation("tanh", sympy.tanh, r"\tanh"),
        Activation("relu", Relu, r"\operatorname{relu}", helpers=("relu", "unit_step")),
        Activation("leaky_relu", LeakyRelu, r"\operatorname{lrelu}", helpers=("leaky_relu",)),
        Activation("softplus", Softplus, r"\operatorname{softplus}", helpers=("softplus", "sigmoid")),
        Activation("elu", Elu, r"\operatorname{elu}", helpers=("elu",)),
        Activation(
            "softmax",
            SoftmaxVector,
            r"\operatorname{softmax}",
            vector=True,
            output_in_unit_interval=True,
            log_output=LogSoftmax,
            helpers=("softmax", "log_softmax"),
        ),
    )
}


def activation(name: str) -> Activation:
    """Look up an activation by its spec name; a miss names the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}") from None


# Functions an expression in a spec may call: name -> (builder, min args, max args).
EXPRESSION_FUNCTIONS: dict[str, tuple[Callable[..., sympy.Expr], int, int | None]] = {
    "exp": (sympy.exp, 1, 1),
    "log": (sympy.log, 1, 1),
    "sqrt": (sympy.sqrt, 1, 1),
    "sigmoid": (Sigmoid, 1, 1),
    "tanh": (sympy.tanh, 1, 1),
    "relu": (Relu, 1, 1),
    "leaky_relu": (LeakyRelu, 1, 1),
    "softplus": (Softplus, 1, 1),
    "max": (sympy.Max, 2, None),
    "min": (sympy.Min, 2, None),
}


# --- lemmas: each derivative derived step by step, for the documents ------------------------
# A lemma is a list of (lhs, rhs) pairs of SymPy expressions (lhs None continues the previous
# line), built unevaluated so the printers show each step as written.


def _u(op, *args):
    return op(*args, evaluate=False)


def _frac(num, den):
    """num/den kept as one fraction inside a product (not merged with its neighbours)."""
    inverse = _u(sympy.Pow, den, -1)
    return sympy.UnevaluatedExpr(inverse if num == 1 else _u(sympy.Mul, num, inverse))


def _sigmoid_lemma(x):
    e = sympy.exp(-x)
    den = _u(sympy.Add, S.One, e)
    return [
        (Sigmoid(x), 1 / den),
        (sympy.Derivative(Sigmoid(x), x), _u(sympy.Mul, e, _u(sympy.Pow, den, -2))),
        (None, _u(sympy.Mul, _frac(_u(sympy.Add, S.One, e, S.NegativeOne), den), _frac(S.One, den))),
        (None, _u(sympy.Mul, _u(sympy.Add, S.One, -_frac(S.One, den)), _frac(S.One, den))),
        (None, _u(sympy.Mul, 1 - Sigmoid(x), Sigmoid(x))),
    ]


def _tanh_lemma(x):
    ep, em = sympy.exp(x), sympy.exp(-x)
    plus, minus = _u(sympy.Add, ep, em), _u(sympy.Add, ep, -em)
    return [
        (sympy.tanh(x), _u(sympy.Mul, minus, _u(sympy.Pow, plus, -1))),
        (
            sympy.Derivative(sympy.tanh(x), x),
            _u(sympy.Mul, _u(sympy.Add, plus**2, -(minus**2)), _u(sympy.Pow, plus, -2)),
        ),
        (None, 1 - sympy.tanh(x) ** 2),
    ]


def _relu_lemma(x):
    return [(Relu(x), sympy.Max(0, x)), (sympy.Derivative(Relu(x), x), Heaviside(x, 0))]


def _leaky_lemma(x):
    return [
        (LeakyRelu(x), Piecewise((x, x > 0), (LEAKY_SLOPE * x, True))),
        (sympy.Derivative(LeakyRelu(x), x), LeakyRelu(x).fdiff()),
    ]


def _softplus_lemma(x):
    e = sympy.exp(x)
    return [
        (Softplus(x), sympy.log(_u(sympy.Add, S.One, e))),
        (sympy.Derivative(Softplus(x), x), _u(sympy.Mul, e, _u(sympy.Pow, _u(sympy.Add, S.One, e), -1))),
        (None, Sigmoid(x)),
    ]


def _elu_lemma(x):
    return [
        (Elu(x), Piecewise((x, x > 0), (sympy.exp(x) - 1, True))),
        (sympy.Derivative(Elu(x), x), Piecewise((S.One, x > 0), (sympy.exp(x), True))),
        (None, Elu(x).fdiff()),
    ]


def _softmax_lemma(x):
    i, j, k = sympy.symbols("i j k", integer=True)
    z, y = sympy.IndexedBase("z"), sympy.IndexedBase("y")
    n = sympy.Symbol("n", integer=True)
    return [
        (y[i], _u(sympy.Mul, sympy.exp(z[i]), _u(sympy.Pow, sympy.Sum(sympy.exp(z[k]), (k, 1, n)), -1))),
        (sympy.Derivative(y[i], z[j]), _u(sympy.Mul, y[i], _u(sympy.Add, sympy.KroneckerDelta(i, j), -y[j]))),
    ]


LEMMAS: dict[str, Callable[[sympy.Symbol], list]] = {
    "sigmoid": _sigmoid_lemma,
    "tanh": _tanh_lemma,
    "relu": _relu_lemma,
    "leaky_relu": _leaky_lemma,
    "softplus": _softplus_lemma,
    "elu": _elu_lemma,
    "softmax": _softmax_lemma,
}
