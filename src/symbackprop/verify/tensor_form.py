"""A network of layers' tensor-form equation, written entry by entry before it is judged.

The documents print a layer's equations per tensor as well as per entry:
``\\frac{\\partial J}{\\partial x} = \\operatorname{conv}_{\\mathrm{full}}(\\delta^{(1)},
\\operatorname{rot180}(W^{(1)}))``, ``z^{(1)} = \\operatorname{conv}(x, W^{(1)}) + b^{(1)}``,
``\\delta^{(2)} = [z^{(2)} > 0] \\odot (W^{(3)})^{\\top} \\delta^{(3)}``. The checker judges a
network of layers entry by entry (its per-unit graph), so :func:`entrywise` rewrites such an
equation's syntax tree into the general equation of one entry, with free indices: names of
tensors get the entry's indices, elementwise operations pass them on, a matrix times a vector
sums over the shared index, and the convolutions become their index sums (the same sums the
documents' "entry by entry" sections print, see the registry's ``index_form``):

* conv(a, W) at (f, i, j): sum_{c,u,v} W_{f,c,u,v} a_{c, s i + u - p, s j + v - p};
* conv_full(delta, rot180(W)) at (c, r, q): sum_{f,u,v} delta_{f, r + p - u, q + p - v} W_{f,c,u,v}
  (rot180 rotates each kernel and swaps its two channel axes, as the documents define it); with
  W not rotated, sum_{f,u,v} delta_{f, r + u - (k - 1 - p), ...} W_{f,c,u,v}, the mistake the
  checker names (kernel_not_rotated).

An equation whose left-hand side is not a whole tensor is returned as it is.
"""

from __future__ import annotations

from dataclasses import replace

from symbackprop.verify.latex import Node, ParseError

LETTERS = {1: ("k",), 2: ("k", "j"), 3: ("c", "i", "j"), 4: ("f", "c", "u", "v")}  # the left-hand side's
SUMMED = "cfuvgnpqrsw"  # letters for the sums the rewriting writes, the first ones not yet in use


class TensorFormError(ParseError):
    """A tensor-form equation the rewriting cannot write entry by entry."""


def tensor_shapes(table) -> dict[tuple[str, object], tuple[int, ...]]:
    """(base, layer) -> shape of every tensor the table names entry by entry (x, z, a, delta, W, b, ...)."""
    shapes: dict[tuple[str, object], list[int]] = {}
    for base, index, layer in table.symbols:
        if not index or not all(str(i).isdigit() for i in index):
            continue
        extent = shapes.setdefault((base, layer), [0] * len(index))
        if len(extent) != len(index):
            continue
        for axis, i in enumerate(index):
            extent[axis] = max(extent[axis], int(i) + 1)
    return {key: tuple(v) for key, v in shapes.items()}


def entrywise(table, eq):
    """The equation of one entry for a tensor-form equation of a network of layers (see the
    module docstring); the equation itself otherwise."""
    if not getattr(table, "layers", False) or eq.lhs is None:
        return eq
    writer = _Writer(table)
    rank = writer.rank(eq.lhs)
    if rank is None:
        return eq
    letters = LETTERS[rank]
    writer.used |= set(letters)
    lhs = writer.at(eq.lhs, letters)
    rhs = [writer.at(side, letters) for side in eq.rhs]
    return replace(eq, lhs=lhs, rhs=rhs)


class _Writer:
    def __init__(self, table):
        self.table = table
        self.shapes = tensor_shapes(table)
        self.used: set[str] = set()

    def tensor(self, node) -> tuple[int, ...] | None:
        """The shape of a tensor a bare name stands for (no subscript), else None."""
        if not isinstance(node, Node) or node.kind != "name":
            return None
        base, sub, layer, primes = node.parts
        if sub is not None or primes:
            return None
        return self.shapes.get((base, layer)) or (self.shapes.get(("a", 0)) if (base, layer) == ("x", None) else None)

    def rank(self, lhs) -> int | None:
        """The rank of the tensor a left-hand side names whole (z^{(1)}, \\frac{\\partial J}{\\partial x})."""
        node = lhs.parts[1] if lhs.kind == "derivative" else lhs
        shape = self.tensor(node)
        return len(shape) if shape and len(shape) in LETTERS else None

    def fresh(self) -> str:
        for letter in SUMMED:
            if letter not in self.used:
                self.used.add(letter)
                return letter
        raise TensorFormError("too many sums to write this tensor equation entry by entry")

    def at(self, node, index: tuple[str, ...]):
        """``node``'s entry at ``index`` (index texts: k, i+u, r-u)."""
        if not isinstance(node, Node):
            return node
        kind = node.kind
        if kind == "name":
            shape = self.tensor(node)
            if shape is None:
                return node  # a number of the network (m, alpha, epsilon) or a name the checker reads
            if len(shape) == 1 and len(index) == 3:  # a bias or scale of each channel, over a map
                index = index[:1]
            elif len(shape) != len(index):
                raise TensorFormError(f"{_written(node)} has {len(shape)} indices where {len(index)} are needed")
            base, _, layer, primes = node.parts
            return Node("name", (base, ",".join(index), layer, primes))
        if kind == "derivative":
            top, bottom = node.parts
            return Node("derivative", (top, self.at(bottom, index)))
        if kind in ("add", "sub", "odot", "step", "equal"):
            return Node(kind, tuple(self.at(p, index) for p in node.parts))
        if kind in ("neg", "pow"):
            return Node(kind, (self.at(node.parts[0], index), *node.parts[1:]))
        if kind == "div":
            return Node("div", (self.at(node.parts[0], index), self.at(node.parts[1], index)))
        if kind == "call":
            name, args = node.parts
            return Node("call", (name, tuple(self.at(a, index) for a in args)))
        if kind == "apply":
            function, args = node.parts
            return Node("apply", (function, tuple(self.at(a, index) for a in args)))
        if kind == "mul":
            return self._product(node, index)
        if kind == "tensorop":
            return self._operator(node, index)
        if kind == "transpose":
            raise TensorFormError("a transpose stands outside a product: write (W)^T \\delta")
        return node

    def _product(self, node, index):
        """W a and (W)^T delta sum over the shared index; anything else is elementwise."""
        left, right = node.parts
        matrix, transposed = left, False
        if isinstance(left, Node) and left.kind == "transpose":
            matrix, transposed = left.parts[0], True
        shape = self.tensor(matrix)
        if shape is not None and len(shape) == 2 and len(index) == 1:
            j = self.fresh()
            entry = (j, index[0]) if transposed else (index[0], j)
            body = Node("mul", (self.at(matrix, entry), self.at(right, (j,))))
            return Node("sum", (j, 0, shape[0 if transposed else 1] - 1, None, body))
        return Node("mul", (self.at(left, index), self.at(right, index)))

    def _operator(self, node, index):
        name, args = node.parts
        if name == "conv" and len(args) == 2 and len(index) == 3:
            a, W = args
            shape, (stride, padding) = self._kernel(W), self._geometry(W)
            c, u, v = self.fresh(), self.fresh(), self.fresh()
            f, i, j = index
            entry = (c, _linear(i, u, -padding, stride), _linear(j, v, -padding, stride))
            body = Node("mul", (self.at(W, (f, c, u, v)), self.at(a, entry)))
            return _sums(body, ((c, shape[1]), (u, shape[2]), (v, shape[3])))
        if name == "conv_full" and len(args) == 2 and len(index) == 3:
            d, kernel = args
            rotated = isinstance(kernel, Node) and kernel.kind == "tensorop" and kernel.parts[0] == "rot180"
            W = kernel.parts[1][0] if rotated and len(kernel.parts[1]) == 1 else kernel
            shape, (stride, padding) = self._kernel(W), self._geometry(W)
            if stride != 1:
                raise TensorFormError("a strided convolution's input error term: write it entry by entry")
            f, u, v = self.fresh(), self.fresh(), self.fresh()
            c, r, q = index
            if rotated:  # sum_{f,u,v} delta_{f,r+p-u,q+p-v} W_{f,c,u,v}
                entry = (f, _linear(r, u, padding, 1, -1), _linear(q, v, padding, 1, -1))
            else:  # the kernel as it is (not rotated): delta_{f,r+u-(k-1-p)} W_{f,c,u,v}
                entry = (f, _linear(r, u, padding - shape[2] + 1, 1), _linear(q, v, padding - shape[3] + 1, 1))
            body = Node("mul", (self.at(d, entry), self.at(W, (f, c, u, v))))
            return _sums(body, ((f, shape[0]), (u, shape[2]), (v, shape[3])))
        raise TensorFormError(f"cannot write \\operatorname{{{name}}} here entry by entry")

    def _kernel(self, W) -> tuple[int, ...]:
        shape = self.tensor(W)
        if shape is None or len(shape) != 4:
            raise TensorFormError("a convolution takes a layer's kernels W^{(l)}, shape (F, C, k, k)")
        return shape

    def _geometry(self, W) -> tuple[int, int]:
        """The stride and zero padding of the convolution whose kernels W is."""
        layer = W.parts[2]
        net = self.table.spec
        spec = (
            net.layers[layer - 1]
            if net is not None and isinstance(layer, int) and 0 < layer <= len(net.layers)
            else None
        )
        if spec is None or spec.type != "conv2d":
            raise TensorFormError(f"{_written(W)} is not a convolution's kernels")
        return spec.stride or 1, spec.padding


def _linear(index: str, offset: str, constant: int, stride: int, sign: int = 1) -> str:
    """The index text stride*index + sign*offset + constant (i+u, 2i+u-1, r-u+1)."""
    if stride != 1 and not index.isalpha():
        raise TensorFormError("a strided convolution of a shifted index: write it entry by entry")
    text = f"{stride}{index}" if stride != 1 else index
    text += ("+" if sign > 0 else "-") + offset
    if constant:
        text += f"{constant:+d}"
    return text


def _sums(body, ranges) -> Node:
    for letter, extent in reversed(ranges):
        body = Node("sum", (letter, 0, extent - 1, None, body))
    return body


def _written(node) -> str:
    base, _, layer, _ = node.parts
    return base + (f"^({layer})" if layer is not None else "")
