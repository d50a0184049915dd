"""Layer-level operations, as SymPy functions that print themselves.

In layer equations a plain symbol stands for a whole layer vector (z^(2), a^(2), delta^(2)) and
products of such symbols are elementwise (Hadamard). The few operations that are not
elementwise are these functions. Each prints itself in the document's notation (``_latex``) and
as batched NumPy (``_numpycode``), where a layer vector is an array of shape (m, units): a
per-example column W a becomes the row-batch product ``a @ W.T``, W^T delta becomes
``delta @ W``, and the batch-averaged outer product delta a^T becomes ``delta.T @ a / m``.
"""

from __future__ import annotations

from sympy import Function


class _LayerOp(Function):
    """Base: no automatic evaluation; ``_p`` prints argument i with the active printer."""

    @staticmethod
    def _p(printer, arg):
        return printer._print(arg)


class MatVec(_LayerOp):
    """W a (one example as a column)."""

    nargs = 2

    def _latex(self, printer):
        return "%s %s" % (self._p(printer, self.args[0]), self._p(printer, self.args[1]))

    def _numpycode(self, printer):
        return "%s @ %s.T" % (self._p(printer, self.args[1]), self._p(printer, self.args[0]))


class MatTVec(_LayerOp):
    """W^T delta: the error sent back through a weight matrix."""

    nargs = 2

    def _latex(self, printer):
        return r"\left(%s\right)^{\top} %s" % (self._p(printer, self.args[0]), self._p(printer, self.args[1]))

    def _numpycode(self, printer):
        return "(%s @ %s)" % (self._p(printer, self.args[1]), self._p(printer, self.args[0]))


class BatchOuter(_LayerOp):
    """(1/m) sum over the batch of delta a^T: a weight gradient."""

    nargs = 2

    def _latex(self, printer):
        d, a = (self._p(printer, x) for x in self.args)
        return r"\frac{1}{m} \sum_{i=1}^{m} %s \left(%s\right)^{\top}" % (d, a)

    def _numpycode(self, printer):
        d, a = (self._p(printer, x) for x in self.args)
        return "%s.T @ %s / m" % (d, a)


class BatchMean(_LayerOp):
    """(1/m) sum over the batch of a vector: a bias gradient."""

    nargs = 1

    def _latex(self, printer):
        return r"\frac{1}{m} \sum_{i=1}^{m} %s" % self._p(printer, self.args[0])

    def _numpycode(self, printer):
        return "np.mean(%s, axis=0)" % self._p(printer, self.args[0])


class UnitSum(_LayerOp):
    """Sum over the units of a layer, per example (kept as a column for broadcasting)."""

    nargs = 1

    def _latex(self, printer):
        return r"\mathbf{1}^{\top} \left(%s\right)" % self._p(printer, self.args[0])

    def _numpycode(self, printer):
        return "np.sum(%s, axis=1, keepdims=True)" % self._p(printer, self.args[0])


class LossMean(_LayerOp):
    """(1/m) sum over examples and units: a per-unit loss term averaged over the batch."""

    nargs = 1

    def _latex(self, printer):
        return r"\frac{1}{m} \sum_{i=1}^{m} \sum_{k} %s" % printer.parenthesize(self.args[0], 50)

    def _numpycode(self, printer):
        return "np.sum(%s) / m" % self._p(printer, self.args[0])


class FrobSq(_LayerOp):
    """Squared Frobenius norm of a weight matrix."""

    nargs = 1

    def _latex(self, printer):
        return r"\left\lVert %s \right\rVert_{F}^{2}" % self._p(printer, self.args[0])

    def _numpycode(self, printer):
        return "np.sum(%s**2)" % self._p(printer, self.args[0])
