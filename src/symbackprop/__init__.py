"""symbackprop: backpropagation derived symbolically, rendered as documents and array-API code.

>>> from symbackprop import load_spec, derive
>>> d = derive(load_spec("fc-3-2-2"))
>>> d.deltas["net_4"]
y_4*(1 - y_4)*(delta_6*w_64 + delta_7*w_74)

Layers, each importing only those below it: ``registry`` (one block per op) -> ``core`` (networks,
specs, notation, the expression parser) -> ``calculus`` (derivation, simplification) ->
``analysis`` (evaluation, consistency, gradient checks) -> ``backends`` (printers, code, documents)
and ``verify`` -> ``api`` and ``cli``.

The names below are imported on first use (PEP 562): ``import symbackprop.verify.check`` or the
command line's ``verify`` must not pay for Jinja, the printers and the documents that ``derive``
needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers (and the import graph) see; at run time, __getattr__ below
    from symbackprop.api import Derivation, derive
    from symbackprop.core.network import GraphNetwork, LayeredNetwork, NetworkError
    from symbackprop.core.spec import SpecError, load_spec, load_spec_text
    from symbackprop.registry import real, register_activation

_EXPORTS = {
    "Derivation": "symbackprop.api",
    "derive": "symbackprop.api",
    "GraphNetwork": "symbackprop.core.network",
    "LayeredNetwork": "symbackprop.core.network",
    "NetworkError": "symbackprop.core.network",
    "SpecError": "symbackprop.core.spec",
    "load_spec": "symbackprop.core.spec",
    "load_spec_text": "symbackprop.core.spec",
    "real": "symbackprop.registry",
    "register_activation": "symbackprop.registry",
}
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


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'symbackprop' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
