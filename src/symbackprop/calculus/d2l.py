"""d2l's backward pass (Dive into Deep Learning, section 5.3.3), step by step in its order.

d2l differentiates the objective J = L + s of its one-hidden-layer network (z = W^(1) x,
h = phi(z), o = W^(2) h, L = l(o, y), s = (lambda/2)(||W^(1)||_F^2 + ||W^(2)||_F^2)) from the
top of the computational graph down, writing every chain-rule product as prod(A, B): multiply
A and B after whatever transposing and swapping of inputs makes their shapes fit. Its order:

  dJ/dL = 1, dJ/ds = 1;  dJ/do = prod(dJ/dL, dL/do);  ds/dW^(1) = lambda W^(1), ds/dW^(2) = lambda W^(2);
  dJ/dW^(2) = prod(dJ/do, do/dW^(2)) + prod(dJ/ds, ds/dW^(2)) = dJ/do h^T + lambda W^(2);
  dJ/dh = prod(dJ/do, do/dh) = W^(2)^T dJ/do;  dJ/dz = prod(dJ/dh, dh/dz) = dJ/dh (.) phi'(z);
  dJ/dW^(1) = prod(dJ/dz, dz/dW^(1)) + prod(dJ/ds, ds/dW^(1)) = dJ/dz x^T + lambda W^(1).

Every result here is read off the engine's own tensor derivation (the error terms dJ/do and dJ/dz,
the gradients): nothing is typed in, so a different loss or activation gives its own results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy
from sympy import Symbol

from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.registry import MatTVec


@dataclass(frozen=True)
class BackwardStep:
    """One line of d2l's backward pass: lhs = sum of prod(a, b) = rhs (in the network's names)."""

    lhs: Symbol
    prods: tuple[tuple[Symbol, Symbol], ...]  # d2l's prod(A, B) terms; empty for dJ/dL = 1
    rhs: sympy.Expr
    quantity: str  # what it is: "objective-terms", "output", "decay", "weight", "hidden-output", "hidden"


@dataclass(frozen=True)
class D2lBackward:
    """d2l's backward pass and the LaTeX names of the partial derivatives it writes (dL/do, ...)."""

    steps: list[BackwardStep]
    latex: dict[Symbol, str] = field(default_factory=dict)
    vectors: frozenset[Symbol] = frozenset()  # new layer vectors (dJ/dh): their products are elementwise


def _partial(latex: dict[Symbol, str], of: Symbol, wrt: Symbol, names) -> Symbol:
    """The symbol d(of)/d(wrt), named d_<of>_d_<wrt> so it never meets an engine symbol."""
    s = Symbol(f"d_{of.name}_d_{wrt.name}", real=True)
    tex = names.latex
    latex[s] = rf"\frac{{\partial {tex.get(of, of.name)}}}{{\partial {tex.get(wrt, wrt.name)}}}"
    return s


def d2l_backward(derivation: LayeredDerivation) -> D2lBackward | None:
    """The steps of d2l's backward pass for a network in d2l notation (else None)."""
    names, net = derivation.names, derivation.network
    if not names.d2l or not net.weight_decay:
        return None
    tensor = {(eq.kind, eq.target): eq for eq in derivation.tensor_equations}
    J, L, s = names.objective(), names.data_loss(), names.regularisation()
    z, h, o = names.net_vec(2), names.out_vec(2), names.net_vec(3)
    W1, W2 = names.matrix(1), names.matrix(2)
    dz, do = names.delta_vec(2), names.delta_vec(3)
    lam = names.weight_decay()
    latex: dict[Symbol, str] = {}
    d = lambda of, wrt: _partial(latex, of, wrt, names)  # noqa: E731
    dJdL, dJds, dJdh = d(J, L), d(J, s), d(J, h)

    def decay(W: Symbol) -> sympy.Expr:
        """ds/dW: the gradient's terms that come from the weight-decay term."""
        return sympy.Add(*(t for t in sympy.Add.make_args(tensor["gradient", W].rhs) if t.has(lam)))

    backward_h = MatTVec(W2, do)  # z^(3) = W^(2) h: dJ/dh = W^(2)^T dJ/do, h feeding o only
    delta_z = tensor["delta", z].rhs
    if not delta_z.has(backward_h):
        return None  # the engine's dJ/dz is not dJ/dh times phi'(z): not d2l's network
    steps = [
        BackwardStep(dJdL, (), sympy.S.One, "objective-terms"),
        BackwardStep(dJds, (), sympy.S.One, "objective-terms"),
        BackwardStep(do, ((dJdL, d(L, o)),), tensor["delta", o].rhs, "output"),
        BackwardStep(d(s, W1), (), decay(W1), "decay"),
        BackwardStep(d(s, W2), (), decay(W2), "decay"),
        BackwardStep(names.gradient(J, W2), ((do, d(o, W2)), (dJds, d(s, W2))), tensor["gradient", W2].rhs, "weight"),
        BackwardStep(dJdh, ((do, d(o, h)),), backward_h, "hidden-output"),
        BackwardStep(dz, ((dJdh, d(h, z)),), delta_z.xreplace({backward_h: dJdh}), "hidden"),
        BackwardStep(names.gradient(J, W1), ((dz, d(z, W1)), (dJds, d(s, W1))), tensor["gradient", W1].rhs, "weight"),
    ]
    return D2lBackward(steps, latex, frozenset({dJdh}))
