"""Helpers every generated module carries: its source is copied into train.py verbatim.

They are tested here as functions. Keep them self-contained: NumPy as ``np`` and ``math`` are
the only names they may use besides their arguments.
"""

from __future__ import annotations

import inspect
import math

import numpy as np


def array_namespace(*arrays):
    """The array API namespace of the arrays: their own (NumPy 2, JAX, CuPy, array-api-strict),
    array-api-compat's for the libraries that need it (PyTorch), NumPy for Python numbers."""
    for a in arrays:
        get = getattr(a, "__array_namespace__", None)
        if get is not None:
            return get()
    if all(isinstance(a, (int, float, np.generic)) for a in arrays):
        return np
    import array_api_compat  # PyTorch tensors have no namespace of their own

    return array_api_compat.array_namespace(*arrays)


def broadcast_shape(*values):
    """The shape the values broadcast to (() for numbers)."""
    return np.broadcast_shapes(*(tuple(getattr(v, "shape", ())) for v in values))


def unbroadcast(xp, grad, leaf, shape):
    """d mean(objective) / d leaf, in the leaf's shape.

    The graph is evaluated elementwise over the broadcast ``shape`` of all leaves; each element
    counts 1/size in the mean, and a leaf broadcast along an axis collects the sum along it. A
    leaf given as a Python number gets a Python number back.
    """
    size = max(1, math.prod(shape))
    grad = xp.broadcast_to(xp.asarray(grad), tuple(shape)) / size
    leaf_shape = tuple(getattr(leaf, "shape", ()))
    while grad.ndim > len(leaf_shape):
        grad = xp.sum(grad, axis=0)
    for axis, n in enumerate(leaf_shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = xp.sum(grad, axis=axis, keepdims=True)
    return grad if hasattr(leaf, "shape") else float(grad)


HELPERS = {f.__name__: f for f in (array_namespace, broadcast_shape, unbroadcast)}


def helper_source(names) -> str:
    """Source of the named helpers, in a fixed order."""
    return "\n\n".join(inspect.getsource(HELPERS[n]) for n in HELPERS if n in names)
