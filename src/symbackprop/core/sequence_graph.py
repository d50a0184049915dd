"""The graph of a sequence model's layers, unrolled through time: plain data, no calculus.

:class:`SequenceGraph` is the part of the tensor-graph builder of
:mod:`symbackprop.core.sequential` that writes the recurrent layers (rnn, lstm, gru), attention,
the reductions over time and a dense layer applied at every step (a per-step loss). A sequence
flows between layers in one of two forms: a list of per-step nodes (a recurrent layer's
h_1 .. h_T, each one example's (H,) vector) or one (T, d) matrix node (the input x, attention's
output); :meth:`SequenceGraph.steps` and :meth:`SequenceGraph.matrix` convert, so a recurrent
layer after a recurrent layer consumes its steps directly and attention stacks them once.

Every step of a recurrent layer is its own node and the steps share the layer's weights: the
reverse-accumulation engine then gives backpropagation through time without being told, delta_t
the sum over h_t's consumers (the direct path and the path through h_{t+1}), a shared weight's
gradient the sum over the steps. The builder supplies ``sym``, ``param``, ``node`` and
``delta_names`` (this class only uses them).
"""

from __future__ import annotations

import sympy
from sympy import Integer, Symbol

from symbackprop.registry import (
    CELL_ACTIVATION,
    GATES,
    Block,
    InitialMatVec,
    MatVec,
    RowSoftmax,
    Scores,
    SeqLinear,
    SeqMatMul,
    TimeMean,
    TimeStack,
    TimeStep,
    activation,
)

BLOCKS = {kind: len(gates) for kind, gates in GATES.items()}  # stacked in W_ih, W_hh, b (i, f, g, o; r, z, n)


def layer_sup(tag: str) -> str:
    """The layer superscript of a tag: ^{(2)}, or ^{(3,1)} inside a residual block."""
    return "^{(%s)}" % tag.replace("_", ",")


class SequenceGraph:
    """Sequence layers for the tensor-graph builder (see the module docstring)."""

    # --- sequences: a list of steps (a recurrent layer's h_1 .. h_T) or one (T, d) matrix ---------
    def steps(self, a, steps: int) -> list:
        """A sequence as its steps: a recurrent layer's own, or the rows x_t of a matrix."""
        if isinstance(a, list):
            return a
        return [TimeStep(a, Integer(t), Integer(steps)) for t in range(steps)]

    def matrix(self, a, tag: str, shape, number: int) -> Symbol:
        """A sequence as one (T, d) matrix: the steps of a recurrent layer stacked (H^(l))."""
        if not isinstance(a, list):
            return a
        return self.node(self.sym(f"hs{tag}", f"H{layer_sup(tag)}", shape, number), TimeStack(*a))

    def step_node(self, ident: str, latex: str, shape, number: int, expr, delta: str | None = None) -> Symbol:
        """A per-step node (h_t, c_t, a gate), with its error term's name if it has one."""
        s = self.node(self.sym(ident, latex, shape, number), expr)
        if delta is not None:
            self.delta_names[s] = self.sym(f"delta_{ident}", delta, shape, number)
        return s

    def recurrent(self, tag: str, layer, a, before, number: int):
        """An rnn, lstm or gru unrolled over the steps; h_T, or the list h_1 .. h_T."""
        sup, (steps, width), h = layer_sup(tag), before, layer.units
        xs = self.steps(a, steps)
        blocks = BLOCKS.get(layer.type, 1)
        if layer.type == "rnn":
            W_x = self.param(f"W_xh{tag}", f"W_{{xh}}{sup}", (h, width), number)
            b = self.param(f"b_h{tag}", f"b_{{h}}{sup}", (h,), number)
        else:
            W_x = self.param(f"W_ih{tag}", f"W_{{ih}}{sup}", (blocks * h, width), number)
        W_h = self.param(f"W_hh{tag}", f"W_{{hh}}{sup}", (blocks * h, h), number)
        if layer.type != "rnn":
            b = self.param(f"b{tag}", f"b{sup}", (blocks * h,), number)
        step = {"rnn": self.rnn_step, "lstm": self.lstm_step, "gru": self.gru_step}[layer.type]
        hs, state, h0 = [], None, None
        if layer.learn_initial:  # h_0 (and c_0) parameters, in the order parameter_shapes lists them
            h0 = self.param(f"h0{tag}", f"h{sup}_{{0}}", (h,), number)
            if layer.type == "lstm":
                state = self.param(f"c0{tag}", f"c{sup}_{{0}}", (h,), number)
        for t in range(steps):
            inputs = sympy.Add(MatVec(W_x, xs[t]), b, evaluate=False)
            if hs:
                recur, h_prev = MatVec(W_h, hs[-1]), hs[-1]
            else:
                recur, h_prev = (InitialMatVec(W_h, h0), h0) if h0 is not None else (None, None)
            h_t, state = step(tag, t + 1, layer, inputs, recur, h_prev, state, number)
            hs.append(h_t)
        return hs[-1] if layer.returns == "last" else hs

    def rnn_step(self, tag, t, layer, inputs, recur, h_prev, state, number):
        """z_t = W_xh x_t + W_hh h_{t-1} + b_h, h_t = f(z_t): h_t an activation output, delta_t of z_t."""
        sup, h = layer_sup(tag), (layer.units,)
        W_x_x, b = inputs.args
        expr = sympy.Add(W_x_x, recur, b, evaluate=False) if recur is not None else inputs
        z = self.node(self.sym(f"z{tag}_{t}", f"z{sup}_{{{t}}}", h, number), expr)
        self.delta_names[z] = self.sym(f"delta{tag}_{t}", rf"\delta{sup}_{{{t}}}", h, number)
        out = self.node(self.sym(f"h{tag}_{t}", f"h{sup}_{{{t}}}", h, number), activation(layer.activation).apply(z))
        return out, None

    def lstm_step(self, tag, t, layer, inputs, recur, h_prev, c_prev, number):
        """z_t stacked (4H), the gates i, f, g, o, c_t = f c_{t-1} + i g, h_t = o tanh(c_t)."""
        sup, n = layer_sup(tag), layer.units
        W_x_x, b = inputs.args
        expr = sympy.Add(W_x_x, recur, b, evaluate=False) if recur is not None else inputs
        z = self.step_node(f"z{tag}_{t}", f"z{sup}_{{{t}}}", (4 * n,), number, expr, rf"\delta{sup}_{{{t}}}")
        gates = {}
        for k, (name, act) in enumerate(GATES["lstm"]):
            if name == "f" and c_prev is None:
                continue  # c_0 = 0: the first step has nothing to forget (its block's error term is 0)
            gates[name] = self.gate(tag, t, name, act, Block(z, Integer(k), Integer(4), Integer(n)), n, number)
        i, f, g, o = (gates.get(name) for name in "ifgo")
        keep = sympy.Mul(i, g, evaluate=False)
        cell = sympy.Add(sympy.Mul(f, c_prev, evaluate=False), keep, evaluate=False) if c_prev is not None else keep
        c = self.step_node(f"c{tag}_{t}", f"c{sup}_{{{t}}}", (n,), number, cell, rf"\delta{sup}_{{c,{t}}}")
        out = sympy.Mul(o, activation(CELL_ACTIVATION).apply(c), evaluate=False)
        h = self.step_node(f"h{tag}_{t}", f"h{sup}_{{{t}}}", (n,), number, out, rf"\delta{sup}_{{h,{t}}}")
        return h, c

    def gate(self, tag, t, name, act, pre, n, number) -> Symbol:
        """s_{g,t} = pre (its error term delta_{g,t}), then the gate g_t = act(s_{g,t})."""
        sup = layer_sup(tag)
        s = self.step_node(
            f"s{name}{tag}_{t}", f"s{sup}_{{{name},{t}}}", (n,), number, pre, rf"\delta{sup}_{{{name},{t}}}"
        )
        return self.step_node(f"{name}{tag}_{t}", f"{name}{sup}_{{{t}}}", (n,), number, activation(act).apply(s))

    def gru_step(self, tag, t, layer, inputs, recur, h_prev, state, number):
        """u_t = W_ih x_t + b, v_t = W_hh h_{t-1} (3H each: r, z, n), the gates, h_t."""
        sup, n = layer_sup(tag), layer.units
        three, size = Integer(3), Integer(n)
        u = self.step_node(f"u{tag}_{t}", f"u{sup}_{{{t}}}", (3 * n,), number, inputs, rf"\delta{sup}_{{u,{t}}}")
        v = recur  # a learned h_0's W_hh h_0 stays inline: it is the same for every example
        if recur is not None and not isinstance(recur, InitialMatVec):
            v = self.step_node(f"v{tag}_{t}", f"v{sup}_{{{t}}}", (3 * n,), number, recur, rf"\delta{sup}_{{v,{t}}}")

        def pre(k: int, scale=None):
            part = Block(u, Integer(k), three, size)
            if v is None:
                return part
            other = Block(v, Integer(k), three, size)
            return sympy.Add(part, other if scale is None else sympy.Mul(scale, other, evaluate=False), evaluate=False)

        # h_0 = 0: the first step has no v_1 and no reset gate (r_1 would multiply zeros)
        (r_name, r_act), (z_name, z_act), (n_name, n_act) = GATES["gru"]
        r = self.gate(tag, t, r_name, r_act, pre(0), n, number) if v is not None else None
        z = self.gate(tag, t, z_name, z_act, pre(1), n, number)
        g = self.gate(tag, t, n_name, n_act, pre(2, r), n, number)
        new = sympy.Mul(sympy.Add(1, -z, evaluate=False), g, evaluate=False)
        if h_prev is not None:
            new = sympy.Add(new, sympy.Mul(z, h_prev, evaluate=False), evaluate=False)
        h = self.step_node(f"h{tag}_{t}", f"h{sup}_{{{t}}}", (n,), number, new, rf"\delta{sup}_{{h,{t}}}")
        return h, None

    def attention(self, tag, layer, a, before, number: int) -> Symbol:
        """Q, K, V = X W_q, X W_k, X W_v; S = Q K^T / sqrt(d_k); A = softmax(S) row-wise; O = A V."""
        sup, (steps, width), d = layer_sup(tag), before, layer.dim
        X = self.matrix(a, f"{number - 1}", (steps, width), number - 1)
        mats = {}
        for part in "qkv":
            W = self.param(f"W_{part}{tag}", f"W_{{{part}}}{sup}", (width, d), number)
            name = part.upper()
            mats[name] = self.node(self.sym(f"{name}{tag}", f"{name}{sup}", (steps, d), number), SeqLinear(X, W))
        S = self.node(self.sym(f"S{tag}", f"S{sup}", (steps, steps), number), Scores(mats["Q"], mats["K"], Integer(d)))
        A = self.node(self.sym(f"A{tag}", f"A{sup}", (steps, steps), number), RowSoftmax(S, Integer(int(layer.causal))))
        return self.node(self.sym(f"O{tag}", f"O{sup}", (steps, d), number), SeqMatMul(A, mats["V"]))

    def reduce(self, tag, layer, a, before, after, number: int) -> Symbol:
        """mean_over_time (1/T) sum_t x_t, or last_step x_T."""
        steps = before[0]
        out = self.sym(f"a{tag}", f"a{layer_sup(tag)}", after, number)
        if isinstance(a, list):
            if layer.type == "last_step":
                return a[-1]
            return self.node(out, sympy.Rational(1, steps) * sympy.Add(*a, evaluate=False))
        if layer.type == "last_step":
            return self.node(out, TimeStep(a, Integer(steps - 1), Integer(steps)))
        return self.node(out, TimeMean(a, Integer(steps)))

    def dense_steps(self, tag: str, layer, a, before, number: int) -> list[Symbol]:
        """A dense layer applied to every step (a per-step loss): z_t = W a_t + b, a_t = f(z_t)."""
        sup, (steps, width) = layer_sup(tag), before
        W = self.param(f"W{tag}", f"W{sup}", (layer.units, width), number)
        b = self.param(f"b{tag}", f"b{sup}", (layer.units,), number) if layer.bias else None
        outs = []
        for t, a_t in enumerate(self.steps(a, steps), start=1):
            expr = sympy.Add(MatVec(W, a_t), b, evaluate=False) if b is not None else MatVec(W, a_t)
            z = self.node(self.sym(f"z{tag}_{t}", f"z{sup}_{{{t}}}", (layer.units,), number), expr)
            self.delta_names[z] = self.sym(f"delta{tag}_{t}", rf"\delta{sup}_{{{t}}}", (layer.units,), number)
            act = activation(layer.activation).apply(z)
            outs.append(self.node(self.sym(f"a{tag}_{t}", f"a{sup}_{{{t}}}", (layer.units,), number), act))
        return outs
