"""Activation functions, one block each: SymPy class, kernel, derivative, lemma, record.

Each elementwise activation is a :class:`~symbackprop.registry.base.Elementwise` subclass whose
``fdiff`` is the derivative in terms of the function's own value where that is the textbook form
(sigma' = sigma (1 - sigma)); the derivation engine replaces that value by the stored forward
value, so no exp() survives in an error term. The kernel is the numerically stable array-API form
the generated code calls; the record (:class:`~symbackprop.registry.base.Activation`) adds the
LaTeX name, the lemma, the names a student may write and the domain tests draw from.

Adding an activation means adding one block here (or calling
:func:`symbackprop.registry.register_activation` from Python); nothing else names one.
"""

from __future__ import annotations

from typing import Sequence

import sympy
from sympy import Heaviside, Piecewise, Rational, S

from symbackprop.registry.base import Activation, Domain, Elementwise, Lemma, Text, real
from symbackprop.registry.functions import erf
from symbackprop.registry.tensor import TensorFunction, UnitSum

ACTIVATIONS: dict[str, Activation] = {}


def register(activation: Activation) -> Activation:
    ACTIVATIONS[activation.name] = activation
    return activation


def _u(op, *args):
    """An unevaluated operation, so that a lemma prints each step as written."""
    return op(*args, evaluate=False)


def _frac(num, den):
    """num/den kept as one fraction inside a product (not merged with its neighbours)."""
    inverse = _u(sympy.Pow, den, -1)
    return sympy.UnevaluatedExpr(inverse if num == 1 else _u(sympy.Mul, num, inverse))


X = real("x")


# --- identity ---------------------------------------------------------------------------------
class _Identity(sympy.Function):
    """id(x), for the lemma only: the network itself uses the pre-activation as its output."""

    def _latex(self, printer, exp=None):
        return r"\operatorname{id}\left(%s\right)" % printer._print(self.args[0])


register(
    Activation(
        name="identity",
        function=lambda z: z,
        latex=r"\operatorname{id}",
        description=Text("identity", "恒等函数"),
        spellings=("id", "identity"),
        domain=Domain(),
        lemma=Lemma(
            Text("identity", "恒等函数"),
            Text("The output is the weighted input itself:", "输出就是加权输入本身："),
            lambda: [(_Identity(X), X), (sympy.Derivative(_Identity(X), X), S.One)],
        ),
    )
)


# --- sigmoid ----------------------------------------------------------------------------------
def sigmoid(xp, x):
    """Logistic function as 1/2 + tanh(x/2)/2: never overflows, no slower than 1/(1 + e^-x)."""
    return 0.5 + 0.5 * xp.tanh(0.5 * x)


class Sigmoid(Elementwise):
    """Logistic sigmoid; derivative sigma (1 - sigma)."""

    latex_name = r"\sigma"
    kernel = staticmethod(sigmoid)

    @classmethod
    def definition(cls, x):
        return 1 / (1 + sympy.exp(-x))

    def fdiff(self, argindex=1):
        return self * (1 - self)


def _sigmoid_lemma():
    e = sympy.exp(-X)
    den = _u(sympy.Add, S.One, e)
    return [
        (Sigmoid(X), 1 / den),
        (sympy.Derivative(Sigmoid(X), X), _u(sympy.Mul, e, _u(sympy.Pow, den, -2))),
        (None, _u(sympy.Mul, _frac(_u(sympy.Add, S.One, e, S.NegativeOne), den), _frac(S.One, den))),
        (None, _u(sympy.Mul, _u(sympy.Add, S.One, -_frac(S.One, den)), _frac(S.One, den))),
        (None, _u(sympy.Mul, 1 - Sigmoid(X), Sigmoid(X))),
    ]


def _softplus_of(z):
    return Softplus(z)


register(
    Activation(
        name="sigmoid",
        function=Sigmoid,
        latex=r"\sigma",
        description=Text("sigmoid", "S 型函数（sigmoid）"),
        spellings=("sigma", "sigmoid"),
        domain=Domain(-4.0, 4.0),
        lemma=Lemma(
            Text("sigmoid", "sigmoid 函数"),
            Text(
                "Adding and subtracting 1 in the numerator writes the derivative in the function's own value:",
                "在分子上加 1 再减 1，导数就写成函数值本身：",
            ),
            _sigmoid_lemma,
        ),
        output_interval=(0.0, 1.0),
        log_output=lambda z: -_softplus_of(-z),
        log_one_minus_output=lambda z, log_y: log_y - z,
        from_log=True,
    )
)


# --- tanh -------------------------------------------------------------------------------------
def _tanh_lemma():
    ep, em = sympy.exp(X), sympy.exp(-X)
    plus, minus = _u(sympy.Add, ep, em), _u(sympy.Add, ep, -em)
    return [
        (sympy.tanh(X), _u(sympy.Mul, minus, _u(sympy.Pow, plus, -1))),
        (
            sympy.Derivative(sympy.tanh(X), X),
            _u(sympy.Mul, _u(sympy.Add, plus**2, -(minus**2)), _u(sympy.Pow, plus, -2)),
        ),
        (None, 1 - sympy.tanh(X) ** 2),
    ]


register(
    Activation(
        name="tanh",
        function=sympy.tanh,
        latex=r"\tanh",
        description=Text("tanh", "双曲正切函数（tanh）"),
        spellings=("tanh",),
        domain=Domain(-3.0, 3.0),
        xp_name="tanh",
        lemma=Lemma(
            Text("tanh", "tanh 函数"),
            Text("By the quotient rule:", "由商的求导法则："),
            _tanh_lemma,
        ),
    )
)


# --- relu -------------------------------------------------------------------------------------
def relu(xp, x):
    """max(x, 0)."""
    return xp.maximum(x, 0.0)


class Relu(Elementwise):
    """Rectified linear unit; derivative the step [x > 0]."""

    latex_name = r"\operatorname{relu}"
    kernel = staticmethod(relu)

    @classmethod
    def definition(cls, x):
        return sympy.Max(x, 0)

    def fdiff(self, argindex=1):
        return Heaviside(self.args[0], 0)


register(
    Activation(
        name="relu",
        function=Relu,
        latex=r"\operatorname{relu}",
        description=Text("relu", "线性整流函数（ReLU）"),
        spellings=("relu", "ReLU"),
        domain=Domain(kinks=(0.0,)),
        lemma=Lemma(
            Text("relu", "relu 函数"),
            Text(
                "The derivative is the step: 1 where the input is positive, 0 elsewhere (0 is taken at the kink):",
                "导数是阶跃函数：输入为正时为 1，否则为 0（折点处取 0）：",
            ),
            lambda: [(Relu(X), sympy.Max(0, X)), (sympy.Derivative(Relu(X), X), Heaviside(X, 0))],
        ),
    )
)


# --- leaky relu -------------------------------------------------------------------------------
LEAKY_SLOPE = Rational(1, 100)


def leaky_relu(xp, x):
    """x for x > 0, 0.01 x otherwise (the larger of the two, since the slope is below 1)."""
    return xp.maximum(x, 0.01 * x)


class LeakyRelu(Elementwise):
    """Leaky ReLU with slope 0.01 below zero."""

    latex_name = r"\operatorname{lrelu}"
    kernel = staticmethod(leaky_relu)

    @classmethod
    def definition(cls, x):
        return Piecewise((x, x > 0), (LEAKY_SLOPE * x, True))

    def fdiff(self, argindex=1):
        return Piecewise((S.One, self.args[0] > 0), (LEAKY_SLOPE, True))


register(
    Activation(
        name="leaky_relu",
        function=LeakyRelu,
        latex=r"\operatorname{lrelu}",
        description=Text("leaky relu", "带泄露的线性整流函数（leaky ReLU）"),
        spellings=("lrelu", "leakyrelu", "LeakyReLU"),
        domain=Domain(kinks=(0.0,)),
        lemma=Lemma(
            Text("leaky relu", "leaky relu 函数"),
            Text("Piece by piece:", "分段求导："),
            lambda: [
                (LeakyRelu(X), Piecewise((X, X > 0), (LEAKY_SLOPE * X, True))),
                (sympy.Derivative(LeakyRelu(X), X), LeakyRelu(X).fdiff()),
            ],
        ),
    )
)


# --- softplus ---------------------------------------------------------------------------------
def softplus(xp, x):
    """log(1 + e^x) without overflow."""
    return xp.logaddexp(0.0, x)


class Softplus(Elementwise):
    """log(1 + e^x); derivative sigma(x)."""

    latex_name = r"\operatorname{softplus}"
    kernel = staticmethod(softplus)

    @classmethod
    def definition(cls, x):
        return sympy.log(1 + sympy.exp(x))

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])


def _softplus_lemma():
    e = sympy.exp(X)
    return [
        (Softplus(X), sympy.log(_u(sympy.Add, S.One, e))),
        (sympy.Derivative(Softplus(X), X), _u(sympy.Mul, e, _u(sympy.Pow, _u(sympy.Add, S.One, e), -1))),
        (None, Sigmoid(X)),
    ]


register(
    Activation(
        name="softplus",
        function=Softplus,
        latex=r"\operatorname{softplus}",
        description=Text("softplus", "平滑整流函数（softplus）"),
        spellings=("softplus",),
        domain=Domain(),
        lemma=Lemma(
            Text("softplus", "softplus 函数"),
            Text("By the chain rule, the derivative is the sigmoid:", "由链式法则，导数就是 sigmoid："),
            _softplus_lemma,
        ),
    )
)


# --- elu --------------------------------------------------------------------------------------
ELU_ALPHA = S.One


def elu(xp, x):
    """x for x > 0, e^x - 1 otherwise (alpha = 1); exp of non-positive numbers only."""
    return xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0.0)))


class Elu(Elementwise):
    """Exponential linear unit (alpha = 1); derivative 1 above zero, y + 1 below."""

    latex_name = r"\operatorname{elu}"
    kernel = staticmethod(elu)

    @classmethod
    def definition(cls, x):
        return Piecewise((x, x > 0), (ELU_ALPHA * (sympy.exp(x) - 1), True))

    def fdiff(self, argindex=1):
        return Piecewise((S.One, self.args[0] > 0), (self + ELU_ALPHA, True))


register(
    Activation(
        name="elu",
        function=Elu,
        latex=r"\operatorname{elu}",
        description=Text("elu", "指数线性单元（ELU）"),
        spellings=("elu", "ELU"),
        domain=Domain(kinks=(0.0,)),
        lemma=Lemma(
            Text("elu", "elu 函数"),
            Text(
                "Below zero the derivative $e^x$ is the output plus one:",
                "在零以下，导数 $e^x$ 等于输出加一：",
            ),
            lambda: [
                (Elu(X), Piecewise((X, X > 0), (sympy.exp(X) - 1, True))),
                (sympy.Derivative(Elu(X), X), Piecewise((S.One, X > 0), (sympy.exp(X), True))),
                (None, Elu(X).fdiff()),
            ],
        ),
    )
)


# --- gelu -------------------------------------------------------------------------------------
def gelu(xp, x):
    """x Phi(x), Phi the standard normal distribution function, by the erf kernel."""
    return 0.5 * x * (1.0 + erf(xp, 0.7071067811865476 * x))


class Gelu(Elementwise):
    """Gaussian error linear unit x Phi(x) (erf form); derivative Phi(x) + x phi(x)."""

    latex_name = r"\operatorname{gelu}"
    kernel = staticmethod(gelu)

    @classmethod
    def definition(cls, x):
        return x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2

    def fdiff(self, argindex=1):
        x = self.args[0]
        return (1 + sympy.erf(x / sympy.sqrt(2))) / 2 + x * sympy.exp(-(x**2) / 2) / sympy.sqrt(2 * sympy.pi)


register(
    Activation(
        name="gelu",
        function=Gelu,
        latex=r"\operatorname{gelu}",
        description=Text("gelu", "高斯误差线性单元（GELU）"),
        spellings=("gelu", "GELU"),
        domain=Domain(-4.0, 4.0),
        lemma=Lemma(
            Text("gelu", "gelu 函数"),
            Text(
                r"$x \Phi(x)$ with $\Phi$ the normal distribution function; by the product rule the derivative is $\Phi(x) + x \phi(x)$, $\phi = \Phi'$ the normal density:",
                r"$x \Phi(x)$，$\Phi$ 为标准正态分布函数；由乘积法则，导数为 $\Phi(x) + x \phi(x)$，$\phi = \Phi'$ 为正态密度：",
            ),
            lambda: [
                (Gelu(X), _u(sympy.Mul, X, _u(sympy.Mul, Rational(1, 2), 1 + sympy.erf(X / sympy.sqrt(2))))),
                (
                    sympy.Derivative(Gelu(X), X),
                    _u(
                        sympy.Add,
                        _u(sympy.Mul, Rational(1, 2), 1 + sympy.erf(X / sympy.sqrt(2))),
                        _u(sympy.Mul, X, sympy.exp(-(X**2) / 2) / sympy.sqrt(2 * sympy.pi)),
                    ),
                ),
            ],
        ),
    )
)


# --- silu (swish) -----------------------------------------------------------------------------
def silu(xp, x):
    """x sigma(x), by the stable sigmoid kernel."""
    return x * sigmoid(xp, x)


class Silu(Elementwise):
    """Sigmoid-weighted linear unit x sigma(x); derivative sigma(x) (1 - y) + y in its output y."""

    latex_name = r"\operatorname{silu}"
    kernel = staticmethod(silu)

    @classmethod
    def definition(cls, x):
        return x / (1 + sympy.exp(-x))

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0]) * (1 - self) + self


register(
    Activation(
        name="silu",
        function=Silu,
        latex=r"\operatorname{silu}",
        description=Text("silu (swish)", "S 型加权线性单元（SiLU，swish）"),
        spellings=("silu", "swish", "SiLU"),
        domain=Domain(-4.0, 4.0),
        lemma=Lemma(
            Text("silu (swish)", "silu (swish) 函数"),
            Text(
                r"By the product rule and $\sigma' = \sigma (1 - \sigma)$, in the output $y = x \sigma(x)$:",
                r"由乘积法则与 $\sigma' = \sigma (1 - \sigma)$，用输出 $y = x \sigma(x)$ 表示：",
            ),
            lambda: [
                (Silu(X), X * Sigmoid(X)),
                (sympy.Derivative(Silu(X), X), Sigmoid(X) + X * Sigmoid(X) * (1 - Sigmoid(X))),
                (None, Silu(X).fdiff()),
            ],
        ),
    )
)


# --- softmax ----------------------------------------------------------------------------------
def softmax(xp, z):
    """Softmax over the last axis (the units of a layer), shifted by the row maximum."""
    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def log_softmax(xp, z):
    """Log softmax over the last axis by the log-sum-exp trick."""
    shifted = z - xp.max(z, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def softmax_component(xp, i, *z):
    """Component i of the softmax of scalars (or arrays of one shape) z_0, ..., z_n."""
    top = z[0]
    for v in z[1:]:
        top = xp.maximum(top, v)
    e = [xp.exp(v - top) for v in z]
    total = e[0]
    for v in e[1:]:
        total = total + v
    return e[i] / total


class Softmax(sympy.Function):
    """Component ``i`` (first argument, 0-based) of softmax(z_0, ..., z_n), in per-unit equations.

    Derivative: d softmax_i / d z_k = softmax_i (delta_ik - softmax_k), again in terms of outputs,
    so a softmax layer's per-unit error terms use only the stored y_k.
    """

    kernel = staticmethod(softmax_component)

    def _eval_is_real(self):
        return all(a.is_real for a in self.args[1:])

    def fdiff(self, argindex=2):
        i, zs = int(self.args[0]), self.args[1:]
        k = argindex - 2
        if k < 0:
            raise sympy.ArgumentIndexError(self, argindex)
        return self * ((1 if i == k else 0) - Softmax(k, *zs))

    def inputs(self) -> tuple[sympy.Expr, ...]:
        """The pre-activations of the layer, which every component depends on."""
        return self.args[1:]

    def own_input(self) -> sympy.Expr:
        """The pre-activation of this component's own unit."""
        return self.args[1 + int(self.args[0])]

    def definition(self) -> sympy.Expr:
        i, zs = int(self.args[0]), self.args[1:]
        return sympy.exp(zs[i]) / sympy.Add(*(sympy.exp(z) for z in zs))

    def _eval_evalf(self, prec):
        return self.definition()._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        zs = ", ".join(printer._print(z) for z in self.args[1:])
        power = f"^{{{exp}}}" if exp else ""
        return r"\operatorname{softmax}_{%d}%s\left(%s\right)" % (int(self.args[0]) + 1, power, zs)

    def _numpycode(self, printer):
        zs = ", ".join(printer._print(z) for z in self.args[1:])
        return "softmax_component(%d, %s)" % (int(self.args[0]), zs)


class SoftmaxVector(TensorFunction):
    """Softmax of a layer vector: a = softmax(z), whose Jacobian diag(a) - a a^T couples the units."""

    nargs = 1
    kernel = staticmethod(softmax)

    def vjp(self, argindex, ct):
        weighted = self * ct
        return weighted - self * UnitSum(weighted)

    def units(self, ctx, k, j=None):
        z = self.args[0]
        return Softmax(k, *(ctx.component(z, i) for i in range(ctx.width(z))))

    def index_form(self, ctx, k, j=None):
        z = self.args[0]
        i = ctx.running_index()
        return sympy.exp(ctx.component(z, k)) / sympy.Sum(sympy.exp(ctx.indexed(z, i)), (i, *ctx.bounds(z)))

    def _latex(self, printer, exp=None):
        power = f"^{{{exp}}}" if exp else ""
        return r"\operatorname{softmax}%s\left(%s\right)" % (power, printer._print(self.args[0]))

    def _arraycode(self, printer):
        return "softmax(xp, %s)" % printer._print(self.args[0])


class LogSoftmax(TensorFunction):
    """log softmax(z) of a layer vector: the stable form of the log a loss takes of a softmax."""

    nargs = 1
    kernel = staticmethod(log_softmax)

    def _latex(self, printer, exp=None):
        return r"\log\operatorname{softmax}\left(%s\right)" % printer._print(self.args[0])

    def _arraycode(self, printer):
        return "log_softmax(xp, %s)" % printer._print(self.args[0])


def _softmax_lemma():
    i, j, k = sympy.symbols("i j k", integer=True)
    z, y = sympy.IndexedBase("z"), sympy.IndexedBase("y")
    n = sympy.Symbol("n", integer=True)
    return [
        (y[i], _u(sympy.Mul, sympy.exp(z[i]), _u(sympy.Pow, sympy.Sum(sympy.exp(z[k]), (k, 1, n)), -1))),
        (sympy.Derivative(y[i], z[j]), _u(sympy.Mul, y[i], _u(sympy.Add, sympy.KroneckerDelta(i, j), -y[j]))),
    ]


def _softmax_unit(k: int, zs: Sequence[sympy.Expr]) -> sympy.Expr:
    return Softmax(k, *zs)


register(
    Activation(
        name="softmax",
        function=SoftmaxVector,
        latex=r"\operatorname{softmax}",
        description=Text("softmax", "归一化指数函数（softmax）"),
        spellings=("softmax",),
        domain=Domain(),
        lemma=Lemma(
            Text("softmax", "softmax 函数"),
            Text(
                "Each output depends on every input of the layer; the Jacobian is $\\operatorname{diag}(y) - y y^{\\top}$:",
                "每个输出都依赖该层的全部输入；雅可比矩阵是 $\\operatorname{diag}(y) - y y^{\\top}$：",
            ),
            _softmax_lemma,
        ),
        output_interval=(0.0, 1.0),
        vector=True,
        unit_function=_softmax_unit,
        log_output=LogSoftmax,
        from_log=True,
    )
)
