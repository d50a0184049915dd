"""Helpers every generated module carries: its source is copied into train.py verbatim.

They are tested here as functions. Keep them self-contained: NumPy as ``np`` and ``math`` are
the only names they may use besides their arguments.
"""

from __future__ import annotations

import inspect
import math
import types

import numpy as np

# NumPy as an array API namespace, its reductions taken straight from the ufuncs: np.sum
# and np.max are np.add.reduce and np.maximum.reduce behind argument handling in Python
# that costs more than the work on small arrays. Same numbers, bit for bit.
NUMPY = types.SimpleNamespace(**vars(np))
NUMPY.sum = np.add.reduce
NUMPY.max = np.maximum.reduce
NUMPY.reshape = np.ndarray.reshape


def array_namespace(*arrays):
    """The array API namespace of the arrays: NumPy's for NumPy arrays and Python numbers, their
    own for JAX, CuPy and array-api-strict, array-api-compat's for PyTorch."""
    for a in arrays:
        if type(a) is np.ndarray:
            return NUMPY
        get = getattr(a, "__array_namespace__", None)
        if get is not None:
            return get()
    if all(isinstance(a, (int, float, np.generic)) for a in arrays):
        return NUMPY
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
    """Source of the named helpers, in a fixed order, with what they need defined before them."""
    parts = []
    if "array_namespace" in names:
        start = _SOURCE.index("# NumPy as an array API")
        parts.append(_SOURCE[start : _SOURCE.index("def array_namespace")].rstrip() + "\n")
    parts += [inspect.getsource(HELPERS[n]) for n in HELPERS if n in names]
    return "\n\n".join(parts)


_SOURCE = inspect.getsource(inspect.getmodule(array_namespace))
