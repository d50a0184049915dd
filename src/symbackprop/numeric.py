"""Numerically stable NumPy kernels shared by generated code and the checks.

Each function here is copied verbatim (``inspect.getsource``) into every generated
``train.py`` that uses it, so generated code depends on NumPy alone while the package
keeps a single implementation. Keep them self-contained: NumPy as ``np``, no other names.
"""

from __future__ import annotations

import inspect

import numpy as np


def sigmoid(x):
    """Logistic function; never evaluates exp of a positive number."""
    e = np.exp(-np.abs(x))
    return np.where(np.asarray(x) >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x):
    """log(1 + exp(x)) without overflow."""
    return np.logaddexp(0.0, x)


def relu(x):
    """max(x, 0)."""
    return np.maximum(x, 0.0)


def leaky_relu(x):
    """x for x > 0, 0.01 x otherwise."""
    return np.where(np.asarray(x) > 0, x, 0.01 * np.asarray(x))


def elu(x):
    """x for x > 0, exp(x) - 1 otherwise (alpha = 1); exp of non-positive numbers only."""
    return np.where(np.asarray(x) > 0, x, np.expm1(np.minimum(x, 0.0)))


def unit_step(x):
    """Heaviside step [x > 0] as a float: the derivative of relu."""
    return np.where(np.asarray(x) > 0, 1.0, 0.0)


def softmax(z):
    """Row-wise softmax of a (batch, units) array, shifted by the row maximum."""
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(z):
    """Row-wise log softmax by the log-sum-exp trick."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def softmax_component(i, *z):
    """Component i of the softmax of scalars (or broadcast arrays) z_0, ..., z_n."""
    top = np.maximum.reduce([np.asarray(v, dtype=float) for v in z])
    e = [np.exp(v - top) for v in z]
    return e[i] / sum(e)


def unbroadcast(grad, shape, leaf_shape):
    """d mean(objective) / d leaf, in the leaf's shape.

    The graph is evaluated elementwise over the broadcast ``shape`` of all leaves; each
    element counts 1/size in the mean, and a leaf broadcast along an axis collects the
    sum along it.
    """
    count = max(1, int(np.prod(shape)))
    g = np.broadcast_to(np.asarray(grad, dtype=float), shape) / count
    while g.ndim > len(leaf_shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(leaf_shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g if leaf_shape else float(g)


HELPERS = {
    f.__name__: f
    for f in (
        sigmoid,
        softplus,
        relu,
        leaky_relu,
        elu,
        unit_step,
        softmax,
        log_softmax,
        softmax_component,
        unbroadcast,
    )
}


def helper_source(names: set[str] | list[str]) -> str:
    """Source of the named helpers, in a fixed order, for inclusion in generated code."""
    return "\n\n".join(inspect.getsource(HELPERS[n]) for n in HELPERS if n in names)
