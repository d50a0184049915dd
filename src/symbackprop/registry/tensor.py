"""Tensor operations: the ops of layer equations that are not elementwise, one block each.

In a layer (tensor-form) equation a plain symbol stands for a whole tensor (z^(2), a^(2),
delta^(2) of one example; W^(1) and b^(1) of the network) and products of such symbols are
elementwise (Hadamard). Everything else is a :class:`TensorFunction`, and each carries, in one
class, every form the package needs:

* ``vjp(argindex, ct)`` — the vector-Jacobian product: the backward rule in tensor form;
* ``units(ctx, k, j)`` — component (k, j) written out in per-unit symbols (the index form of a
  small instance; ``ctx`` knows the notation and the shapes), which is what checks a tensor
  equation against the per-unit derivation;
* ``index_form(ctx, k, j)`` — the same component with sums in sigma notation, for documents of
  networks too wide to write out;
* ``_latex`` and ``arraycode`` (and ``sumcode`` for batch reductions) — printing hooks.

Batch semantics: the objective averages over a batch of m examples, so per-example quantities
(activations, error terms) meet batch-level ones (parameters, the objective) only through the
reductions here (``batch_reduces``): a weight gradient is (1/m) sum_i delta_i a_i^T. A reduction
prints its summand as the i-th example's (a printer with ``one_example``, the documents', writes
x^{(i)}, \\delta^{(2)(i)} there), so that no per-example quantity stands in a sum over i without i.
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext
from dataclasses import dataclass
from typing import ClassVar

import sympy
from sympy import Function

from symbackprop.registry.base import Lemma, Text


def _one_example(printer):
    """Print a batch reduction's summand as one example's, where the printer knows how."""
    return getattr(printer, "one_example", nullcontext)()


class TensorFunction(Function):
    """Base of the non-elementwise tensor ops: no automatic evaluation, real values."""

    batch_reduces: ClassVar[bool] = False  # the result no longer depends on the example

    def _eval_is_real(self):
        return True

    def vjp(self, argindex: int, ct: sympy.Expr) -> sympy.Expr:
        """d(objective)/d(argument ``argindex``) given ``ct`` = d(objective)/d(self)."""
        raise NotImplementedError(f"{type(self).__name__} has no backward rule")

    def units(self, ctx, k: int, j: int | None = None) -> sympy.Expr:
        raise NotImplementedError(f"{type(self).__name__} has no per-unit form")

    def index_form(self, ctx, k: int, j: int | None = None) -> sympy.Expr:
        """Component (k, j) in sigma notation; by default the written-out units."""
        return self.units(ctx, k, j)

    def _arraycode(self, printer) -> str:
        raise NotImplementedError(f"{type(self).__name__} has no array-API code")


class MatVec(TensorFunction):
    """W a: a weight matrix applied to one example's column vector."""

    nargs = 2

    def vjp(self, argindex, ct):
        W, a = self.args
        return BatchOuter(ct, a) if argindex == 0 else MatTVec(W, ct)

    def units(self, ctx, k, j=None):
        W, a = self.args
        return sympy.Add(*(ctx.entry(W, k, c) * ctx.component(a, c) for c in range(ctx.shape(W)[1])))

    def index_form(self, ctx, k, j=None):
        W, a = self.args
        i = ctx.running_index()
        return sympy.Sum(ctx.element(W, ctx.label(W, 0, k), i) * ctx.indexed(a, i), (i, *ctx.bounds(W, 1)))

    def _latex(self, printer, exp=None):
        return "%s %s" % (printer._print(self.args[0]), printer._print(self.args[1]))

    def _arraycode(self, printer):
        # a batch is one example per row: (W a_i)^T for every row i is A W^T
        return "%s @ %s.T" % (printer.operand(self.args[1]), printer.operand(self.args[0]))


class MatTVec(TensorFunction):
    """W^T delta: an error term sent back through a weight matrix."""

    nargs = 2

    def units(self, ctx, k, j=None):
        W, d = self.args
        return sympy.Add(*(ctx.entry(W, r, k) * ctx.component(d, r) for r in range(ctx.shape(W)[0])))

    def index_form(self, ctx, k, j=None):
        W, d = self.args
        i = ctx.running_index()
        return sympy.Sum(ctx.element(W, i, ctx.label(W, 1, k)) * ctx.indexed(d, i), (i, *ctx.bounds(W, 0)))

    def _latex(self, printer, exp=None):
        return r"\left(%s\right)^{\top} %s" % (printer._print(self.args[0]), printer._print(self.args[1]))

    def _arraycode(self, printer):
        return "(%s @ %s)" % (printer.operand(self.args[1]), printer.operand(self.args[0]))


class BatchOuter(TensorFunction):
    """(1/m) sum over the batch of delta a^T: the gradient of a weight matrix."""

    nargs = 2
    batch_reduces = True

    def units(self, ctx, k, j=None):
        d, a = self.args
        return ctx.component(d, k) * ctx.component(a, j)

    def _latex(self, printer, exp=None):
        with _one_example(printer):
            d, a = (printer._print(x) for x in self.args)
        return r"\frac{1}{m} \sum_{i=1}^{m} %s \left(%s\right)^{\top}" % (d, a)

    def _sumcode(self, printer):
        d, a = self.args
        return "%s.T @ %s" % (printer.operand(d), printer.operand(a))

    def _arraycode(self, printer):
        return "%s / m" % self._sumcode(printer)


class BatchMean(TensorFunction):
    """(1/m) sum over the batch of a vector: the gradient of a bias."""

    nargs = 1
    batch_reduces = True

    def units(self, ctx, k, j=None):
        return ctx.component(self.args[0], k)

    def _latex(self, printer, exp=None):
        with _one_example(printer):
            return r"\frac{1}{m} \sum_{i=1}^{m} %s" % printer._print(self.args[0])

    def _sumcode(self, printer):
        return "xp.sum(%s, axis=0)" % printer._print(self.args[0])

    def _arraycode(self, printer):
        return "%s / m" % self._sumcode(printer)


class UnitSum(TensorFunction):
    """1^T h: the sum over the units of a layer, per example (a column that broadcasts)."""

    nargs = 1

    def vjp(self, argindex, ct):
        return ct

    def units(self, ctx, k, j=None):
        h = self.args[0]
        return sympy.Add(*(ctx.component(h, i) for i in range(ctx.width(h))))

    def index_form(self, ctx, k, j=None):
        h = self.args[0]
        i = ctx.running_index()
        return sympy.Sum(ctx.indexed(h, i), (i, *ctx.bounds(h)))

    def _latex(self, printer, exp=None):
        return r"\mathbf{1}^{\top} \left(%s\right)" % printer._print(self.args[0])

    def _arraycode(self, printer):
        return "xp.sum(%s, axis=-1, keepdims=True)" % printer._print(self.args[0])


class LossMean(TensorFunction):
    """(1/m) sum over the examples and the output units: a per-unit loss averaged over a batch."""

    nargs = 1
    batch_reduces = True

    def vjp(self, argindex, ct):
        return ct  # per example: d(sum_k h_k)/d h_k = 1; the 1/m goes to the batch reductions

    def units(self, ctx, k, j=None):
        h = self.args[0]
        return sympy.Add(*(ctx.component(h, i) for i in range(ctx.width(h))))

    def index_form(self, ctx, k, j=None):
        h = self.args[0]
        i = ctx.running_index()
        return sympy.Sum(ctx.indexed(h, i), (i, *ctx.bounds(h)))

    def _latex(self, printer, exp=None):
        with _one_example(printer):
            return r"\frac{1}{m} \sum_{i=1}^{m} \sum_{k} %s" % printer.parenthesize(self.args[0], 50)

    def _arraycode(self, printer):
        coeff, h = self.args[0].as_coeff_Mul()
        sign = "-" if coeff == -1 else ""
        if coeff not in (1, -1):
            h = self.args[0]
        return "%sxp.sum(%s, axis=None) / m" % (sign, printer._print(h))


def squared_norm(xp, w):
    """||w||^2 over all entries, as one dot product (no squared copy of w)."""
    flat = xp.reshape(w, (-1,))
    return flat @ flat


class FrobSq(TensorFunction):
    """||W||_F^2, the squared Frobenius norm of a weight matrix (the weight-decay term)."""

    nargs = 1
    batch_reduces = True
    kernel = staticmethod(squared_norm)

    def vjp(self, argindex, ct):
        return 2 * ct * self.args[0]

    def units(self, ctx, k=0, j=None):
        W = self.args[0]
        shape = ctx.shape(W)
        if len(shape) != 2:  # a convolution's kernels (F, C, k, k)
            return sympy.Add(*(ctx.entry(W, index) ** 2 for index in itertools.product(*map(range, shape))))
        rows, cols = shape
        return sympy.Add(*(ctx.entry(W, r, c) ** 2 for r in range(rows) for c in range(cols)))

    def index_form(self, ctx, k=0, j=None):
        W = self.args[0]
        r, c = ctx.running_index("r"), ctx.running_index("c")
        return sympy.Sum(ctx.element(W, r, c) ** 2, (r, *ctx.bounds(W, 0)), (c, *ctx.bounds(W, 1)))

    def _latex(self, printer, exp=None):
        return r"\left\lVert %s \right\rVert_{F}^{2}" % printer._print(self.args[0])

    def _arraycode(self, printer):
        return "squared_norm(xp, %s)" % printer._print(self.args[0])


@dataclass(frozen=True)
class LayerOp:
    """A layer type of the tensor graph: the forward rule and what a document says about it."""

    name: str
    description: Text
    spellings: tuple[str, ...] = ()
    lemma: Lemma | None = None
    # statistics over the batch (batch norm): one example's values depend on the others', so a
    # checker needs a batch of examples that differ
    batch_statistics: bool = False


def _linear_lemma():
    W, a, d = (sympy.Symbol(n) for n in ("W", "a", "delta"))
    z = sympy.Symbol("z")
    return [
        (z, sympy.Add(MatVec(W, a), sympy.Symbol("b"), evaluate=False)),
        (sympy.Derivative(sympy.Symbol("J"), W), BatchOuter(d, a)),
        (sympy.Derivative(sympy.Symbol("J"), a), MatTVec(W, d)),
    ]


LINEAR = LayerOp(
    "linear",
    Text("affine map", "仿射变换"),
    spellings=("W a", "W^T delta"),
    lemma=Lemma(
        Text("matrix product", "矩阵乘积"),
        Text(
            r"With $\delta = \partial J / \partial z$, the only products whose shapes fit are these:",
            r"记 $\delta = \partial J / \partial z$，形状相容的乘积只有这两个：",
        ),
        _linear_lemma,
    ),
)
WEIGHT_DECAY = LayerOp("weight_decay", Text("weight decay", "权重衰减"))
LAYER_OPS = {op.name: op for op in (LINEAR, WEIGHT_DECAY)}
