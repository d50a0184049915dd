"""Functions of expressions (exp, log, max, ...), one block each: the SymPy builder, how code
computes it, and the names a spec or a student may write.

``code`` is the array-API name (``xp.exp``) or a kernel written here against the array API.
Every elementwise activation is callable in expressions too; :mod:`symbackprop.registry` joins
both tables into ``EXPRESSION_FUNCTIONS``.
"""

from __future__ import annotations

import sympy

from symbackprop.registry.base import Domain, MathFunction

FUNCTIONS: dict[str, MathFunction] = {}


def register(function: MathFunction) -> MathFunction:
    FUNCTIONS[function.name] = function
    return function


register(MathFunction("exp", sympy.exp, sympy.exp, ("exp",), "exp", domain=Domain(-3.0, 3.0), commands=("exp",)))
register(
    MathFunction("log", sympy.log, sympy.log, ("log", "ln"), "log", domain=Domain(0.1, 3.0), commands=("log", "ln"))
)
register(MathFunction("sqrt", sympy.sqrt, sympy.Pow, ("sqrt",), "sqrt", domain=Domain(0.1, 3.0), commands=("sqrt",)))
register(MathFunction("abs", sympy.Abs, sympy.Abs, ("abs",), "abs", domain=Domain(kinks=(0.0,))))
register(
    MathFunction(
        "sign", sympy.sign, sympy.sign, ("sign", "sgn"), "sign", domain=Domain(kinks=(0.0,)), commands=("sgn",)
    )
)


def _max(*args):
    return sympy.Max(*args)


def _min(*args):
    return sympy.Min(*args)


# A tie splits the gradient: d max(a, b)/da = H(a - b) with H(0) = 1/2 (SymPy's Heaviside), so at
# a = b each argument gets half; the documents say so.
register(
    MathFunction(
        "max", _max, sympy.Max, ("max",), "maximum", 2, None, fold=True, domain=Domain(kinks=(0.0,)), commands=("max",)
    )
)
register(
    MathFunction(
        "min", _min, sympy.Min, ("min",), "minimum", 2, None, fold=True, domain=Domain(kinks=(0.0,)), commands=("min",)
    )
)


# --- erf --------------------------------------------------------------------------------------
def erf(xp, x):
    """The error function by W. J. Cody's rational approximations (Math. Comp. 23, 1969).

    Three ranges of |x|, each a ratio of polynomials: erf itself below 0.46875, then
    erfc(|x|) = exp(-x^2) R(|x|) up to 4 and exp(-x^2) (1/sqrt(pi) - R(1/x^2)/x^2) / |x| beyond.
    Accurate to about 1e-16 in float64; every branch runs on clamped inputs, so no branch
    overflows or divides by zero for any x.
    """
    y = xp.abs(x)
    # |x| <= 0.46875: erf(x) = x P(x^2) / Q(x^2)
    small = xp.minimum(y, 0.46875)
    s = small * small
    num = 0.185777706184603153 * s
    den = s
    for p, q in ((3.1611237438705656, 23.6012909523441209), (113.864154151050156, 244.024637934444173)):
        num = (num + p) * s
        den = (den + q) * s
    num = (num + 377.485237685302021) * s
    den = (den + 1282.61652607737228) * s
    inner = (num + 3209.37758913846947) / (den + 2844.23683343917062)
    # 0.46875 < |x| <= 4: erfc(y) = exp(-y^2) P(y) / Q(y)
    mid = xp.clip(y, 0.46875, 4.0)
    num = 2.15311535474403846e-8 * mid
    den = mid
    for p, q in (
        (0.564188496988670089, 15.7449261107098347),
        (8.88314979438837594, 117.693950891312499),
        (66.1191906371416295, 537.181101862009858),
        (298.635138197400131, 1621.38957456669019),
        (881.95222124176909, 3290.79923573345963),
        (1712.04761263407058, 4362.61909014324716),
        (2051.07837782607147, 3439.36767414372164),
    ):
        num = (num + p) * mid
        den = (den + q) * mid
    erfc_mid = xp.exp(-mid * mid) * (num + 1230.33935479799725) / (den + 1230.33935480374942)
    # |x| > 4: erfc(y) = exp(-y^2) (1/sqrt(pi) - z P(z) / Q(z)) / y with z = 1/y^2
    big = xp.clip(y, 4.0, 30.0)  # beyond 27, erfc underflows to 0 in float64
    z = 1.0 / (big * big)
    num = 0.0163153871373020978 * z
    den = z
    for p, q in (
        (0.305326634961232344, 2.56852019228982242),
        (0.360344899949804439, 1.87295284992346047),
        (0.125781726111229246, 0.527905102951428412),
        (0.0160837851487422766, 0.0605183413124413191),
    ):
        num = (num + p) * z
        den = (den + q) * z
    tail = z * (num + 6.58749161529837803e-4) / (den + 2.33520497626869185e-3)
    erfc_big = xp.exp(-big * big) * (0.56418958354775628695 - tail) / big
    erfc = xp.where(y <= 4.0, erfc_mid, erfc_big)
    magnitude = xp.where(y <= 0.46875, small * inner, 1.0 - erfc)
    return xp.where(x < 0, -magnitude, magnitude)


register(MathFunction("erf", sympy.erf, sympy.erf, ("erf", "operatorname{erf}"), erf, domain=Domain(-3.0, 3.0)))
