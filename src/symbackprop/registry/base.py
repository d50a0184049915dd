"""The shapes of a registry block: what every activation, loss and function must say about itself.

The registry is the bottom layer of the package: it imports SymPy and nothing of symbackprop, and
every other layer reads it. An op is one block in one module (``activations.py``, ``losses.py``,
``functions.py``, ``tensor.py``): a SymPy class that carries its own calculus and printing hooks,
its array-API kernel, and a record (:class:`Activation`, :class:`Loss`, :class:`MathFunction`)
with what the rest of the package needs: the LaTeX name, the lemma a document derives, the names
a student may write, and the domain the tests and gradient checks draw inputs from.

Kernels are plain Python functions ``kernel(xp, x, ...)`` written against the Python array API
standard (``xp`` is the namespace of the arrays: NumPy, PyTorch through array-api-compat, JAX,
CuPy). They are tested here as functions and copied verbatim into every generated ``train.py``
that uses them, so a generated module depends on NumPy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

import sympy
from sympy import Function, Symbol

LANGUAGES = ("en", "zh")


def real(name: str) -> Symbol:
    """A real symbol: every symbol of a derivation is real, so |y - t| differentiates to sign(y - t)."""
    return Symbol(name, real=True)


@dataclass(frozen=True)
class Text:
    """One sentence or name in every language of the documents."""

    en: str
    zh: str

    def __getitem__(self, lang: str) -> str:
        return getattr(self, lang)


Steps = Callable[[], list[tuple[sympy.Expr | None, sympy.Expr]]]


@dataclass(frozen=True)
class Lemma:
    """A derivative derived step by step, as a document prints it.

    ``steps`` builds (lhs, rhs) pairs of unevaluated SymPy expressions; a None lhs continues the
    line above. ``words`` is the sentence before the steps; ``assumes`` what the steps assume,
    in LaTeX (the verifier reads it: ``\\sum_i t_i = 1``).
    """

    title: Text
    words: Text
    steps: Steps
    assumes: str = ""


@dataclass(frozen=True)
class Domain:
    """Where tests and checks draw an op's inputs, and where its derivative jumps.

    ``kinks`` are the points where the derivative is discontinuous (0 for relu); gradient checks
    sample away from them and verification probes both sides of them.
    """

    low: float = -3.0
    high: float = 3.0
    kinks: tuple[float, ...] = ()


class Elementwise(Function):
    """An elementwise function of one argument with a kernel and a LaTeX name.

    Subclasses set ``latex_name`` and either ``kernel`` (an array-API function ``kernel(xp, x)``)
    or ``definition`` (an expression of ``x`` that code computes inline), and define ``fdiff``
    (the derivative, in terms of the function's own value where that is the textbook form) and
    ``_eval_evalf`` (its value from SymPy's own functions).
    """

    nargs = 1
    latex_name: ClassVar[str] = ""
    kernel: ClassVar[Callable | None] = None

    @classmethod
    def definition(cls, x: sympy.Expr) -> sympy.Expr | None:
        """f(x) from SymPy's functions, for code that has no kernel of its own."""
        return None

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, prec):
        return self.definition(self.args[0])._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        power = f"^{{{exp}}}" if exp else ""
        return r"%s%s\left(%s\right)" % (self.latex_name, power, printer._print(self.args[0]))

    def _numpycode(self, printer):
        """For ``lambdify``: the kernel's name (the evaluation namespace binds it to NumPy), or
        the definition printed inline."""
        if type(self).kernel is None:
            return printer._print(self.definition(self.args[0]))
        return "%s(%s)" % (type(self).kernel.__name__, printer._print(self.args[0]))


@dataclass(frozen=True)
class Activation:
    """An activation function: its SymPy form and everything the other layers need to know.

    ``function`` builds f(z) (elementwise: f applied to each unit; ``vector``: softmax, which
    couples the units of a layer and is only allowed in the output layer). ``unit(k, zs)`` is
    component k of a layer's output in terms of its pre-activations. ``log_output(z)`` and
    ``log_one_minus_output(z, log_y)`` are stable forms of log f(z) and log(1 - f(z)) for losses
    that take logs; ``from_log`` says the code computes f(z) as exp(log f(z)) in that case, which
    costs no more than the plain kernel and shares its work with the loss.
    """

    name: str
    function: Callable[[sympy.Expr], sympy.Expr]
    latex: str
    description: Text
    spellings: tuple[str, ...]
    domain: Domain
    lemma: Lemma | None = None
    output_interval: tuple[float, float] | None = None
    vector: bool = False
    unit_function: Callable[[int, Sequence[sympy.Expr]], sympy.Expr] | None = None
    log_output: Callable[[sympy.Expr], sympy.Expr] | None = None
    log_one_minus_output: Callable[[sympy.Expr, sympy.Expr], sympy.Expr] | None = None
    from_log: bool = False
    xp_name: str | None = None  # a function of the array API computes it (tanh)

    def apply(self, z: sympy.Expr) -> sympy.Expr:
        return self.function(z)

    def unit(self, k: int, zs: Sequence[sympy.Expr]) -> sympy.Expr:
        """Component k of the layer output f(z) in terms of the units' pre-activations zs."""
        if self.unit_function is not None:
            return self.unit_function(k, zs)
        return self.function(zs[k])

    def derivative_in_output(self, y: sympy.Expr, z: sympy.Expr) -> sympy.Expr:
        """f'(z) with the stored output y = f(z) substituted where the rule allows (y (1 - y))."""
        if self.vector:
            raise ValueError(f"{self.name} couples the units of a layer: it has a Jacobian, not a derivative")
        fz = self.function(z)
        return sympy.diff(fz, z).xreplace({fz: y}) if fz != z else sympy.S.One


@dataclass(frozen=True)
class Loss:
    """A loss: the sum over output units of a per-unit term l(y_k, t_k).

    Losses are composed from existing functions, so they need no derivative rule of their own.
    ``targets`` says what a valid target is: ``"one-hot"`` (rows sum to one, which is what gives
    softmax + cross-entropy its y - t), ``"unit"`` (each in [0, 1]) or ``"real"``.
    ``pair_lemmas`` derive the collapse with an output activation (softmax + cross-entropy).
    ``textbook_delta`` is how a textbook writes the output error term with this loss in layer
    notation, where it has its own form (UFLDL's sign for the squared error); a sentence ending
    in a display that the verifier reads.
    """

    name: str
    term: Callable[[sympy.Expr, sympy.Expr], sympy.Expr]
    title: Text
    targets: str
    spellings: tuple[str, ...] = ()
    lemma: Lemma | None = None
    needs_unit_interval: bool = False
    pair_lemmas: dict[str, Lemma] | None = None
    domain: Domain = Domain()
    textbook_delta: Text | None = None

    @property
    def targets_sum_to_one(self) -> bool:
        return self.targets == "one-hot"


@dataclass(frozen=True)
class MathFunction:
    """A function a spec expression may call (exp, log, max, ...) and how code computes it.

    ``code`` is the name of the array-API function (``xp.exp``) or a kernel function
    ``kernel(xp, x)``; ``fold`` marks binary functions of several arguments (max of three is
    maximum(maximum(a, b), c)).
    """

    name: str
    function: Callable[..., sympy.Expr]
    sympy_class: type
    spellings: tuple[str, ...]
    code: str | Callable
    min_args: int = 1
    max_args: int | None = 1
    fold: bool = False
    domain: Domain = Domain()
    commands: tuple[str, ...] = ()  # LaTeX's own commands for it (\exp, \ln): a student may write them
