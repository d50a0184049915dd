"""How a name the user chose prints in LaTeX when the notation does not name it.

A multi-letter name is a word (``dot``, ``grad``) and prints upright, ``\\mathrm{dot}``, as
formulas set words; one letter (``x``) and Greek letter names (``eta``, which SymPy prints
``\\eta``) stay as SymPy prints them. Digits and ``_`` start the subscript (``p0`` is
``p_{0}``). Both the derivation's own names (calculus) and the document printer (backends) use
this, so a node is written the same way everywhere.
"""

from __future__ import annotations

from sympy.printing.conventions import split_super_sub
from sympy.printing.latex import greek_letters_set

_SYMBOLS_SYMPY_NAMES = {"hbar", "ell", "aleph", "beth", "nabla", "infty", "partial"}

# TeX's Greek letter commands (and \ell): what a formula may write as \name and is a letter, for
# the verifier's vocabulary and the diagrams' width estimates alike.
GREEK_COMMANDS = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi varpi rho "
    "varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi "
    "Psi Omega ell".split()
)


def upright_base(name: str) -> str | None:
    """The word of a multi-letter name that should print upright, or None."""
    base = split_super_sub(name)[0]
    if len(base) < 2 or not base.isalpha():
        return None
    if base.lower() in greek_letters_set or base in _SYMBOLS_SYMPY_NAMES:
        return None
    return base


def with_upright_base(name: str, printed: str) -> str:
    """SymPy's LaTeX of a symbol named ``name`` with its word set upright where it should be."""
    base = upright_base(name)
    if base is None or not printed.startswith(base):
        return printed
    return r"\mathrm{%s}" % base + printed[len(base) :]
