"""Losses, one block each: the per-unit term l(y_k, t_k), its lemma, its targets.

A loss is the sum over output units of its term. Losses are composed from existing functions
(log, powers, Abs), so they need no derivative rule of their own: SymPy differentiates the term,
and the activation's rule does the rest. ``targets`` records what a valid target is; the one-hot
(or probability-vector) targets of cross-entropy are what lets softmax + cross-entropy collapse
to y - t, and the simplifier applies that assumption only where the loss declares it.
"""

from __future__ import annotations

import sympy
from sympy import Abs, Piecewise, Rational, log

from symbackprop.registry.base import Domain, Lemma, Loss, Text, real

LOSSES: dict[str, Loss] = {}


def register(loss: Loss) -> Loss:
    LOSSES[loss.name] = loss
    return loss


def _u(op, *args):
    return op(*args, evaluate=False)


Y, T, Z, E = (real(n) for n in ("y", "t", "z", "E"))


def _derivative_lemma(term):
    """d l(y, t) / dy, for a loss's own lemma: one identity, true for every y and t."""
    return lambda: [(sympy.Derivative(term(Y, T), Y), sympy.diff(term(Y, T), Y))]


# --- squared error ----------------------------------------------------------------------------
def _squared_error(y, t):
    return Rational(1, 2) * (y - t) ** 2


register(
    Loss(
        name="squared_error",
        term=_squared_error,
        title=Text("squared error", "平方误差"),
        targets="real",
        lemma=Lemma(
            Text("squared error", "平方误差"),
            Text(r"The factor $\frac{1}{2}$ cancels the 2 of the power:", r"系数 $\frac{1}{2}$ 与平方的 2 约去："),
            _derivative_lemma(_squared_error),
        ),
        textbook_delta=Text(
            r"UFLDL writes it for the squared error with its own sign, $-(y - a)$ rather than $a - y$, and calls $\delta$ the error term: \[ \delta^{(n_l)}_i = -\left(y_i - a^{(n_l)}_i\right) f'\left(z^{(n_l)}_i\right) \]",
            r"UFLDL 对平方误差写成自己的符号形式 $-(y - a)$（而不是 $a - y$），并把 $\delta$ 称为残差： \[ \delta^{(n_l)}_i = -\left(y_i - a^{(n_l)}_i\right) f'\left(z^{(n_l)}_i\right) \]",
        ),
    )
)


# --- cross-entropy ----------------------------------------------------------------------------
def _cross_entropy(y, t):
    return -t * log(y)


def _softmax_cross_entropy_lemma():
    """dE/dz_j for softmax outputs and cross-entropy: y_j - t_j when sum_i t_i = 1."""
    i, j, n = sympy.symbols("i j n", integer=True)
    y, t, z = sympy.IndexedBase("y"), sympy.IndexedBase("t"), sympy.IndexedBase("z")
    terms = _u(
        sympy.Mul, _u(sympy.Mul, -t[i], _u(sympy.Pow, y[i], -1)), y[i], _u(sympy.Add, sympy.KroneckerDelta(i, j), -y[j])
    )
    return [
        (E, -sympy.Sum(t[i] * log(y[i]), (i, 1, n))),
        (
            sympy.Derivative(E, z[j]),
            sympy.Sum(_u(sympy.Mul, sympy.Derivative(E, y[i]), sympy.Derivative(y[i], z[j])), (i, 1, n)),
        ),
        (None, sympy.Sum(terms, (i, 1, n))),
        (None, _u(sympy.Add, -t[j], _u(sympy.Mul, y[j], sympy.Sum(t[i], (i, 1, n))))),
        (None, _u(sympy.Add, y[j], -t[j])),
    ]


register(
    Loss(
        name="cross_entropy",
        term=_cross_entropy,
        title=Text("cross-entropy", "交叉熵"),
        targets="one-hot",
        lemma=Lemma(
            Text("cross-entropy", "交叉熵"),
            Text("The derivative of the log:", "对数的导数："),
            _derivative_lemma(_cross_entropy),
        ),
        needs_unit_interval=True,
        pair_lemmas={
            "softmax": Lemma(
                Text("softmax + cross-entropy", "softmax + 交叉熵"),
                Text(
                    r"Output activation and loss together; the targets of an example sum to one ($\sum_i t_i = 1$):",
                    r"输出激活函数与损失函数合并求导；一个样本的目标值之和为一（$\sum_i t_i = 1$）：",
                ),
                _softmax_cross_entropy_lemma,
                assumes=r"\sum_i t_i = 1",
            )
        },
    )
)


# --- binary cross-entropy ---------------------------------------------------------------------
def _binary_cross_entropy(y, t):
    return -(t * log(y) + (1 - t) * log(1 - y))


def _sigmoid_binary_cross_entropy_lemma():
    """dE/dz for a sigmoid output and binary cross-entropy: y - t."""
    factor = _u(sympy.Add, -T / Y, (1 - T) / (1 - Y))
    return [
        (E, _binary_cross_entropy(Y, T)),
        (sympy.Derivative(E, Z), _u(sympy.Mul, sympy.Derivative(E, Y), sympy.Derivative(Y, Z))),
        (None, _u(sympy.Mul, factor, Y, 1 - Y)),
        (None, _u(sympy.Add, -T * (1 - Y), (1 - T) * Y)),
        (None, _u(sympy.Add, Y, -T)),
    ]


register(
    Loss(
        name="binary_cross_entropy",
        term=_binary_cross_entropy,
        title=Text("binary cross-entropy", "二元交叉熵"),
        targets="unit",
        lemma=Lemma(
            Text("binary cross-entropy", "二元交叉熵"),
            Text("Term by term:", "逐项求导："),
            _derivative_lemma(_binary_cross_entropy),
        ),
        needs_unit_interval=True,
        pair_lemmas={
            "sigmoid": Lemma(
                Text("sigmoid + binary cross-entropy", "sigmoid + 二元交叉熵"),
                Text(
                    r"With $\sigma' = y (1 - y)$ the quotients cancel:",
                    r"利用 $\sigma' = y (1 - y)$，分式约去：",
                ),
                _sigmoid_binary_cross_entropy_lemma,
            )
        },
    )
)


# --- Huber (delta = 1) ------------------------------------------------------------------------
def _huber(y, t):
    """Squared near the target, linear beyond |y - t| = 1: outliers pull with force 1 at most."""
    u = y - t
    return Piecewise((u**2 / 2, Abs(u) <= 1), (Abs(u) - Rational(1, 2), True))


def _huber_lemma():
    u = _u(sympy.Add, Y, -T)
    near = _u(sympy.Abs, u) <= 1
    value = Piecewise(
        (_u(sympy.Mul, Rational(1, 2), _u(sympy.Pow, u, 2)), near),
        (_u(sympy.Add, _u(sympy.Abs, u), -Rational(1, 2)), True),
    )
    return [(sympy.Derivative(value, Y), Piecewise((u, near), (sympy.sign(u, evaluate=False), True)))]


register(
    Loss(
        name="huber",
        term=_huber,
        title=Text("Huber loss", "Huber 损失"),
        targets="real",
        lemma=Lemma(
            Text("Huber loss", "Huber 损失"),
            Text(
                "Piece by piece: the error itself near the target, its sign beyond (the two agree at the seam):",
                "分段求导：靠近目标时是误差本身，远离时是误差的符号（两段在接缝处相等）：",
            ),
            _huber_lemma,
        ),
        domain=Domain(kinks=(-1.0, 1.0)),
    )
)
