"""symbackprop: backpropagation derived symbolically, rendered as documents and array-API code.

>>> from symbackprop import load_spec, derive
>>> d = derive(load_spec("fc-3-2-2"))
>>> d.deltas["net_4"]
y_4*(1 - y_4)*(delta_6*w_64 + delta_7*w_74)

Layers, each importing only those below it: ``registry`` (one block per op) -> ``core`` (networks,
specs, notation, the expression parser) -> ``calculus`` (derivation, simplification) ->
``analysis`` (evaluation, consistency, gradient checks) -> ``backends`` (printers, code, documents)
and ``verify`` -> ``api`` and ``cli``.
"""

from __future__ import annotations

from symbackprop.api import Derivation, derive
from symbackprop.core.network import GraphNetwork, LayeredNetwork, NetworkError
from symbackprop.core.spec import SpecError, load_spec, load_spec_text
from symbackprop.registry import real, register_activation

__all__ = [
    "Derivation",
    "GraphNetwork",
    "LayeredNetwork",
    "NetworkError",
    "SpecError",
    "derive",
    "load_spec",
    "load_spec_text",
    "real",
    "register_activation",
]
__version__ = "0.2.0"
