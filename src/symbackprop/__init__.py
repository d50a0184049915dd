"""symbackprop: backpropagation derived symbolically, rendered as documents and NumPy code.

>>> from symbackprop import load_spec, derive
>>> d = derive(load_spec("fc-3-2-2"))
>>> d.deltas["net_4"]
y_4*(1 - y_4)*(delta_6*w_64 + delta_7*w_74)
"""

from __future__ import annotations

from symbackprop.derive import GraphDerivation, derive_graph
from symbackprop.layered import LayeredDerivation
from symbackprop.network import GraphNetwork, LayeredNetwork, NetworkError
from symbackprop.spec import SpecError, load_spec, load_spec_text

__all__ = [
    "GraphDerivation",
    "GraphNetwork",
    "LayeredDerivation",
    "LayeredNetwork",
    "NetworkError",
    "SpecError",
    "derive",
    "load_spec",
    "load_spec_text",
]
__version__ = "0.1.0"


def derive(network: GraphNetwork | LayeredNetwork) -> GraphDerivation | LayeredDerivation:
    """Derive error terms, gradients and updates of a network (see :mod:`symbackprop.derive`)."""
    if isinstance(network, LayeredNetwork):
        return LayeredDerivation(network)
    return derive_graph(network)
