"""Sequence ops: time steps, gate blocks and single-head attention, one block each.

A sequence of one example is a (T, d) matrix (time steps, features); in code every per-example
array has the batch first, (m, T, d). Recurrent layers are *unrolled*: the graph has one node per
time step (h_1 .. h_T, each one example's (H,) vector) and the steps share their weights, so the
generic reverse-accumulation engine does backpropagation through time by itself: the error term
of h_t is the total derivative over its consumers (the direct path and the path through
h_{t+1}), and a shared weight's gradient sums its consumers' contributions, one per time step.
The ops here are the glue between the matrix form of a sequence and its steps:

* :class:`TimeStep` — x_t, row t of a sequence (``x[:, t]``); its backward rule puts the error
  term back at row t (:class:`TimePut`).
* :class:`TimeStack` — the steps h_1 .. h_T stacked into a (T, H) sequence; backward: row t of
  delta to step t.
* :class:`TimeMean` — (1/T) sum_t X_t of a sequence matrix (``mean_over_time`` after attention);
  backward: delta / T spread over the rows (:class:`TimeSpread`).
* :class:`Block` — block k of n equal blocks of a stacked vector (an LSTM's four gates i, f, g, o
  in PyTorch's order, a GRU's three r, z, n); backward: the block put back in place
  (:class:`BlockPut`, zeros elsewhere), so the stacked error term is the gates' error terms
  stacked.
* attention on one example's X (T, D): :class:`SeqLinear` X W (Q, K, V, with W (D, d_k) as the
  equations write X W_q), :class:`Scores` Q K^T / sqrt(d_k), :class:`RowSoftmax` (row-wise, the
  causal mask optional: entries above the diagonal are -inf before it and 0 after), and
  :class:`SeqMatMul` A V. Their backward rules: (delta W^T, (1/m) sum_i X_i^T delta_i), delta K /
  sqrt(d_k) and delta^T Q / sqrt(d_k), the softmax Jacobian diag(a) - a a^T row by row
  (a ⊙ (delta - (delta a) 1), which gives the masked entries 0), delta V^T and A^T delta.

Kernels use only the array API standard (slicing, stack, concat, matmul, where, max, exp) and
keep the caller's dtype; the softmax subtracts each row's maximum, so pre-activations of +-1000
neither overflow nor give NaN.
"""

from __future__ import annotations

import sympy
from sympy import Integer

from symbackprop.registry.base import Lemma, Text
from symbackprop.registry.tensor import BatchOuter, LayerOp, MatTVec, TensorFunction, _one_example

# the gates of the gated layers in PyTorch's order, each with its activation; the LSTM's cell
# output c_t goes through CELL_ACTIVATION; a spec's rnn defaults to RNN_ACTIVATION
GATES = {
    "lstm": (("i", "sigmoid"), ("f", "sigmoid"), ("g", "tanh"), ("o", "sigmoid")),
    "gru": (("r", "sigmoid"), ("z", "sigmoid"), ("n", "tanh")),
}
CELL_ACTIVATION = "tanh"
RNN_ACTIVATION = "tanh"

# --- kernels ---------------------------------------------------------------------------------------


def time_put(xp, d, t, steps):
    """d (m, ...) as row t of a sequence (m, steps, ...) that is zero elsewhere."""
    zero = xp.zeros_like(d)
    return xp.stack([d if s == t else zero for s in range(steps)], axis=1)


def time_spread(xp, d, steps):
    """d (m, ...) / steps in every row of a sequence (m, steps, ...)."""
    part = d / steps
    return xp.stack([part] * steps, axis=1)


def block_put(xp, d, k, blocks):
    """d (m, n) as block k of a stacked vector (m, blocks n) that is zero elsewhere."""
    zero = xp.zeros_like(d)
    return xp.concat([d if j == k else zero for j in range(blocks)], axis=-1)


def seq_weight(xp, x, d):
    """sum over the batch of X_i^T delta_i for sequences x (m, T, D), d (m, T, n): one matrix
    product of the batch and time flattened together, (D, n)."""
    flat_x = xp.reshape(x, (-1, x.shape[-1]))
    flat_d = xp.reshape(d, (-1, d.shape[-1]))
    return xp.matrix_transpose(flat_x) @ flat_d


def initial_outer(xp, d, h0):
    """sum over the batch of delta_i h0^T for d (m, n) and one h0 (H,): (n, H)."""
    return xp.reshape(xp.sum(d, axis=0), (-1, 1)) * xp.reshape(h0, (1, -1))


def row_softmax(xp, s, causal):
    """softmax of each row of s (m, T, T), stable (each row's maximum subtracted); with causal,
    the entries above the diagonal masked out (-inf before, exactly 0 after)."""
    if causal:  # keep the entries on and below the diagonal
        rows = xp.arange(s.shape[-1])
        keep = xp.reshape(rows, (-1, 1)) >= xp.reshape(rows, (1, -1))
        s = xp.where(keep, s, xp.full_like(s, -xp.inf))
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def row_softmax_input(xp, a, d):
    """The softmax Jacobian diag(a) - a a^T applied to each row's delta: a ⊙ (d - (d . a))."""
    return a * (d - xp.sum(d * a, axis=-1, keepdims=True))


def _flat(k):
    """A vector's entry index: an int (or an index symbol, in an index form), or a 1-tuple."""
    return k[0] if isinstance(k, tuple) else k


def _pair(k, j=None) -> tuple:
    """A matrix entry's (row, column): a tuple, or two indices."""
    return tuple(k) if isinstance(k, tuple) else (k, j)


def _number(index) -> int:
    """An index that must be a number (which step a stack's row is, which entries a causal mask
    keeps); a symbolic index (an index form) has no such entry: the equation keeps its tensor form."""
    if not isinstance(index, int) and not getattr(index, "is_Integer", False):
        raise NotImplementedError("an entry of this op needs numeric indices")
    return int(index)


def _tex_operand(printer, expr) -> str:
    """A factor or a subscripted base in LaTeX: a symbol as it is, anything else in parentheses."""
    text = printer._print(expr)
    return text if expr.is_Symbol else r"\left(%s\right)" % text


# --- time steps ----------------------------------------------------------------------------------


class TimeStep(TensorFunction):
    """x_t: row t (from 0) of one example's sequence x (T, d). Arguments: x, t, T."""

    nargs = 3
    code_atom = True  # its code, a subscript, binds tighter than any operator

    def vjp(self, argindex, ct):
        _, t, steps = self.args
        return TimePut(ct, t, steps)

    def units(self, ctx, k, j=None):
        x, t = self.args[:2]
        return ctx.component(x, (int(t), _flat(k)))

    def _latex(self, printer, exp=None):
        x, t = self.args[:2]
        return r"{%s}_{%d}" % (_tex_operand(printer, x), int(t) + 1)

    def _arraycode(self, printer):
        return "%s[:, %d, :]" % (printer.operand(self.args[0]), int(self.args[1]))  # (m, T, d): row t of each


class TimePut(TensorFunction):
    """delta as row t of a sequence, zeros elsewhere: the error term of x through x_t."""

    nargs = 3
    kernel = staticmethod(time_put)

    def _latex(self, printer, exp=None):
        d, t, steps = self.args
        return r"\mathbf{e}_{%d} \otimes %s" % (int(t) + 1, printer._print(d))

    def _arraycode(self, printer):
        d, t, steps = self.args
        return "time_put(xp, %s, %d, %d)" % (printer._print(d), int(t), int(steps))


class TimeStack(TensorFunction):
    """[h_1; ...; h_T]: the steps of a recurrent layer stacked into one (T, H) sequence."""

    def vjp(self, argindex, ct):
        return TimeStep(ct, Integer(argindex), Integer(len(self.args)))

    def units(self, ctx, k, j=None):
        t, i = _pair(k, j)
        return ctx.component(self.args[_number(t)], i)

    def _latex(self, printer, exp=None):
        return r"\begin{bmatrix} %s \end{bmatrix}" % r" \\ ".join(
            r"\left(%s\right)^{\top}" % printer._print(a) for a in self.args
        )

    def _arraycode(self, printer):
        return "xp.stack([%s], axis=1)" % ", ".join(printer._print(a) for a in self.args)


class TimeMean(TensorFunction):
    """(1/T) sum_t X_t: the mean over the time steps of one example's sequence X (T, d)."""

    nargs = 2  # X, T

    def vjp(self, argindex, ct):
        return TimeSpread(ct, self.args[1])

    def units(self, ctx, k, j=None):
        X, steps = self.args
        i = _flat(k)
        return sympy.Add(*(ctx.component(X, (t, i)) for t in range(int(steps)))) / int(steps)

    def _latex(self, printer, exp=None):
        X, steps = self.args
        return r"\frac{1}{%d} \sum_{t=1}^{%d} {%s}_{t}" % (int(steps), int(steps), _tex_operand(printer, X))

    def _arraycode(self, printer):
        return "xp.mean(%s, axis=1)" % printer._print(self.args[0])


class TimeSpread(TensorFunction):
    """delta / T in every row: the error term of a sequence through its mean over time."""

    nargs = 2
    kernel = staticmethod(time_spread)

    def _latex(self, printer, exp=None):
        d, steps = self.args
        return r"\frac{1}{%d} \mathbf{1}_{%d} \left(%s\right)^{\top}" % (int(steps), int(steps), printer._print(d))

    def _arraycode(self, printer):
        return "time_spread(xp, %s, %d)" % (printer._print(self.args[0]), int(self.args[1]))


# --- gate blocks ---------------------------------------------------------------------------------


class Block(TensorFunction):
    """Block k (from 0) of n equal blocks of a stacked vector z: z[kH:(k+1)H]. Arguments: z, k, n, H."""

    nargs = 4
    code_atom = True

    def vjp(self, argindex, ct):
        _, k, n, _ = self.args
        return BlockPut(ct, k, n)

    def units(self, ctx, k, j=None):
        z, block, _, h = self.args
        return ctx.component(z, int(block) * int(h) + _flat(k))

    def _latex(self, printer, exp=None):
        z, k, n, h = self.args
        lo, hi = int(k) * int(h) + 1, (int(k) + 1) * int(h)
        return r"{%s}_{%d:%d}" % (_tex_operand(printer, z), lo, hi)

    def _arraycode(self, printer):
        z, k, _, h = self.args
        lo, hi = int(k) * int(h), (int(k) + 1) * int(h)
        return "%s[..., %d:%d]" % (printer.operand(z), lo, hi)


class BlockPut(TensorFunction):
    """delta as block k of a stacked vector of n blocks, zeros elsewhere. Arguments: delta, k, n."""

    nargs = 3
    kernel = staticmethod(block_put)

    def _latex(self, printer, exp=None):
        d, k, n = self.args
        parts = [printer._print(d) if j == int(k) else r"\mathbf{0}" for j in range(int(n))]
        return r"\begin{bmatrix} %s \end{bmatrix}" % r" \\ ".join(parts)

    def _arraycode(self, printer):
        d, k, n = self.args
        return "block_put(xp, %s, %d, %d)" % (printer._print(d), int(k), int(n))


# --- a learned initial state ---------------------------------------------------------------------


class InitialMatVec(TensorFunction):
    """W h_0: a weight matrix applied to a learned initial state h_0 (H,), the same for every
    example (``learn_initial``); W a in code, broadcast over the batch."""

    nargs = 2

    def vjp(self, argindex, ct):
        W, h0 = self.args
        return InitialOuter(ct, h0) if argindex == 0 else MatTVec(W, ct)

    def units(self, ctx, k, j=None):
        W, h0 = self.args
        r = _flat(k)
        return sympy.Add(*(ctx.entry(W, r, c) * ctx.component(h0, c) for c in range(ctx.shape(W)[1])))

    def _latex(self, printer, exp=None):
        return "%s %s" % tuple(printer._print(a) for a in self.args)

    def _arraycode(self, printer):
        return "%s @ %s.T" % (printer.operand(self.args[1]), printer.operand(self.args[0]))


class InitialOuter(TensorFunction):
    """(1/m) sum_i delta_i h_0^T: the first step's share of W_hh's gradient when h_0 is learned."""

    nargs = 2
    batch_reduces = True
    kernel = staticmethod(initial_outer)

    def _latex(self, printer, exp=None):
        with _one_example(printer):
            d = printer._print(self.args[0])
        return r"\frac{1}{m} \sum_{i=1}^{m} %s \left(%s\right)^{\top}" % (d, printer._print(self.args[1]))

    def _sumcode(self, printer):
        return "initial_outer(xp, %s, %s)" % tuple(printer._print(a) for a in self.args)

    def _arraycode(self, printer):
        return "%s / m" % self._sumcode(printer)


# --- attention -----------------------------------------------------------------------------------


class SeqLinear(TensorFunction):
    """X W: one example's sequence X (T, D) times a weight matrix W (D, n), row by row."""

    nargs = 2

    def vjp(self, argindex, ct):
        X, W = self.args
        return SeqWeight(X, ct) if argindex == 1 else MatMulT(ct, W)

    def units(self, ctx, k, j=None):
        X, W = self.args
        t, c = _pair(k, j)
        return sympy.Add(*(ctx.component(X, (t, r)) * ctx.entry(W, r, c) for r in range(ctx.shape(W)[0])))

    def _latex(self, printer, exp=None):
        return "%s %s" % tuple(_tex_operand(printer, a) for a in self.args)

    def _arraycode(self, printer):
        return "%s @ %s" % tuple(printer.operand(a) for a in self.args)


class SeqWeight(TensorFunction):
    """(1/m) sum_i X_i^T delta_i: the gradient of the weights of a sequence's linear map."""

    nargs = 2
    batch_reduces = True
    kernel = staticmethod(seq_weight)

    def _latex(self, printer, exp=None):
        with _one_example(printer):
            X, d = (printer._print(a) for a in self.args)
        return r"\frac{1}{m} \sum_{i=1}^{m} \left(%s\right)^{\top} %s" % (X, d)

    def _sumcode(self, printer):
        return "seq_weight(xp, %s, %s)" % tuple(printer._print(a) for a in self.args)

    def _arraycode(self, printer):
        return "%s / m" % self._sumcode(printer)


class SeqMatMul(TensorFunction):
    """A B: two per-example matrices multiplied (the attention output A V)."""

    nargs = 2

    def vjp(self, argindex, ct):
        A, B = self.args
        return MatMulT(ct, B) if argindex == 0 else TMatMul(A, ct)

    def units(self, ctx, k, j=None):
        A, B = self.args
        t, c = _pair(k, j)
        inner = ctx.shape(A)[1] if A.is_Symbol else ctx.shape(B)[0]
        return sympy.Add(*(ctx.component(A, (t, s)) * ctx.component(B, (s, c)) for s in range(inner)))

    def _latex(self, printer, exp=None):
        return "%s %s" % tuple(_tex_operand(printer, a) for a in self.args)

    def _arraycode(self, printer):
        return "%s @ %s" % tuple(printer.operand(a) for a in self.args)


class MatMulT(TensorFunction):
    """A B^T of per-example matrices (B may be a weight matrix: delta W^T)."""

    nargs = 2

    def _latex(self, printer, exp=None):
        return r"%s \left(%s\right)^{\top}" % tuple(printer._print(a) for a in self.args)

    def _arraycode(self, printer):
        A, B = (printer.operand(a) for a in self.args)
        return "%s @ xp.matrix_transpose(%s)" % (A, B)


class TMatMul(TensorFunction):
    """A^T B of per-example matrices."""

    nargs = 2

    def _latex(self, printer, exp=None):
        return r"\left(%s\right)^{\top} %s" % tuple(printer._print(a) for a in self.args)

    def _arraycode(self, printer):
        A, B = (printer.operand(a) for a in self.args)
        return "xp.matrix_transpose(%s) @ %s" % (A, B)


class Scores(TensorFunction):
    """Q K^T / sqrt(d_k): the attention scores of one example. Arguments: Q, K, d_k."""

    nargs = 3

    def vjp(self, argindex, ct):
        Q, K, dk = self.args
        return ScoresQuery(ct, K, dk) if argindex == 0 else ScoresKey(ct, Q, dk)

    def units(self, ctx, k, j=None):
        Q, K, dk = self.args
        t, u = _pair(k, j)
        width = ctx.shape(Q)[1]
        dot = sympy.Add(*(ctx.component(Q, (t, c)) * ctx.component(K, (u, c)) for c in range(width)))
        return dot / sympy.sqrt(int(dk))

    def index_form(self, ctx, k, j=None):
        """s_{t,u} = sum_c q_{t,c} k_{u,c} / sqrt(d_k), as a teacher writes it (1/sqrt(d_k), not
        SymPy's sqrt(d_k)/d_k)."""
        Q, K, dk = self.args
        t, u = _pair(k, j)
        c = ctx.index("c")
        dot = sympy.Sum(ctx.component(Q, (t, c)) * ctx.component(K, (u, c)), (c, 0, ctx.shape(Q)[1] - 1))
        return sympy.Mul(dot, sympy.Pow(sympy.sqrt(int(dk)), -1, evaluate=False), evaluate=False)

    def _latex(self, printer, exp=None):
        Q, K, dk = self.args
        return r"\frac{%s \left(%s\right)^{\top}}{\sqrt{%d}}" % (printer._print(Q), printer._print(K), int(dk))

    def _arraycode(self, printer):
        Q, K, dk = self.args
        return "%s @ xp.matrix_transpose(%s) * %r" % (printer.operand(Q), printer.operand(K), 1 / float(dk) ** 0.5)


class ScoresQuery(TensorFunction):
    """delta K / sqrt(d_k): the error term of the queries."""

    nargs = 3

    def _latex(self, printer, exp=None):
        d, K, dk = self.args
        return r"\frac{1}{\sqrt{%d}} %s %s" % (int(dk), printer._print(d), printer._print(K))

    def _arraycode(self, printer):
        d, K, dk = self.args
        return "%s @ %s * %r" % (printer.operand(d), printer.operand(K), 1 / float(dk) ** 0.5)


class ScoresKey(TensorFunction):
    """delta^T Q / sqrt(d_k): the error term of the keys."""

    nargs = 3

    def _latex(self, printer, exp=None):
        d, Q, dk = self.args
        return r"\frac{1}{\sqrt{%d}} \left(%s\right)^{\top} %s" % (int(dk), printer._print(d), printer._print(Q))

    def _arraycode(self, printer):
        d, Q, dk = self.args
        return "xp.matrix_transpose(%s) @ %s * %r" % (printer.operand(d), printer.operand(Q), 1 / float(dk) ** 0.5)


class RowSoftmax(TensorFunction):
    """softmax of each row of one example's scores S (T, T); with causal (1), entries above the
    diagonal masked (their weights exactly 0). Arguments: S, causal."""

    nargs = 2
    kernel = staticmethod(row_softmax)

    def vjp(self, argindex, ct):
        return RowSoftmaxInput(self, ct)

    def units(self, ctx, k, j=None):
        """a_{t,u} = exp(s_{t,u}) / sum_v exp(s_{t,v}), v <= t under the causal mask (0 above it)."""
        S, causal = self.args
        t, u = (_number(i) for i in _pair(k, j))
        seen = range(t + 1) if causal else range(ctx.shape(S)[1])
        if u not in seen:
            return sympy.S.Zero
        return sympy.exp(ctx.component(S, (t, u))) / sympy.Add(*(sympy.exp(ctx.component(S, (t, v))) for v in seen))

    def _latex(self, printer, exp=None):
        S, causal = self.args
        name = (
            r"\operatorname{softmax}_{\mathrm{row}}" if not causal else r"\operatorname{softmax}_{\mathrm{row,causal}}"
        )
        return r"%s\left(%s\right)" % (name, printer._print(S))

    def _arraycode(self, printer):
        S, causal = self.args
        return "row_softmax(xp, %s, %s)" % (printer._print(S), bool(causal))


class RowSoftmaxInput(TensorFunction):
    """A ⊙ (delta - (delta ⊙ A) 1 1^T): the softmax Jacobian diag(a) - a a^T on each row."""

    nargs = 2
    kernel = staticmethod(row_softmax_input)

    def _latex(self, printer, exp=None):
        A, d = (printer._print(a) for a in self.args)
        return r"%s \odot \left(%s - \left(%s \odot %s\right) \mathbf{1} \mathbf{1}^{\top}\right)" % (A, d, d, A)

    def _arraycode(self, printer):
        return "row_softmax_input(xp, %s, %s)" % tuple(printer._print(a) for a in self.args)


SEQUENCE_CLASSES = (
    TimeStep,
    TimePut,
    TimeStack,
    TimeMean,
    TimeSpread,
    Block,
    BlockPut,
    InitialMatVec,
    InitialOuter,
    SeqLinear,
    SeqWeight,
    SeqMatMul,
    MatMulT,
    TMatMul,
    Scores,
    ScoresQuery,
    ScoresKey,
    RowSoftmax,
    RowSoftmaxInput,
)
SEQUENCE_HELPER_KERNELS = ()  # every kernel here belongs to an op


def sequence_kernel_samples(xp, x) -> dict[str, tuple]:
    """Arguments for every kernel of this module around a sequence x (m, T, d), T >= 2: what the
    registry's table-driven tests call them with."""
    s = x @ xp.matrix_transpose(x)
    a = row_softmax(xp, s, True)
    step = x[:, 0]
    return {
        "time_put": (step, 1, x.shape[1]),
        "time_spread": (step, x.shape[1]),
        "block_put": (step, 1, 3),
        "seq_weight": (x, x),
        "initial_outer": (step, step[0]),
        "row_softmax": (s, True),
        "row_softmax_input": (a, s),
    }


# --- records for the documents ----------------------------------------------------------------------


def _rnn_lemma():
    """BPTT for step k (k, not t: a lemma's t is the target): the error term of h_{k-1} is its
    direct path g_{k-1} plus the path through h_k, and W_hh's gradient sums over the steps."""
    W, J, k, T = sympy.Symbol("W_{hh}"), sympy.Symbol("J"), sympy.Symbol("k", integer=True), sympy.Symbol("T")
    d, h, direct = sympy.Symbol(r"\delta_{k}"), sympy.Symbol("h_{k-1}"), sympy.Symbol("g_{k-1}")
    return [
        (sympy.Derivative(J, h), sympy.Add(direct, MatTVec(W, d), evaluate=False)),
        (sympy.Derivative(J, W), sympy.Sum(BatchOuter(d, h), (k, 1, T))),
    ]


def _lstm_lemma():
    """The cell-state path: c_{k-1} feeds c_k through the forget gate and h_{k-1} through tanh."""
    J = sympy.Symbol("J")
    c, d_c, f = sympy.Symbol("c_{k-1}"), sympy.Symbol(r"\frac{\partial J}{\partial c_{k}}"), sympy.Symbol("f_{k}")
    d_h, o = sympy.Symbol(r"\frac{\partial J}{\partial h_{k-1}}"), sympy.Symbol("o_{k-1}")
    through_h = sympy.Mul(d_h, o, 1 - sympy.tanh(c) ** 2, evaluate=False)
    return [(sympy.Derivative(J, c), sympy.Add(sympy.Mul(d_c, f, evaluate=False), through_h, evaluate=False))]


def _attention_lemma():
    A, d, S = (sympy.Symbol(n) for n in ("A", "delta", "S"))
    return [(sympy.Derivative(sympy.Symbol("J"), S), RowSoftmaxInput(A, d))]


class NoteProduct(sympy.Function):
    """A matrix product in a section's general equations, A B, either factor transposed
    (arguments A, B, 1 or 0 for each): a plain symbol as it is (x^T), a superscripted one or an
    expression in parentheses ((W^{(1)}_{hh})^T, (dJ/dh ⊙ f') h^T). Printing only: no rule."""

    nargs = 4

    def _latex(self, printer, exp=None):
        a, b, ta, tb = self.args
        return "%s %s" % (self._operand(printer, a, bool(ta)), self._operand(printer, b, bool(tb)))

    @staticmethod
    def _operand(printer, expr, transposed: bool) -> str:
        text = printer._print(expr)
        plain = expr.is_Symbol and "^" not in text and "frac" not in text
        if not transposed:
            return text if expr.is_Symbol or isinstance(expr, sympy.Function) else r"\left(%s\right)" % text
        return r"%s^{\top}" % text if plain else r"\left(%s\right)^{\top}" % text


def _mm(a, b, ta: int = 0, tb: int = 0) -> NoteProduct:
    return NoteProduct(a, b, Integer(ta), Integer(tb))


class Notes:
    """The general equations of a sequence layer's own section, for layer ``l`` at step t:
    ``groups`` name -> [(lhs, rhs) or (lhs, rhs, relation)] (lhs None: continues the line
    above), ``vectors`` the symbols that hold a tensor (their products print with ⊙). Symbols are
    named in LaTeX, as a lemma's are; the document prints them, the words come from its
    messages (``seq_<op>_...``)."""

    def __init__(self, layer: int, source: str = "x"):
        self.sup = "^{(%d)}" % layer
        self.source = source  # the layer's input sequence: x, or the layer below's output
        self.groups: dict[str, list[tuple]] = {}
        self._vectors: set[sympy.Symbol] = set()

    @property
    def vectors(self) -> frozenset:
        return frozenset(self._vectors)

    def v(self, base: str, sub: str = "", layer: bool = True) -> sympy.Symbol:
        """A tensor of the layer: base^{(l)}_{sub} (no superscript for the input x)."""
        name = base + (self.sup if layer else "") + (f"_{{{sub}}}" if sub else "")
        symbol = sympy.Symbol(name)
        self._vectors.add(symbol)
        return symbol

    def grad(self, of: str) -> sympy.Symbol:
        """dJ/d(of) as one symbol, the tensor form's own name for it."""
        return self.v(r"\frac{\partial J}{\partial %s}" % of, layer=False)

    def x(self, sub: str) -> sympy.Symbol:
        return self.v(self.source, sub, layer=False)

    @staticmethod
    def m(base: str, sub: str, sup: str) -> sympy.Symbol:
        """A weight matrix (not a vector: a product with it is no elementwise product)."""
        return sympy.Symbol(f"{base}{sup}_{{{sub}}}")


def _odot(*factors):
    return sympy.Mul(*factors, evaluate=False)


def _minus(a, b):
    return sympy.Add(a, sympy.Mul(-1, b, evaluate=False), evaluate=False)


def _one_minus(a, power: int = 1):
    return sympy.Add(1, -(a**power) if power > 1 else sympy.Mul(-1, a, evaluate=False), evaluate=False)


def _diag(expr):
    return sympy.Function(r"\operatorname{diag}")(expr)


def rnn_notes(layer: int, source: str = "x") -> Notes:
    """BPTT for an rnn layer: dJ/dh_t's two paths, delta_t, W_hh's gradient per unit and as a
    matrix, row t of the input's error term, and the chain of Jacobians dh_T/dh_t."""
    n = Notes(layer, source)
    t, T, k = (sympy.Symbol(c, integer=True) for c in ("t", "T", "k"))
    W, Wx = n.m("W", "hh", n.sup), n.m("W", "xh", n.sup)
    dh, g = n.grad("h%s_{t}" % n.sup), n.v("g", "t")
    delta, fp = n.v(r"\delta", "t"), n.v(r"f'\left(z%s_{t}\right)" % n.sup, layer=False)
    n.groups["paths"] = [
        (dh, sympy.Add(g, _mm(W, n.v(r"\delta", "t+1"), 1), evaluate=False)),
        (delta, _odot(dh, fp)),
    ]
    entry = sympy.Symbol(r"\frac{\partial J}{\partial \left(W%s_{hh}\right)_{ij}}" % n.sup)
    n.groups["weight"] = [
        (
            entry,
            sympy.Sum(_odot(sympy.Symbol(r"\delta%s_{t,i}" % n.sup), sympy.Symbol("h%s_{t-1,j}" % n.sup)), (t, 1, T)),
        ),
        (n.grad(r"W%s_{hh}" % n.sup), sympy.Sum(_mm(delta, n.v("h", "t-1"), 0, 1), (t, 1, T))),
        (None, sympy.Sum(_mm(_odot(dh, fp), n.v("h", "t-1"), 0, 1), (t, 1, T))),
    ]
    n.groups["input"] = [
        (n.v(r"\left(\frac{\partial J}{\partial %s}\right)" % source, "t", layer=False), _mm(Wx, delta, 1))
    ]
    step = _mm(_diag(n.v(r"f'\left(z%s_{k}\right)" % n.sup, layer=False)), W)
    n.groups["chain"] = [
        (sympy.Symbol(r"\frac{\partial h%s_{t}}{\partial h%s_{t-1}}" % (n.sup, n.sup)), _mm(_diag(fp), W)),
        (
            sympy.Symbol(r"\frac{\partial h%s_{T}}{\partial h%s_{t}}" % (n.sup, n.sup)),
            sympy.Product(step, (k, sympy.Symbol("t+1"), T)),
        ),
    ]
    return n


def lstm_notes(layer: int, source: str = "x") -> Notes:
    """An LSTM's error terms: the cell state's two paths, each gate's error term, the stacked
    error term that goes through W_hh and W_ih, and the cell path's product of forget gates."""
    n = Notes(layer, source)
    t, T, k = (sympy.Symbol(c, integer=True) for c in ("t", "T", "k"))
    dh, dc = n.v(r"\delta", "h,t"), n.v(r"\delta", "c,t")
    i, f, g, o, c = (n.v(name, "t") for name in "ifgoc")
    n.groups["cell"] = [
        (
            dc,
            sympy.Add(
                _odot(dh, o, _one_minus(sympy.tanh(c), 2)),
                _odot(n.v(r"\delta", "c,t+1"), n.v("f", "t+1")),
                evaluate=False,
            ),
        ),
    ]
    d = {name: n.v(r"\delta", f"{name},t") for name in "ifgo"}
    n.groups["gates"] = [
        (d["o"], _odot(dh, sympy.tanh(c), o, _one_minus(o))),
        (d["f"], _odot(dc, n.v("c", "t-1"), f, _one_minus(f))),
        (d["i"], _odot(dc, g, i, _one_minus(i))),
        (d["g"], _odot(dc, i, _one_minus(g, 2))),
        (n.v(r"\delta", "t"), sympy.Matrix([d[name] for name in "ifgo"])),
    ]
    W, delta = n.m("W", "hh", n.sup), n.v(r"\delta", "t")
    n.groups["state"] = [
        (n.v(r"\delta", "h,t-1"), sympy.Add(n.v("g", "t-1"), _mm(W, delta, 1), evaluate=False)),
        (n.grad(r"W%s_{hh}" % n.sup), sympy.Sum(_mm(delta, n.v("h", "t-1"), 0, 1), (t, 1, T))),
        (n.grad(r"W%s_{ih}" % n.sup), sympy.Sum(_mm(delta, n.x("t"), 0, 1), (t, 1, T))),
    ]
    n.groups["chain"] = [
        (
            sympy.Symbol(r"\frac{\partial c%s_{T}}{\partial c%s_{t}}" % (n.sup, n.sup)),
            _diag(sympy.Product(n.v("f", "k"), (k, sympy.Symbol("t+1"), T))),
        ),
    ]
    return n


def gru_notes(layer: int, source: str = "x") -> Notes:
    """A GRU's error terms: the gates r, z, n, the stacked error terms of u_t and v_t, the
    three paths into h_{t-1}, and the interpolation path's product of update gates."""
    n = Notes(layer, source)
    t, T, k = (sympy.Symbol(c, integer=True) for c in ("t", "T", "k"))
    dh = n.v(r"\delta", "h,t")
    r, z, g = (n.v(name, "t") for name in "rzn")
    d = {name: n.v(r"\delta", f"{name},t") for name in "rzn"}
    n.groups["gates"] = [
        (d["n"], _odot(dh, _one_minus(z), _one_minus(g, 2))),
        (d["z"], _odot(dh, _minus(n.v("h", "t-1"), g), z, _one_minus(z))),
        (d["r"], _odot(d["n"], n.v("v", "n,t"), r, _one_minus(r))),
        (n.v(r"\delta", "u,t"), sympy.Matrix([d["r"], d["z"], d["n"]])),
        (n.v(r"\delta", "v,t"), sympy.Matrix([d["r"], d["z"], _odot(r, d["n"])])),
    ]
    W = n.m("W", "hh", n.sup)
    n.groups["state"] = [
        (
            n.v(r"\delta", "h,t-1"),
            sympy.Add(n.v("g", "t-1"), _odot(dh, z), _mm(W, n.v(r"\delta", "v,t"), 1), evaluate=False),
        ),
        (n.grad(r"W%s_{hh}" % n.sup), sympy.Sum(_mm(n.v(r"\delta", "v,t"), n.v("h", "t-1"), 0, 1), (t, 1, T))),
        (n.grad(r"W%s_{ih}" % n.sup), sympy.Sum(_mm(n.v(r"\delta", "u,t"), n.x("t"), 0, 1), (t, 1, T))),
    ]
    n.groups["chain"] = [
        (
            sympy.Symbol(r"\left.\frac{\partial h%s_{T}}{\partial h%s_{t}}\right|_{z}" % (n.sup, n.sup)),
            _diag(sympy.Product(n.v("z", "k"), (k, sympy.Symbol("t+1"), T))),
        ),
    ]
    return n


def attention_notes(layer: int, dim: int, source: str = "x") -> Notes:
    """Attention's gradients: through A V, the softmax Jacobian row by row and entry by entry,
    the scores' 1/sqrt(d_k) into Q and K, the three weights and the input."""
    n = Notes(layer, source)
    A, V, Q, K, X = n.v("A"), n.v("V"), n.v("Q"), n.v("K"), n.v(source, layer=False)
    dO, dA, dS = n.grad("O%s" % n.sup), n.grad("A%s" % n.sup), n.grad("S%s" % n.sup)
    dQ, dK, dV = n.grad("Q%s" % n.sup), n.grad("K%s" % n.sup), n.grad("V%s" % n.sup)
    a, da = n.v("a", "t"), n.grad("a%s_{t}" % n.sup)
    dk = Integer(dim)
    n.groups["values"] = [(dV, _mm(A, dO, 1)), (dA, _mm(dO, V, 0, 1))]
    jac = sympy.Add(_diag(a), sympy.Mul(-1, _mm(a, a, 0, 1), evaluate=False), evaluate=False)
    dot = _mm(a, da, 1)  # a_t^T dJ/da_t: a number
    one = sympy.Symbol(r"\mathbf{1}")
    w = sympy.Symbol("v", integer=True)
    steps = sympy.Symbol("T", integer=True)
    a_tu, a_tv = sympy.Symbol("a%s_{t,u}" % n.sup), sympy.Symbol("a%s_{t,v}" % n.sup)
    da_tu = sympy.Symbol(r"\frac{\partial J}{\partial a%s_{t,u}}" % n.sup)
    da_tv = sympy.Symbol(r"\frac{\partial J}{\partial a%s_{t,v}}" % n.sup)
    n.groups["jacobian"] = [
        (n.grad("s%s_{t}" % n.sup), _mm(jac, da)),
        (None, _odot(a, _minus(da, sympy.Mul(dot, one, evaluate=False)))),
        (
            sympy.Symbol(r"\frac{\partial J}{\partial s%s_{t,u}}" % n.sup),
            sympy.Mul(
                a_tu, _minus(da_tu, sympy.Sum(sympy.Mul(a_tv, da_tv, evaluate=False), (w, 1, steps))), evaluate=False
            ),
        ),
    ]
    n.groups["scores"] = [(dQ, ScoresQuery(dS, K, dk)), (dK, ScoresKey(dS, Q, dk))]
    n.groups["weights"] = [
        *((n.grad("W%s_{%s}" % (n.sup, part)), _mm(X, grad, 1)) for part, grad in (("q", dQ), ("k", dK), ("v", dV))),
        (
            n.grad(source),
            sympy.Add(
                *(_mm(grad, n.m("W", part, n.sup), 0, 1) for part, grad in (("q", dQ), ("k", dK), ("v", dV))),
                evaluate=False,
            ),
        ),
    ]
    return n


RNN = LayerOp(
    "rnn",
    Text("recurrent layer (unrolled through time)", "循环层（按时间展开）"),
    spellings=("h_t", "W_hh", "W_xh", "delta_t"),
    lemma=Lemma(
        Text("backpropagation through time", "随时间反向传播"),
        Text(
            r"The steps share $W_{hh}$: $h_{k-1}$ feeds $z_k$, so $\partial J / \partial h_{k-1}$ gets "
            r"$W_{hh}^{\top} \delta_k$ besides its direct path $g_{k-1}$ (the total derivative over time), "
            r"and the gradient of the shared weight is the sum over the steps of each step's product:",
            r"各时间步共享 $W_{hh}$：$h_{k-1}$ 进入 $z_k$，所以 $\partial J / \partial h_{k-1}$ 除直接路径 $g_{k-1}$ "
            r"外还得到 $W_{hh}^{\top} \delta_k$（对时间的全导数），共享权重的梯度是各时间步乘积之和：",
        ),
        _rnn_lemma,
    ),
)
LSTM = LayerOp(
    "lstm",
    Text("LSTM layer (gates i, f, g, o)", "LSTM 层（门 i, f, g, o）"),
    spellings=("c_t", "i_t", "f_t", "o_t", "g_t"),
    lemma=Lemma(
        Text("the cell-state path", "细胞状态路径"),
        Text(
            r"With $c_k = f_k \odot c_{k-1} + i_k \odot g_k$ and $h_{k-1} = o_{k-1} \odot \tanh c_{k-1}$, the "
            r"cell state carries the gradient back through the forget gate alone, with no weight matrix on "
            r"the way:",
            r"由 $c_k = f_k \odot c_{k-1} + i_k \odot g_k$ 与 $h_{k-1} = o_{k-1} \odot \tanh c_{k-1}$，"
            r"细胞状态只经过遗忘门把梯度传回，途中没有权重矩阵：",
        ),
        _lstm_lemma,
    ),
)
GRU = LayerOp("gru", Text("GRU layer (gates r, z, n)", "GRU 层（门 r, z, n）"), spellings=("r_t", "z_t", "n_t"))
ATTENTION = LayerOp(
    "attention",
    Text("scaled dot-product self-attention", "缩放点积自注意力"),
    spellings=("Q", "K", "V", "softmax", "sqrt(d_k)"),
    lemma=Lemma(
        Text("the softmax Jacobian", "softmax 的雅可比矩阵"),
        Text(
            r"Each row $a$ of $A = \operatorname{softmax}(S)$ has the Jacobian $\operatorname{diag}(a) - a a^{\top}$; "
            r"applied to the row's error term it gives $a \odot (\delta - (\delta \cdot a))$, off-diagonal terms "
            r"included (softmax is not elementwise), and 0 where the causal mask removed an entry:",
            r"$A = \operatorname{softmax}(S)$ 的每一行 $a$ 的雅可比矩阵是 $\operatorname{diag}(a) - a a^{\top}$；"
            r"作用于该行的误差项得 $a \odot (\delta - (\delta \cdot a))$，包括非对角项（softmax 不是逐元素的），"
            r"被因果掩码去掉的位置为 0：",
        ),
        _attention_lemma,
    ),
)
MEAN_OVER_TIME = LayerOp("mean_over_time", Text("mean over time", "对时间取平均"), spellings=("mean_t",))
LAST_STEP = LayerOp("last_step", Text("last time step", "最后一个时间步"), spellings=("h_T",))
SEQUENCE_LAYER_OPS = {op.name: op for op in (RNN, LSTM, GRU, ATTENTION, MEAN_OVER_TIME, LAST_STEP)}
# each sequence op's own section of the document: its general equations (beside its block above)
SEQUENCE_NOTES = {"rnn": rnn_notes, "lstm": lstm_notes, "gru": gru_notes, "attention": attention_notes}
