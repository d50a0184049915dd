"""Layer ops beyond the dense layer: convolution, pooling, flatten, normalisation, dropout, one block each.

Each op is a :class:`~symbackprop.registry.tensor.TensorFunction` that carries, in one class, the
forward rule (its array kernel and its LaTeX), its backward rule in tensor form (``vjp``, which
returns another op of this module), and the kernels train.py copies. Batch semantics are those
of :mod:`symbackprop.registry.tensor`: a plain symbol is one example's tensor, here of any rank
(a feature map has shape (C, H, W)), and in code every per-example array has the batch first,
(m, C, H, W), in PyTorch's layout. Error terms are per example, m times d(objective)/d(node), so
that the batch mean's 1/m reaches the parameters through the batch reductions (``batch_reduces``).

* :class:`Conv2d` — cross-correlation of one example's (C, H, W) map with kernels W of shape
  (F, C, k, k), stride s, zero padding p (PyTorch's ``conv2d``). Its input's error term is the
  *full* convolution of delta (spread out by the stride) with the kernel rotated by 180 degrees
  and its two channel axes swapped (:class:`Conv2dInput`); its kernel's gradient is the batch
  sum of the cross-correlation of the (padded) input with delta (:class:`Conv2dWeight`). The
  kernels are im2col: the k*k shifted slices of the padded input stacked (``im2col``), then a
  matrix product per example; the input's error term is im2col transposed (the channels
  contracted first, then each window offset's share added into place), which is that full
  convolution. The forward conv and the kernel gradient share the stacked columns in train.py.
* :class:`ChannelBias` — a per-channel vector (a conv bias, batch norm's gamma and beta on feature
  maps) broadcast over the positions; its gradient sums over the batch and the positions.
* :class:`MaxPool2d`, :class:`AvgPool2d` — pooling over size x size windows with a stride. Max
  pooling routes delta to the arg-max of each window; where several entries tie for the maximum,
  to the first of them in row-major order within the window (as PyTorch does). Gradient checks
  stay away from ties (``tie_gap``). Average pooling spreads delta evenly over the window.
* :class:`Flatten` — (C, H, W) to (C H W,) in C order (``torch.flatten(x, 1)``); its backward
  rule reshapes delta back.
* :class:`BatchNorm`, :class:`LayerNorm` — x-hat = (x - mu) / sqrt(sigma^2 + eps) with the batch's
  statistics (per feature, or per channel over the batch and the positions: training mode) or the
  example's own (over all its entries). Batch norm couples the examples of a batch, which is why
  its backward rule (:class:`BatchNormInput`) subtracts batch means of delta:
  delta_x = (delta - mean(delta) - x-hat mean(delta x-hat)) / sqrt(sigma^2 + eps). That formula
  is linear and homogeneous in delta, so it holds as it stands for the engine's per-example error
  terms (each m times the true gradient). The affine part gamma x-hat + beta is elementwise.
  BN is not a batch reduction (``batch_reduces`` stays False): its value is one per example, so
  the engine's ``per_example`` counts x-hat per example and gamma's and beta's gradients get the
  usual (1/m) sum_i (``BatchMean``); the coupling of the examples lives in its kernel and its vjp
  alone. Checked against PyTorch's ``batch_norm(training=True)``, biased variance as there.
* dropout — no op of its own: a^(l) = r^(l) a^(l-1) / (1 - p), the mask r^(l) an input of the
  step, so the elementwise product rule applies (:data:`DROPOUT` records it for the documents).

Kernels take the array namespace first and use only the array API standard (slicing, stack,
reshape, matmul, where, and assignment into a strided slice): a Python loop runs over the k*k
offsets of a window, never over pixels, units or examples. A scatter-add (``add2d``, and
``add_run`` along the last axis) adds into a slice in place, ``put2d`` writes one, or through
``.at[].add`` and ``.at[].set`` on JAX's immutable arrays. One fast path is not the standard's:
im2col takes all windows as one strided view where the namespace has ``lib.stride_tricks`` and
the array ``strides`` (NumPy, CuPy), the same columns as the portable stack of slices.
The products are shaped for BLAS and the temporaries kept small, since NumPy takes each
step's multi-megabyte arrays from malloc anew: the kernel gradient multiplies the columns by
delta^T (the long side first), the input's error term never holds all its k*k shares at once,
and max pooling's backward rule writes its shares where windows do not overlap.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import sympy
from sympy import Integer

from symbackprop.registry.base import Lemma, Text
from symbackprop.registry.tensor import LayerOp, TensorFunction

# --- kernels ---------------------------------------------------------------------------------------


def zeros_like_shape(xp, shape, like):
    """Zeros of a shape in like's dtype, on like's device where it has one (a JAX array traced
    by jit has none)."""
    device = getattr(like, "device", None)
    if device is None or callable(device):
        return xp.zeros(shape, dtype=like.dtype)
    return xp.zeros(shape, dtype=like.dtype, device=device)


def add2d(xp, out, part, row, column, stride):
    """out (m, C, H, W) with part (m, C, ho, wo) added at rows row + stride i and columns
    column + stride j: a scatter-add, in place (JAX's immutable arrays: ``.at[].add``)."""
    rows = slice(row, row + stride * (part.shape[2] - 1) + 1, stride)
    columns = slice(column, column + stride * (part.shape[3] - 1) + 1, stride)
    if hasattr(out, "at"):
        return out.at[:, :, rows, columns].add(part)
    out[:, :, rows, columns] += part
    return out


def put2d(xp, out, part, row, column, stride):
    """out (m, C, H, W) with part (m, C, ho, wo) written at rows row + stride i and columns
    column + stride j, in place (JAX's immutable arrays: ``.at[].set``): add2d where nothing
    is there to add to, one pass instead of reading the zeros too."""
    rows = slice(row, row + stride * (part.shape[2] - 1) + 1, stride)
    columns = slice(column, column + stride * (part.shape[3] - 1) + 1, stride)
    if hasattr(out, "at"):
        return out.at[:, :, rows, columns].set(part)
    out[:, :, rows, columns] = part
    return out


def pad2d(xp, x, top, bottom, left, right):
    """x (m, C, H, W) with rows and columns of zeros added on each side; a negative amount crops."""
    rows = slice(max(-top, 0), x.shape[2] - max(-bottom, 0))
    columns = slice(max(-left, 0), x.shape[3] - max(-right, 0))
    x = x[:, :, rows, columns]
    top, bottom = max(top, 0), max(bottom, 0)
    left, right = max(left, 0), max(right, 0)
    if not (top or bottom or left or right):
        return x
    m, c, h, w = x.shape
    shape = (m, c, h + top + bottom, w + left + right)
    return put2d(xp, zeros_like_shape(xp, shape, x), x, top, left, 1)


def window2d(xp, x, row, column, stride, ho, wo):
    """The entries (row + stride i, column + stride j) of x (m, C, H, W), i < ho, j < wo."""
    rows = slice(row, row + stride * (ho - 1) + 1, stride)
    columns = slice(column, column + stride * (wo - 1) + 1, stride)
    return x[:, :, rows, columns]


def add_run(xp, out, part, start, stride):
    """out (..., n) with part (..., r) added at start + stride t, t < r: a scatter-add along the
    last axis, in place (JAX's immutable arrays: ``.at[].add``)."""
    run = slice(start, start + stride * (part.shape[-1] - 1) + 1, stride)
    if hasattr(out, "at"):
        return out.at[..., run].add(part)
    out[..., run] += part
    return out


def im2col(xp, x, k, stride, padding):
    """The k*k windows of the padded x (m, C, H, W) stacked: (m, C k k, ho wo), channels major
    and offsets minor, as the kernels (F, C, k, k) flatten to (F, C k k)."""
    x = pad2d(xp, x, padding, padding, padding, padding)
    m, c, h, w = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    tricks = getattr(getattr(xp, "lib", None), "stride_tricks", None)
    if tricks is not None and hasattr(x, "strides"):
        # NumPy and CuPy: every window as one strided view (m, C, k, k, ho, wo) of x, which
        # the reshape copies once, instead of k*k slices copied into a stack
        sm, sc, sh, sw = x.strides
        strides = (sm, sc, sh, sw, stride * sh, stride * sw)
        view = tricks.as_strided(x, (m, c, k, k, ho, wo), strides)
        return xp.reshape(view, (m, c * k * k, ho * wo))
    offsets = [(u, v) for u in range(k) for v in range(k)]
    windows = [window2d(xp, x, u, v, stride, ho, wo) for u, v in offsets]
    return xp.reshape(xp.stack(windows, axis=2), (m, c * k * k, ho * wo))


def conv2d_columns(xp, columns, w, ho, wo):
    """The convolution from its input's im2col columns: a matrix product per example."""
    f = w.shape[0]
    out = xp.reshape(w, (f, columns.shape[1])) @ columns
    return xp.reshape(out, (columns.shape[0], f, ho, wo))


def conv2d(xp, x, w, stride, padding):
    """Cross-correlation of x (m, C, H, W) with kernels w (F, C, k, k), as PyTorch's conv2d: the
    k*k shifted windows side by side (im2col), then one matrix product; (m, F, ho, wo)."""
    k = w.shape[2]
    ho = (x.shape[2] + 2 * padding - k) // stride + 1
    wo = (x.shape[3] + 2 * padding - k) // stride + 1
    return conv2d_columns(xp, im2col(xp, x, k, stride, padding), w, ho, wo)


def conv2d_weight_columns(xp, columns, d, k):
    """The kernels' gradient times m from the input's im2col columns and the error term d
    (m, F, ho, wo): d_i columns_i^T for every example, summed over the batch. Computed as its
    transpose, columns_i d_i^T, whose C k k rows (more than the F) make the faster product."""
    m, f = d.shape[0], d.shape[1]
    d = xp.reshape(d, (m, f, columns.shape[2]))
    total = xp.sum(columns @ xp.matrix_transpose(d), axis=0)
    return xp.reshape(total.T, (f, columns.shape[1] // (k * k), k, k))


def conv2d_weight_sum(xp, x, d, k, stride, padding):
    """sum over the batch of the cross-correlation of the padded input x (m, C, H, W) with the
    error term d (m, F, ho, wo): the gradient of the kernels (F, C, k, k), times m."""
    return conv2d_weight_columns(xp, im2col(xp, x, k, stride, padding), d, k)


def conv2d_input(xp, d, w, stride, padding, height, width):
    """The error term of a convolution's input (m, C, height, width): the full convolution of d
    (m, F, ho, wo), spread out by the stride, with the kernel rotated by 180 degrees and its
    channel axes swapped. Computed as im2col transposed: for every window offset (u, v) the
    channels contracted (W[:, :, u, v]^T d, one matrix product over the whole batch), then that
    share added into place; the padding cropped.

    The adds are long runs, not k*k adds of ho short rows of wo entries each: d is spread out by
    the stride onto rows as wide as the padded input's (wp), zeros between and after its
    entries (at least k - 1 at the end of every row), and flattened over the batch and its rows.
    Offset (u, v) moves an entry v places along that flat grid and u rows down. What a move of
    v places carries past the end of a row (into the next row or example) is one of those k - 1
    zeros, so the k shares of kernel row u add up as flat runs over the whole batch, shifted by
    v, and their sum is added u rows down into every example: k*k runs and k adds. No array of
    all the k*k shares at once (im2col's size) is made."""
    m, f = d.shape[0], d.shape[1]
    c, k = w.shape[1], w.shape[2]
    hp, wp = height + 2 * padding, width + 2 * padding
    hs = hp - k + 1  # the rows of a stride-1 convolution of the padded input
    n = hs * wp
    wide = zeros_like_shape(xp, (f, m, hs, wp), d)
    wide = put2d(xp, wide, xp.permute_dims(d, (1, 0, 2, 3)), 0, 0, stride)
    wide = xp.reshape(wide, (f, m * n))
    out = zeros_like_shape(xp, (m, c, hp * wp), d)
    for u in range(k):
        row = zeros_like_shape(xp, (c, m * n + k - 1), d)
        for v in range(k):
            row = add_run(xp, row, w[:, :, u, v].T @ wide, v, 1)
        share = xp.permute_dims(xp.reshape(row[:, : m * n], (c, m, n)), (1, 0, 2))
        out = add_run(xp, out, share, u * wp, 1)
    out = xp.reshape(out, (m, c, hp, wp))
    return out[:, :, padding : padding + height, padding : padding + width]


def maxpool2d(xp, x, size, stride):
    """The maximum of each size x size window of x (m, C, H, W), windows a stride apart."""
    ho, wo = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    out = window2d(xp, x, 0, 0, stride, ho, wo)
    for u in range(size):
        for v in range(size):
            if u or v:
                out = xp.maximum(out, window2d(xp, x, u, v, stride, ho, wo))
    return out


def maxpool2d_input(xp, x, y, d, size, stride):
    """d (m, C, ho, wo) routed to the arg-max of each window of x (y its maxima): to the first
    maximum in row-major order where entries tie, as PyTorch does. What is routed to an entry
    is taken from d, so that a later entry of the same maximum finds nothing left; windows
    that do not overlap (stride >= size) write their shares, with no zeros to add them to."""
    ho, wo = y.shape[2], y.shape[3]
    overlap = stride < size
    out = zeros_like_shape(xp, x.shape, d)
    for u in range(size):
        for v in range(size):
            share = d * xp.astype(window2d(xp, x, u, v, stride, ho, wo) == y, d.dtype)
            d = d - share
            if overlap:
                out = add2d(xp, out, share, u, v, stride)
            else:
                out = put2d(xp, out, share, u, v, stride)
    return out


def maxpool2d_tie_gap(xp, x, size, stride):
    """The smallest gap between the largest and the second largest entry over all windows of x
    (exact ties excluded: relu's zeros tie where no derivative flows): how near a kink it is."""
    ho, wo = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    offsets = [(u, v) for u in range(size) for v in range(size)]
    windows = xp.stack([window2d(xp, x, u, v, stride, ho, wo) for u, v in offsets])
    top = xp.max(windows, axis=0)
    below = xp.where(windows < top, windows, -xp.inf)
    gaps = top - xp.max(below, axis=0)
    gaps = xp.where(gaps > 0, gaps, xp.inf)
    return float(xp.min(gaps)) if size * size > 1 else float("inf")


def avgpool2d(xp, x, size, stride):
    """The mean of each size x size window of x (m, C, H, W), windows a stride apart."""
    ho, wo = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    out = window2d(xp, x, 0, 0, stride, ho, wo)
    for u in range(size):
        for v in range(size):
            if u or v:
                out = out + window2d(xp, x, u, v, stride, ho, wo)
    return out / (size * size)


def avgpool2d_input(xp, d, size, stride, height, width):
    """d (m, C, ho, wo) spread evenly over each window: 1/size^2 of it to every entry."""
    d = d / (size * size)
    shape = (d.shape[0], d.shape[1], height, width)
    out = zeros_like_shape(xp, shape, d)
    for u in range(size):
        for v in range(size):
            out = add2d(xp, out, d, u, v, stride)
    return out


def normalise(xp, x, axes, eps):
    """(x - mean) / sqrt(variance + eps), the statistics over ``axes`` (the biased variance)."""
    centred = x - xp.mean(x, axis=axes, keepdims=True)
    return centred / xp.sqrt(xp.mean(centred * centred, axis=axes, keepdims=True) + eps)


def normalise_input(xp, x, xhat, d, axes, eps):
    """The error term of normalise's input: (d - mean(d) - xhat mean(d xhat)) / sqrt(variance + eps)."""
    centred = x - xp.mean(x, axis=axes, keepdims=True)
    scale = xp.sqrt(xp.mean(centred * centred, axis=axes, keepdims=True) + eps)
    mean_d = xp.mean(d, axis=axes, keepdims=True)
    mean_dx = xp.mean(d * xhat, axis=axes, keepdims=True)
    return (d - mean_d - xhat * mean_dx) / scale


def batchnorm(xp, x, eps):
    """Batch normalisation in training mode: statistics over the batch (and the positions of a
    feature map), per feature or channel."""
    return normalise(xp, x, (0, *range(2, x.ndim)), eps)


def batchnorm_input(xp, x, xhat, d, eps):
    """The error term of batch norm's input, the batch statistics differentiated too."""
    return normalise_input(xp, x, xhat, d, (0, *range(2, x.ndim)), eps)


def layernorm(xp, x, eps):
    """Layer normalisation: statistics over all entries of each example."""
    return normalise(xp, x, tuple(range(1, x.ndim)), eps)


def layernorm_input(xp, x, xhat, d, eps):
    """The error term of layer norm's input."""
    return normalise_input(xp, x, xhat, d, tuple(range(1, x.ndim)), eps)


# --- ops ------------------------------------------------------------------------------------------


def _ints(expr: TensorFunction, first: int) -> list[int]:
    return [int(a) for a in expr.args[first:]]


def _geometry(stride: int, padding: int) -> str:
    """The subscript of a strided or padded op: s = 2, p = 1 (nothing for stride 1, no padding)."""
    parts = ([f"s={stride}"] if stride != 1 else []) + ([f"p={padding}"] if padding else [])
    return "_{%s}" % r",\,".join(parts) if parts else ""


def _columns(printer, a, k: int, stride: int, padding: int) -> str:
    """im2col of a conv's input, as code: a named value the forward conv and the kernel gradient
    share where the printer collects such prerequisites (the code generator does), else inline."""
    code = "im2col(xp, %s, %d, %d, %d)" % (printer._print(a), k, stride, padding)
    share = getattr(printer, "prerequisite", None)
    if share is None or not a.is_Symbol:
        return code
    return share(f"columns_{a.name}", code)


# --- entries (the per-unit forms the checks expand a tensor graph with) ---------------------------


def _whole(*args) -> list[int]:
    return [int(a) for a in args]


class MaxGate(sympy.Function):
    """max(a, b) of a max-pooling window written out, with max pooling's rule for ties: the
    gradient goes to the first argument where they are equal ([a >= b] and [b > a]), as the
    tensor form routes it to the first maximum of the window (SymPy's Max splits it in halves
    and sorts its arguments, which would lose which one is first)."""

    nargs = 2
    kinks: ClassVar[tuple[float, ...]] = (0.0,)  # where the two tie

    def fdiff(self, argindex=1):
        a, b = self.args
        return sympy.Heaviside(a - b, 1) if argindex == 1 else sympy.Heaviside(b - a, 0)

    def _eval_is_real(self):
        return True

    def _latex(self, printer, exp=None):
        text = r"\max\left(%s, %s\right)" % tuple(printer._print(a) for a in self.args)
        return f"{text}^{{{exp}}}" if exp else text


def _window(ctx, pool: TensorFunction, k: tuple) -> list:
    """The entries of a pooling op's input in the window of output entry k = (c, i, j), row-major."""
    a, size, stride = pool.args[0], *_whole(*pool.args[1:3])
    c, row, column = k
    return [ctx.component(a, (c, stride * row + u, stride * column + v)) for u in range(size) for v in range(size)]


def _pairwise_max(ctx, label: str, cells: list):
    """max of a window as a tree of two-argument max gates in row-major order, each inner one a
    node of its own (``ctx.shared``): each gate's derivative is one step function (ties to the
    first), where SymPy's Max of many arguments (which flattens nested ones) compares every pair
    of them."""
    level = 0
    while len(cells) > 2:
        pairs = [
            ctx.shared(f"{label}_{level}_{i}", lambda i=i: MaxGate(cells[i], cells[i + 1]))
            for i in range(0, len(cells) - 1, 2)
        ]
        cells = pairs + ([cells[-1]] if len(cells) % 2 else [])
        level += 1
    return MaxGate(*cells) if len(cells) == 2 else cells[0]


def _normalised_entry(ctx, label, value, group, eps):
    """(x - mean) / sqrt(var + eps) of one entry over its group (biased variance, as PyTorch); the
    group's mean and variance are nodes of their own (``ctx.shared``), named by ``label``."""
    n = len(group)
    mean = ctx.shared(f"mean_{label}", lambda: sympy.Add(*group) / n)
    var = ctx.shared(f"var_{label}", lambda: sympy.Add(*((g - mean) ** 2 for g in group)) / n)
    return (value - mean) / sympy.sqrt(var + eps)


class Conv2d(TensorFunction):
    """conv(a, W): kernels W (F, C, k, k) cross-correlated with one example's map a (C, H, W).

    Arguments: W, a, k, stride, padding, H, W_in (the input's height and width, which the
    backward rule crops to)."""

    nargs = 7
    kernel = staticmethod(conv2d)  # its source brings im2col and conv2d_columns, which the code calls

    def vjp(self, argindex, ct):
        W, a, k, s, p, h, w = self.args
        if argindex == 0:
            return Conv2dWeight(ct, a, k, s, p)
        return Conv2dInput(W, ct, k, s, p, h, w)

    def units(self, ctx, k, j=None):
        """z_{f,i,j} = sum_{c,u,v} W_{f,c,u,v} a_{c, s i + u - p, s j + v - p} (zero padding)."""
        W, a, size, s, p, h, w = self.args
        size, s, p, h, w = _whole(size, s, p, h, w)
        f, row, column = k
        terms = []
        for c in range(ctx.shape(W)[1]):
            for u in range(size):
                for v in range(size):
                    r, q = s * row + u - p, s * column + v - p
                    if 0 <= r < h and 0 <= q < w:
                        terms.append(ctx.entry(W, (f, c, u, v)) * ctx.component(a, (c, r, q)))
        return sympy.Add(*terms)

    def index_form(self, ctx, k, j=None):
        """The same with the sums written out (entries of a outside the map are the zero padding)."""
        W, a, size, s, p, _, _ = self.args
        size, s, p = _whole(size, s, p)
        f, row, column = k
        c, u, v = ctx.index("c"), ctx.index("u"), ctx.index("v")
        term = ctx.entry(W, (f, c, u, v)) * ctx.component(a, (c, s * row + u - p, s * column + v - p))
        return sympy.Sum(term, (v, 0, size - 1), (u, 0, size - 1), (c, 0, ctx.shape(W)[1] - 1))

    def _latex(self, printer, exp=None):
        W, a, _, s, p, _, _ = self.args
        return r"\operatorname{conv}%s\left(%s, %s\right)" % (
            _geometry(int(s), int(p)),
            printer._print(a),
            printer._print(W),
        )

    def _arraycode(self, printer):
        W, a, k, s, p, h, w = self.args
        columns = _columns(printer, a, int(k), int(s), int(p))
        ho, wo = (int(h) + 2 * int(p) - int(k)) // int(s) + 1, (int(w) + 2 * int(p) - int(k)) // int(s) + 1
        return "conv2d_columns(xp, %s, %s, %d, %d)" % (columns, printer._print(W), ho, wo)


class Conv2dInput(TensorFunction):
    """conv_full(delta, rot180(W)): the error term of a convolution's input."""

    nargs = 7
    kernel = staticmethod(conv2d_input)

    def index_form(self, ctx, k, j=None):
        """d_{c,r,q} = sum_{f,u,v} W_{f,c,u,v} delta_{f,r+p-u,q+p-v}: the full convolution with the
        kernel rotated by 180 degrees, delta zero outside its map (stride 1; a stride spreads delta
        out first, which the tensor form says)."""
        W, d, size, s, p, _, _ = self.args
        size, s, p = _whole(size, s, p)
        if s != 1:
            raise NotImplementedError("a strided convolution's input error term in index form")
        c, row, column = k
        f, u, v = ctx.index("f"), ctx.index("u"), ctx.index("v")
        term = ctx.entry(W, (f, c, u, v)) * ctx.component(d, (f, row + p - u, column + p - v))
        return sympy.Sum(term, (v, 0, size - 1), (u, 0, size - 1), (f, 0, ctx.shape(W)[0] - 1))

    def _latex(self, printer, exp=None):
        W, d, _, s, p, _, _ = self.args
        sub = _geometry(int(s), int(p))
        sub = r"_{\mathrm{full}" + (r",\," + sub[2:-1] if sub else "") + "}"
        return r"\operatorname{conv}%s\left(%s, \operatorname{rot180}\left(%s\right)\right)" % (
            sub,
            printer._print(d),
            printer._print(W),
        )

    def _arraycode(self, printer):
        W, d, _, s, p, h, w = self.args
        return "conv2d_input(xp, %s, %s, %d, %d, %d, %d)" % (
            printer._print(d),
            printer._print(W),
            int(s),
            int(p),
            int(h),
            int(w),
        )


class Conv2dWeight(TensorFunction):
    """(1/m) sum_i conv(a_i, delta_i): the gradient of a convolution's kernels."""

    nargs = 5
    batch_reduces = True
    kernel = staticmethod(conv2d_weight_sum)  # brings im2col and conv2d_weight_columns

    def index_form(self, ctx, k, j=None):
        """One example's sum_{i,j} delta_{f,i,j} a_{c, s i + u - p, s j + v - p}: each kernel entry
        meets every position of the map."""
        d, a, _, s, p = self.args
        s, p = _whole(s, p)
        f, c, u, v = k
        row, column = ctx.index("i"), ctx.index("j")
        _, ho, wo = ctx.shape(d)
        term = ctx.component(d, (f, row, column)) * ctx.component(a, (c, s * row + u - p, s * column + v - p))
        return sympy.Sum(term, (column, 0, wo - 1), (row, 0, ho - 1))

    def _latex(self, printer, exp=None):
        d, a, _, s, p = self.args
        return r"\frac{1}{m} \sum_{i=1}^{m} \operatorname{conv}%s\left(%s, %s\right)" % (
            _geometry(int(s), int(p)),
            printer._print(a),
            printer._print(d),
        )

    def _sumcode(self, printer):
        d, a, k, s, p = self.args
        columns = _columns(printer, a, int(k), int(s), int(p))
        return "conv2d_weight_columns(xp, %s, %s, %d)" % (columns, printer._print(d), int(k))

    def _arraycode(self, printer):
        return "%s / m" % self._sumcode(printer)


class ChannelBias(TensorFunction):
    """A per-channel vector b (F,) broadcast over the positions of a feature map (F, H, W)."""

    nargs = 1

    def vjp(self, argindex, ct):
        return ChannelMean(ct)

    def units(self, ctx, k, j=None):
        return ctx.entry(self.args[0], (k[0],))

    def _latex(self, printer, exp=None):
        return printer._print(self.args[0])

    def _arraycode(self, printer):
        return "xp.reshape(%s, (-1, 1, 1))" % printer._print(self.args[0])


class ChannelMean(TensorFunction):
    """(1/m) sum_i of a feature map summed over its positions: the gradient of a per-channel vector."""

    nargs = 1
    batch_reduces = True

    def index_form(self, ctx, k, j=None):
        """One example's sum of delta over the positions of channel f."""
        d = self.args[0]
        f = k[0] if isinstance(k, tuple) else k
        row, column = ctx.index("i"), ctx.index("j")
        _, ho, wo = ctx.shape(d)
        return sympy.Sum(ctx.component(d, (f, row, column)), (column, 0, wo - 1), (row, 0, ho - 1))

    def _latex(self, printer, exp=None):
        return r"\frac{1}{m} \sum_{i=1}^{m} \sum_{u,v} %s" % printer.parenthesize(self.args[0], 50)

    def _sumcode(self, printer):
        return "xp.sum(%s, axis=(0, 2, 3))" % printer._print(self.args[0])

    def _arraycode(self, printer):
        return "%s / m" % self._sumcode(printer)


class MaxPool2d(TensorFunction):
    """maxpool(a): the maximum of each size x size window, windows a stride apart.

    Arguments: a, size, stride, H, W (the input's height and width)."""

    nargs = 5
    kernel = staticmethod(maxpool2d)
    kinks: ClassVar[tuple[float, ...]] = (0.0,)  # where two entries of a window tie
    tie_gap = staticmethod(maxpool2d_tie_gap)

    def vjp(self, argindex, ct):
        a, size, stride, h, w = self.args
        return MaxPool2dInput(a, self, ct, size, stride)

    def units(self, ctx, k, j=None):
        cells = _window(ctx, self, k)
        return _pairwise_max(ctx, "max_%d_%d_%d_%d" % (ctx.example, *k), cells)

    def index_form(self, ctx, k, j=None):
        cells = _window(ctx, self, k)
        return sympy.Max(*cells, evaluate=False)

    def _latex(self, printer, exp=None):
        a, size, stride = self.args[:3]
        sub = f"{int(size)}" + (f",\\,s={int(stride)}" if stride != size else "")
        return r"\operatorname{maxpool}_{%s}\left(%s\right)" % (sub, printer._print(a))

    def _arraycode(self, printer):
        a, size, stride = self.args[:3]
        return "maxpool2d(xp, %s, %d, %d)" % (printer._print(a), int(size), int(stride))


class WindowMax(sympy.Function):
    """[a = y]: 1 where an entry a is the maximum y of its pooling window, else 0 (max pooling's
    routing entry by entry, as the teaching material writes it; the documents print it, nothing
    computes with it: where entries tie, the tensor form sends delta to the first of them)."""

    nargs = 2

    def _eval_is_real(self):
        return True

    def _latex(self, printer, exp=None):
        text = r"\left[%s = %s\right]" % tuple(printer._print(a) for a in self.args)
        return f"{text}^{{{exp}}}" if exp else text


class MaxPool2dInput(TensorFunction):
    """delta routed to each window's arg-max: the error term of max pooling's input."""

    nargs = 5
    kernel = staticmethod(maxpool2d_input)

    def index_form(self, ctx, k, j=None):
        """d_{c,i,j} = [a_{c,i,j} = y_{c,p,q}] delta_{c,p,q} with (p, q) = (floor(i/s), floor(j/s)),
        the window of entry (i, j); windows that overlap (a stride below the size) have no such
        one-window form."""
        a, y, d, size, stride = self.args
        size, stride = _whole(size, stride)
        if stride != size:
            raise NotImplementedError("max pooling with overlapping windows in index form")
        c, row, column = k
        window = (c, sympy.floor(row / size), sympy.floor(column / size))
        return WindowMax(ctx.component(a, k), ctx.component(y, window)) * ctx.component(d, window)

    def _latex(self, printer, exp=None):
        a, _, d = self.args[:3]
        return r"\operatorname{route}_{\max}\left(%s; %s\right)" % (printer._print(d), printer._print(a))

    def _arraycode(self, printer):
        a, y, d, size, stride = self.args
        return "maxpool2d_input(xp, %s, %s, %s, %d, %d)" % (
            printer._print(a),
            printer._print(y),
            printer._print(d),
            int(size),
            int(stride),
        )


class AvgPool2d(TensorFunction):
    """avgpool(a): the mean of each size x size window. Arguments: a, size, stride, H, W."""

    nargs = 5
    kernel = staticmethod(avgpool2d)

    def vjp(self, argindex, ct):
        _, size, stride, h, w = self.args
        return AvgPool2dInput(ct, size, stride, h, w)

    def units(self, ctx, k, j=None):
        cells = _window(ctx, self, k)
        return sympy.Add(*cells) / int(self.args[1]) ** 2

    def index_form(self, ctx, k, j=None):
        a, size, stride = self.args[0], *_whole(*self.args[1:3])
        c, row, column = k
        u, v = ctx.index("u"), ctx.index("v")
        cell = ctx.component(a, (c, stride * row + u, stride * column + v))
        return sympy.Sum(cell, (v, 0, size - 1), (u, 0, size - 1)) / size**2

    def _latex(self, printer, exp=None):
        a, size, stride = self.args[:3]
        sub = f"{int(size)}" + (f",\\,s={int(stride)}" if stride != size else "")
        return r"\operatorname{avgpool}_{%s}\left(%s\right)" % (sub, printer._print(a))

    def _arraycode(self, printer):
        a, size, stride = self.args[:3]
        return "avgpool2d(xp, %s, %d, %d)" % (printer._print(a), int(size), int(stride))


class AvgPool2dInput(TensorFunction):
    """delta spread evenly over each window: the error term of average pooling's input."""

    nargs = 5
    kernel = staticmethod(avgpool2d_input)

    def _latex(self, printer, exp=None):
        d, size = self.args[:2]
        return r"\operatorname{spread}_{%d}\left(%s\right)" % (int(size), printer._print(d))

    def _arraycode(self, printer):
        d, size, stride, h, w = self.args
        return "avgpool2d_input(xp, %s, %d, %d, %d, %d)" % (printer._print(d), int(size), int(stride), int(h), int(w))


class Flatten(TensorFunction):
    """vec(a): a feature map (C, H, W) as one vector of C H W entries, in C order.

    Arguments: a, C, H, W."""

    nargs = 4

    def vjp(self, argindex, ct):
        return Unflatten(ct, *self.args[1:])

    def units(self, ctx, k, j=None):
        _, h, w = _whole(*self.args[1:])
        c, rest = divmod(k, h * w)
        return ctx.component(self.args[0], (c, *divmod(rest, w)))

    def index_form(self, ctx, k, j=None):
        raise NotImplementedError("vec has no index form of its own: its inverse (the error term) has")

    def _latex(self, printer, exp=None):
        return r"\operatorname{vec}\left(%s\right)" % printer._print(self.args[0])

    def _arraycode(self, printer):
        a = printer._print(self.args[0])
        return "xp.reshape(%s, (%s.shape[0], -1))" % (a, a)


class Unflatten(TensorFunction):
    """vec^-1(delta): a vector's error term in the shape (C, H, W) of the map it flattened."""

    nargs = 4

    def units(self, ctx, k, j=None):
        _, h, w = _whole(*self.args[1:])
        c, row, column = k
        return ctx.component(self.args[0], c * h * w + row * w + column)

    def index_form(self, ctx, k, j=None):
        return self.units(ctx, k, j)

    def _latex(self, printer, exp=None):
        c, h, w = _ints(self, 1)
        return r"\operatorname{vec}^{-1}_{%d \times %d \times %d}\left(%s\right)" % (
            c,
            h,
            w,
            printer._print(self.args[0]),
        )

    def _arraycode(self, printer):
        d = printer._print(self.args[0])
        c, h, w = _ints(self, 1)
        return "xp.reshape(%s, (%s.shape[0], %d, %d, %d))" % (d, d, c, h, w)


class BatchNorm(TensorFunction):
    """BN(a) = (a - mu_B) / sqrt(sigma_B^2 + eps): normalised with the batch's statistics (per
    feature, or per channel over the batch and the positions). Arguments: a, eps."""

    nargs = 2
    kernel = staticmethod(batchnorm)

    def vjp(self, argindex, ct):
        a, eps = self.args
        return BatchNormInput(a, self, ct, eps)

    def units(self, ctx, k, j=None):
        """Per feature over the batch; on a feature map per channel over the batch and the positions."""
        a, eps = self.args
        index = k if isinstance(k, tuple) else (k,)
        shape = ctx.shape(a)
        if len(shape) == 1:
            group = [ctx.component_of(a, index, n) for n in range(ctx.m)]
        else:
            group = [
                ctx.component_of(a, (index[0], r, q), n)
                for n in range(ctx.m)
                for r in range(shape[1])
                for q in range(shape[2])
            ]
        return _normalised_entry(ctx, str(index[0]), ctx.component(a, k), group, eps)

    def index_form(self, ctx, k, j=None):
        raise NotImplementedError("normalisation's index form: its statistics are written in words")

    def _latex(self, printer, exp=None):
        return r"\frac{%s - \mu_{B}}{\sqrt{\sigma_{B}^{2} + \epsilon}}" % printer._print(self.args[0])

    def _arraycode(self, printer):
        return "batchnorm(xp, %s, %s)" % (printer._print(self.args[0]), printer._print(self.args[1]))


class BatchNormInput(TensorFunction):
    """The error term of batch norm's input: (delta - mean_B delta - xhat mean_B(delta xhat)) / sigma."""

    nargs = 4
    kernel = staticmethod(batchnorm_input)

    def _latex(self, printer, exp=None):
        _, xhat, d, _ = (printer._print(a) for a in self.args)
        return (
            r"\frac{%s - \operatorname{mean}_{B}\left(%s\right)"
            r" - %s \odot \operatorname{mean}_{B}\left(%s \odot %s\right)}{\sqrt{\sigma_{B}^{2} + \epsilon}}"
        ) % (d, d, xhat, d, xhat)

    def _arraycode(self, printer):
        return "batchnorm_input(xp, %s)" % ", ".join(printer._print(a) for a in self.args)


class LayerNorm(TensorFunction):
    """LN(a) = (a - mu) / sqrt(sigma^2 + eps): normalised with the example's own statistics over
    all its entries. Arguments: a, eps."""

    nargs = 2
    kernel = staticmethod(layernorm)

    def vjp(self, argindex, ct):
        a, eps = self.args
        return LayerNormInput(a, self, ct, eps)

    def units(self, ctx, k, j=None):
        """Over all the entries of the example's own tensor."""
        a, eps = self.args
        group = [ctx.component(a, cell) for cell in itertools.product(*map(range, ctx.shape(a)))]
        return _normalised_entry(ctx, f"example_{ctx.example}", ctx.component(a, k), group, eps)

    def index_form(self, ctx, k, j=None):
        raise NotImplementedError("normalisation's index form: its statistics are written in words")

    def _latex(self, printer, exp=None):
        return r"\frac{%s - \mu}{\sqrt{\sigma^{2} + \epsilon}}" % printer._print(self.args[0])

    def _arraycode(self, printer):
        return "layernorm(xp, %s, %s)" % (printer._print(self.args[0]), printer._print(self.args[1]))


class LayerNormInput(TensorFunction):
    """The error term of layer norm's input: (delta - mean delta - xhat mean(delta xhat)) / sigma."""

    nargs = 4
    kernel = staticmethod(layernorm_input)

    def _latex(self, printer, exp=None):
        _, xhat, d, _ = (printer._print(a) for a in self.args)
        return (
            r"\frac{%s - \operatorname{mean}\left(%s\right) - %s \odot \operatorname{mean}\left(%s \odot %s\right)}"
            r"{\sqrt{\sigma^{2} + \epsilon}}"
        ) % (d, d, xhat, d, xhat)

    def _arraycode(self, printer):
        return "layernorm_input(xp, %s)" % ", ".join(printer._print(a) for a in self.args)


LAYER_CLASSES = (
    Conv2d,
    Conv2dInput,
    Conv2dWeight,
    MaxPool2d,
    MaxPool2dInput,
    AvgPool2d,
    AvgPool2dInput,
    BatchNorm,
    BatchNormInput,
    LayerNorm,
    LayerNormInput,
)
# kernels that the op kernels call (train.py copies them with the ops')
HELPER_KERNELS = (
    zeros_like_shape,
    add2d,
    add_run,
    put2d,
    pad2d,
    window2d,
    im2col,
    conv2d_columns,
    conv2d_weight_columns,
    normalise,
    normalise_input,
)


def kernel_samples(xp, x) -> dict[str, tuple]:
    """Arguments for every kernel of this module around a map x (m, C, H, W) of at least 3 x 3:
    what the registry's table-driven tests call them with (huge values, both dtypes)."""
    c = x.shape[1]
    w = xp.ones((2, c, 3, 3), dtype=x.dtype) / 9
    y = conv2d(xp, x, w, 1, 1)
    pooled = maxpool2d(xp, x, 2, 1)
    xhat = batchnorm(xp, x, 1e-5)
    lhat = layernorm(xp, x, 1e-5)
    h, wd = x.shape[2], x.shape[3]
    axes = (0, 2, 3)
    return {
        "pad2d": (x, 1, -1, 2, 0),
        "zeros_like_shape": ((2, 3), x),
        "add2d": (xp.zeros((x.shape[0], c, 2 * h, 2 * wd), dtype=x.dtype), x, 1, 0, 2),
        "put2d": (xp.zeros((x.shape[0], c, 2 * h, 2 * wd), dtype=x.dtype), x, 1, 0, 2),
        "add_run": (xp.zeros((x.shape[0], c, 2 * h * wd), dtype=x.dtype), xp.reshape(x, (x.shape[0], c, -1)), 1, 2),
        "window2d": (x, 0, 1, 1, h - 1, wd - 1),
        "im2col": (x, 3, 2, 1),
        "conv2d_columns": (im2col(xp, x, 3, 1, 1), w, h, wd),
        "conv2d_weight_columns": (im2col(xp, x, 3, 1, 1), y, 3),
        "conv2d": (x, w, 1, 1),
        "conv2d_weight_sum": (x, y, 3, 1, 1),
        "conv2d_input": (y, w, 1, 1, h, wd),
        "maxpool2d": (x, 2, 1),
        "maxpool2d_input": (x, pooled, pooled, 2, 1),
        "avgpool2d": (x, 2, 1),
        "avgpool2d_input": (pooled, 2, 1, h, wd),
        "normalise": (x, axes, 1e-5),
        "normalise_input": (x, xhat, x, axes, 1e-5),
        "batchnorm": (x, 1e-5),
        "batchnorm_input": (x, xhat, x, 1e-5),
        "layernorm": (x, 1e-5),
        "layernorm_input": (x, lhat, x, 1e-5),
    }


# --- records for the documents ----------------------------------------------------------------------


def _symbols(*names):
    return [sympy.Symbol(n) for n in names]


def _conv_lemma():
    W, a, d = _symbols("W", "a", "delta")
    J = sympy.Symbol("J")
    one = Integer(1)
    return [
        (sympy.Symbol("z"), Conv2d(W, a, one, one, Integer(0), one, one)),
        (sympy.Derivative(J, a), Conv2dInput(W, d, one, one, Integer(0), one, one)),
        (sympy.Derivative(J, W), Conv2dWeight(d, a, one, one, Integer(0))),
    ]


CONV2D = LayerOp(
    "conv2d",
    Text("convolution", "卷积"),
    spellings=("conv", "rot180"),
    lemma=Lemma(
        Text("convolution", "卷积"),
        Text(
            r"With $\delta = \partial J / \partial z$: the input's error term is the full convolution of "
            r"$\delta$ with the kernel rotated by 180 degrees, the kernel's gradient the cross-correlation of "
            r"the input with $\delta$, summed over the batch:",
            r"记 $\delta = \partial J / \partial z$：输入的误差项是 $\delta$ 与旋转 180 度的卷积核的全卷积，"
            r"卷积核的梯度是输入与 $\delta$ 的互相关，对批求和：",
        ),
        _conv_lemma,
    ),
)
MAXPOOL2D = LayerOp("maxpool2d", Text("max pooling", "最大池化"), spellings=("maxpool",))
AVGPOOL2D = LayerOp("avgpool2d", Text("average pooling", "平均池化"), spellings=("avgpool",))
FLATTEN = LayerOp("flatten", Text("flattening", "展平"), spellings=("vec",))
BATCHNORM = LayerOp("batchnorm", Text("batch normalisation", "批归一化"), spellings=("BN",), batch_statistics=True)
LAYERNORM = LayerOp("layernorm", Text("layer normalisation", "层归一化"), spellings=("LN",))
DROPOUT = LayerOp("dropout", Text("dropout (inverted scaling)", "随机失活（反向缩放）"), spellings=("dropout",))
RESIDUAL = LayerOp("residual", Text("residual connection", "残差连接"), spellings=("residual",))
CONV_LAYER_OPS = {
    op.name: op for op in (CONV2D, MAXPOOL2D, AVGPOOL2D, FLATTEN, BATCHNORM, LAYERNORM, DROPOUT, RESIDUAL)
}
