"""Symbol names of fully connected networks in the three notations of the source derivations.

Each symbol has a Python identifier (its SymPy name, also the variable name in code) and a LaTeX
name, registered in ``latex`` as it is created; every symbol is real.

* node notation: inputs x_1..x_n are nodes 1..n, later nodes continue the numbering;
  w_kj runs from node j into node k (later index first); net_k, y_k, t_k, delta_k, eta, E.
* layer notation (UFLDL): W^(l)_ij from unit j of layer l to unit i of layer l+1; b^(l)_i;
  z^(l), a^(l), delta^(l); targets y; alpha; J.
* d2l notation (Dive into Deep Learning, section 5.3): one hidden layer, no biases; x, z = W^(1) x,
  h = phi(z), o = W^(2) h, the output yhat = f(o) (the loss l(o, y) reads o through it); targets
  y; eta; J = L + s. d2l names no error term: the backward pass carries dJ/dz and dJ/do, which
  are the error terms' symbols here. Deeper networks have no d2l names (the spec refuses them).
Indices of 10 or more are separated by a comma (w_{12,3}); identifiers use an underscore.

A layer vector or matrix symbol has a role (kind, layer); :meth:`Names.entry` names its
components, :meth:`Names.shape` gives its shape, and the ``indexed_*`` methods give the
sigma-notation names (w_{k,i}, a^{(2)}_i) of documents that show one representative unit.

Inside a sum over the examples of a batch, a layer vector of one example carries the example's
index (``examples``): UFLDL's x^{(i)}, y^{(i)}, and, after a layer superscript, a^{(2)(i)},
delta^{(3)(i)} (Ng's a^{[l](i)} in UFLDL's parentheses); in d2l notation x^{(i)}, h^{(i)} and
the gradient of example i's loss, d ell^{(i)} / d o^{(i)} (d2l's l^{(i)}, section 3.1: the
objective's own dJ/do^{(i)} is 1/m of it, J being the batch mean).
Parameters and the objective never carry it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy
from sympy import Symbol


class _PartialIndexed(sympy.Indexed):
    """Component i of d2l's dJ/do, printed as d2l writes it: dJ/do_i, not (dJ/do)_i."""

    def _latex(self, printer) -> str:
        indices = ",".join(printer._print(i) for i in self.indices)
        return rf"\frac{{\partial J}}{{\partial {printer._print(self.base.label)}_{{{indices}}}}}"


class _PartialBase(sympy.IndexedBase):
    """The family dJ/do_i of d2l's gradients with respect to a layer's weighted inputs."""

    def __getitem__(self, indices, **kw_args):
        item = super().__getitem__(indices, **kw_args)
        return _PartialIndexed(*item.args)


EXAMPLE_INDEX = "i"  # the index of an example in a batch, as in \\sum_{i=1}^{m}


def with_example(latex: str, index: str = EXAMPLE_INDEX) -> str:
    """A layer vector's name for one example: x -> x^{(i)}, z^{(2)} -> z^{(2)(i)}."""
    layer = re.fullmatch(r"(.*\^\{\([^{}]*\))\}", latex)
    if layer:
        return f"{layer.group(1)}({index})}}"
    return f"{latex}^{{({index})}}"


D2L_EXAMPLE_LOSS = with_example(r"\ell")  # d2l's l^{(i)}, the loss of example i, as the document's \ell


def _pair(a: int, b: int, sep: str) -> str:
    return f"{a}{b}" if a < 10 and b < 10 else f"{a}{sep}{b}"


@dataclass
class Names:
    """Naming scheme for one layered network (``sizes``) in one notation."""

    notation: str
    sizes: tuple[int, ...]
    latex: dict[Symbol, str] = field(default_factory=dict)
    vectors: set[Symbol] = field(default_factory=set)  # layer vectors: products are elementwise
    roles: dict[Symbol, tuple[str, int]] = field(default_factory=dict)  # W2 -> ("matrix", 2), ...
    examples: dict[Symbol, str] = field(default_factory=dict)  # x -> x^{(i)}: one example's, in a batch sum

    def _role(self, s: Symbol, kind: str, layer: int) -> Symbol:
        self.roles[s] = (kind, layer)
        return s

    def _sym(self, ident: str, latex: str) -> Symbol:
        s = Symbol(ident, real=True)
        self.latex[s] = latex
        return s

    def _vec(self, ident: str, latex: str, kind: str, layer: int) -> Symbol:
        """A layer vector: products of such symbols are elementwise; its role says which layer."""
        s = self._sym(ident, latex)
        self.vectors.add(s)
        self.examples[s] = self._example_latex(latex, kind, layer)
        return self._role(s, kind, layer)

    def _example_latex(self, latex: str, kind: str, layer: int) -> str:
        """The name of one example's layer vector; d2l's gradients with respect to a layer are
        those of the example's loss (d2l's l^{(i)}, printed as the document's \\ell)."""
        if self.d2l and kind == "delta":
            wrt = with_example(self.d2l_letter("net", layer)[1])
            return rf"\frac{{\partial {D2L_EXAMPLE_LOSS}}}{{\partial {wrt}}}"
        return with_example(latex)

    @property
    def node(self) -> bool:
        return self.notation == "node"

    @property
    def d2l(self) -> bool:
        return self.notation == "d2l"

    def d2l_letter(self, kind: str, layer: int) -> tuple[str, str]:
        """d2l's (identifier, LaTeX) letter of a layer's weighted input or output: z, h; o, yhat."""
        if len(self.sizes) != 3:
            raise ValueError(f"d2l notation names one hidden layer only, not {len(self.sizes) - 2}")
        hidden = layer == 2
        if kind == "net":
            return ("z", "z") if hidden else ("o", "o")
        return ("h", "h") if hidden else ("yhat", r"\hat{y}")

    def _partial(self, latex: str) -> str:
        return rf"\frac{{\partial J}}{{\partial {latex}}}"

    def unit_number(self, layer: int, k: int) -> int:
        """Node number of unit k (0-based) of layer ``layer`` (1 = input layer)."""
        return sum(self.sizes[: layer - 1]) + k + 1

    # --- per-unit symbols -------------------------------------------------------------
    def input(self, i: int) -> Symbol:
        return self._sym(f"x_{i + 1}", f"x_{{{i + 1}}}")

    def net(self, layer: int, k: int) -> Symbol:
        if self.node:
            u = self.unit_number(layer, k)
            return self._sym(f"net_{u}", rf"\mathrm{{net}}_{{{u}}}")
        if self.d2l:
            ident, tex = self.d2l_letter("net", layer)
            return self._sym(f"{ident}_{k + 1}", f"{tex}_{{{k + 1}}}")
        return self._sym(f"z{layer}_{k + 1}", f"z^{{({layer})}}_{{{k + 1}}}")

    def out(self, layer: int, k: int) -> Symbol:
        if layer == 1:
            return self.input(k)
        if self.node:
            u = self.unit_number(layer, k)
            return self._sym(f"y_{u}", f"y_{{{u}}}")
        if self.d2l:
            ident, tex = self.d2l_letter("out", layer)
            return self._sym(f"{ident}_{k + 1}", f"{tex}_{{{k + 1}}}")
        return self._sym(f"a{layer}_{k + 1}", f"a^{{({layer})}}_{{{k + 1}}}")

    def delta(self, layer: int, k: int) -> Symbol:
        if self.node:
            u = self.unit_number(layer, k)
            return self._sym(f"delta_{u}", rf"\delta_{{{u}}}")
        if self.d2l:
            ident, tex = self.d2l_letter("net", layer)
            return self._sym(f"grad_{ident}_{k + 1}", self._partial(f"{tex}_{{{k + 1}}}"))
        return self._sym(f"delta{layer}_{k + 1}", rf"\delta^{{({layer})}}_{{{k + 1}}}")

    def weight(self, layer: int, k: int, j: int) -> Symbol:
        """Weight of weight layer ``layer`` from unit j of that layer into unit k of the next."""
        if self.node:
            to, frm = self.unit_number(layer + 1, k), self.unit_number(layer, j)
            return self._sym(f"w_{_pair(to, frm, '_')}", f"w_{{{_pair(to, frm, ',')}}}")
        i, jj = k + 1, j + 1
        return self._sym(f"W{layer}_{i}_{jj}", f"W^{{({layer})}}_{{{_pair(i, jj, ',')}}}")

    def bias(self, layer: int, k: int) -> Symbol:
        if self.node:
            u = self.unit_number(layer + 1, k)
            return self._sym(f"b_{u}", f"b_{{{u}}}")
        return self._sym(f"b{layer}_{k + 1}", f"b^{{({layer})}}_{{{k + 1}}}")

    def target(self, k: int) -> Symbol:
        if self.node:
            u = self.unit_number(len(self.sizes), k)
            return self._sym(f"t_{u}", f"t_{{{u}}}")
        return self._sym(f"t_{k + 1}", f"y_{{{k + 1}}}")

    # --- layer vectors and matrices ---------------------------------------------------
    def net_vec(self, layer: int) -> Symbol:
        if self.node:
            return self._vec(f"net{layer}", rf"\mathrm{{net}}^{{({layer})}}", "net", layer)
        if self.d2l:
            return self._vec(*self.d2l_letter("net", layer), "net", layer)
        return self._vec(f"z{layer}", f"z^{{({layer})}}", "net", layer)

    def out_vec(self, layer: int) -> Symbol:
        if layer == 1:
            return self._vec("x", "x", "out", layer)
        if self.node:
            return self._vec(f"y{layer}", f"y^{{({layer})}}", "out", layer)
        if self.d2l:
            return self._vec(*self.d2l_letter("out", layer), "out", layer)
        return self._vec(f"a{layer}", f"a^{{({layer})}}", "out", layer)

    def delta_vec(self, layer: int) -> Symbol:
        if self.d2l:
            ident, tex = self.d2l_letter("net", layer)
            return self._vec(f"grad_{ident}", self._partial(tex), "delta", layer)
        return self._vec(f"delta{layer}", rf"\delta^{{({layer})}}", "delta", layer)

    def matrix(self, layer: int) -> Symbol:
        return self._role(self._sym(f"W{layer}", f"W^{{({layer})}}"), "matrix", layer)

    def bias_vec(self, layer: int) -> Symbol:
        return self._role(self._sym(f"b{layer}", f"b^{{({layer})}}"), "bias", layer)

    def target_vec(self) -> Symbol:
        return self._vec("t", "t" if self.node else "y", "target", len(self.sizes))

    # --- scalars ----------------------------------------------------------------------
    def objective(self) -> Symbol:
        return self._sym("E", "E") if self.node else self._sym("J", "J")

    def data_loss(self) -> Symbol:
        return self._sym("L", "L")

    def regularisation(self) -> Symbol:
        return self._sym("s", "s")

    def learning_rate(self) -> Symbol:
        return self._sym("eta", r"\eta") if self.node or self.d2l else self._sym("alpha", r"\alpha")

    def weight_decay(self) -> Symbol:
        return self._sym("lambda", r"\lambda")

    def batch_size(self) -> Symbol:
        return self._sym("m", "m")

    def gradient(self, of: Symbol, wrt: Symbol) -> Symbol:
        """The symbol d(of)/d(wrt), named grad_<wrt> in code."""
        wrt_latex = self.latex.get(wrt, wrt.name)
        of_latex = self.latex.get(of, of.name)
        s = self._sym(f"grad_{wrt.name}", rf"\frac{{\partial {of_latex}}}{{\partial {wrt_latex}}}")
        if wrt in self.examples:  # the batch objective's gradient with respect to one example's vector
            self.examples[s] = rf"\frac{{\partial {of_latex}}}{{\partial {self.examples[wrt]}}}"
        return s

    # --- tensors: shapes and components -----------------------------------------------
    def shape(self, s: Symbol) -> tuple[int, ...]:
        """Shape of a layer symbol (one example's for vectors), () for scalars."""
        if s not in self.roles:
            return ()
        kind, layer = self.roles[s]
        if kind == "matrix":
            return (self.sizes[layer], self.sizes[layer - 1])
        if kind == "bias":
            return (self.sizes[layer],)
        return (self.sizes[layer - 1],)

    def entry(self, s: Symbol, k: int, j: int | None = None) -> Symbol:
        """Component k (row k, column j of a matrix) of a layer symbol, in per-unit symbols."""
        kind, layer = self.roles[s]
        if kind == "net":
            return self.net(layer, k)
        if kind == "out":
            return self.out(layer, k)
        if kind == "delta":
            return self.delta(layer, k)
        if kind == "target":
            return self.target(k)
        if kind == "bias":
            return self.bias(layer, k)
        return self.weight(layer, k, j)

    # --- sigma notation (one representative unit of a wide layer) ----------------------
    def _axis_layer(self, s: Symbol, axis: int) -> int:
        """The layer whose units run along ``axis`` of a layer symbol."""
        kind, layer = self.roles[s]
        if kind == "matrix":
            return layer + 1 if axis == 0 else layer
        if kind == "bias":
            return layer + 1
        return layer

    def bounds(self, s: Symbol, axis: int = 0) -> tuple[int, int]:
        """First and last label of the units along an axis (node numbers, or 1..n)."""
        layer = self._axis_layer(s, axis)
        if self.node:
            return self.unit_number(layer, 0), self.unit_number(layer, self.sizes[layer - 1] - 1)
        return 1, self.sizes[layer - 1]

    def label(self, s: Symbol, axis: int, k: int) -> int:
        """The label of unit k along an axis: its node number, or k + 1."""
        layer = self._axis_layer(s, axis)
        return self.unit_number(layer, k) if self.node else k + 1

    def indexed_base(self, s: Symbol) -> sympy.IndexedBase:
        """The indexed name of a family of per-unit symbols (w_{k,j}, a^{(2)}_{j}, ...)."""
        kind, layer = self.roles[s]
        node = self.node
        if self.d2l and kind in ("net", "out", "delta") and layer > 1:
            tex = self.d2l_letter("out" if kind == "out" else "net", layer)[1]
            return (_PartialBase if kind == "delta" else sympy.IndexedBase)(Symbol(tex, real=True))
        table = {
            "matrix": "w" if node else f"W^{{({layer})}}",
            "bias": "b" if node else f"b^{{({layer})}}",
            "net": r"\mathrm{net}" if node else f"z^{{({layer})}}",
            "out": "x" if layer == 1 else ("y" if node else f"a^{{({layer})}}"),
            "delta": r"\delta" if node else f"\\delta^{{({layer})}}",
            "target": "t" if node else "y",
        }
        return sympy.IndexedBase(Symbol(table[kind], real=True))
