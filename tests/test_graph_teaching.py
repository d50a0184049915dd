"""The computational-graph documents teach CS231n and colah: gate by gate, gates collapsed into one
sigma gate, the staged computation with its branches (+=), the gate patterns, paths and modes.

The numbers are the sources' (CS231n "Backpropagation" and lecture 4, colah "Calculus on
Computational Graphs"), computed by symbackprop.analysis.paths and .collapse at each example and
checked here against the published values and against SymPy differentiating the closed form.
"""

from __future__ import annotations

import math
import re

import pytest
import sympy
from conftest import derivation_of
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from symbackprop import derive, load_spec, load_spec_text
from symbackprop.analysis import analyse
from symbackprop.analysis.collapse import find_collapse
from symbackprop.analysis.paths import MILLION, gate_pattern, passes, paths_and_modes
from symbackprop.core.examples import example_names

GRAPHS = ["colah-graph", "cs231n-circuit", "cs231n-gates", "cs231n-neuron", "cs231n-neuron-gates", "cs231n-staged"]


def analysis_of(name: str):
    return analyse(derivation_of(name).inner)


def by_name(pairs) -> dict:
    return {str(k): v for k, v in pairs}


def test_the_graph_examples_are_built_in():
    assert set(GRAPHS) <= set(example_names())


# --- CS231n: the sigmoid neuron gate by gate ---------------------------------------------------
def test_neuron_gates_wire_values_are_the_published_ones():
    ex = analysis_of("cs231n-neuron-gates").example
    forward, grad = ex.values, ex.gradient_of
    # forward: 0.73 at the output, 0.37 after exp, 1.37 after +1 (CS231n prints two decimals)
    assert forward["f"] == pytest.approx(0.73, abs=5e-3)
    assert forward["ex"] == pytest.approx(0.37, abs=5e-3)
    assert forward["q"] == pytest.approx(1.37, abs=5e-3)
    assert (forward["dot"], forward["neg"]) == (1.0, -1.0)
    # backward: -0.53 into 1/x and +1, -0.20 into exp's input, 0.20 into *(-1)'s input
    assert grad["q"] == pytest.approx(-0.53, abs=5e-3)
    assert grad["ex"] == pytest.approx(-0.53, abs=5e-3)
    assert grad["neg"] == pytest.approx(-0.20, abs=5e-3)
    assert grad["dot"] == pytest.approx(0.20, abs=5e-3)
    # df/dx = (0.39, -0.59), df/dw = (-0.20, -0.39, 0.20)
    for leaf, value in {"x0": 0.39, "x1": -0.59, "w0": -0.20, "w1": -0.39, "w2": 0.20}.items():
        assert grad[leaf] == pytest.approx(value, abs=5e-3), leaf


def test_the_gates_collapse_into_one_sigma_gate_with_the_same_gradients():
    a = analysis_of("cs231n-neuron-gates")
    c = a.collapse
    assert c is not None and c.activation == "sigmoid"
    assert [str(g) for g in c.gates] == ["neg", "ex", "q", "f"] and str(c.start) == "dot"
    # the chain's local gradients: -1, e^{-dot}, 1, -1/q^2, multiplying to sigma'(dot) = f (1 - f)
    assert [v for *_, v in c.chain] == pytest.approx([-1.0, math.exp(-1.0), 1.0, -1 / (1 + math.exp(-1.0)) ** 2])
    assert c.chain_product == pytest.approx(c.local_value, rel=1e-12)
    assert str(c.local) == "f*(1 - f)"
    assert c.agree and len(c.rows) == 5
    # and the one-gate circuit is the cs231n-neuron example: same gradients, leaf by leaf
    neuron = by_name((leaf, g) for leaf, _, g, _ in analysis_of("cs231n-neuron").example.gradients)
    for leaf, gates, one in c.rows:
        assert gates == pytest.approx(one, rel=1e-12) and one == pytest.approx(neuron[leaf.name], rel=1e-12)


def test_a_graph_without_a_chain_of_gates_has_nothing_to_collapse():
    for name in ("cs231n-neuron", "colah-graph", "cs231n-circuit", "cs231n-gates"):
        assert analysis_of(name).collapse is None, name


def test_a_chain_used_elsewhere_is_not_collapsed():
    # ex also feeds g: replacing neg, ex, q, f by one gate would lose ex
    spec = (
        'inputs = ["z"]\noutput = "g"\n[nodes]\nneg = "-z"\nex = "exp(neg)"\nq = "ex + 1"\n'
        'f = "1/q"\ng = "f + ex"\n[example]\nz = 0.5\n'
    )
    d = derive(load_spec_text(spec)).inner
    assert find_collapse(d, {"z": 0.5}) is None


def test_a_tanh_chain_is_found_too():
    spec = (
        'inputs = ["z"]\noutput = "t"\n[nodes]\nu = "2*z"\nv = "exp(-u)"\nw = "1 + v"\n'
        't = "2/w - 1"\n[example]\nz = 0.3\n'
    )
    d = derive(load_spec_text(spec)).inner
    c = find_collapse(d, {"z": 0.3})
    assert c is not None and c.activation == "tanh" and str(c.start) == "z" and c.agree


# --- CS231n: the staged computation --------------------------------------------------------------
def test_staged_values_agree_with_sympy_on_the_closed_form():
    x, y = sympy.symbols("x y", real=True)
    sig = lambda t: 1 / (1 + sympy.exp(-t))
    f = (x + sig(y)) / (sig(x) + (x + y) ** 2)
    at = {x: 3, y: -4}
    ex = analysis_of("cs231n-staged").example
    assert ex.values["f"] == pytest.approx(float(f.subs(at)), rel=1e-12)
    for leaf in (x, y):
        assert ex.gradient_of[leaf.name] == pytest.approx(float(sympy.diff(f, leaf).subs(at)), rel=1e-12)
    # pinned to 4 significant digits as the document prints them
    assert (round(ex.values["f"], 4), round(ex.gradient_of["x"], 4), round(ex.gradient_of["y"], 4)) == (
        1.5456,
        2.0596,
        1.5922,
    )


def test_staged_gradients_add_up_where_a_variable_branches():
    pm = analysis_of("cs231n-staged").paths
    branches = {str(b.variable): b for b in pm.branches}
    assert set(branches) == {"x", "y"}
    assert [str(c) for c, _, _ in branches["x"].parts] == ["num", "sigx", "xpy"]
    assert [str(c) for c, _, _ in branches["y"].parts] == ["sigy", "xpy"]
    grads = analysis_of("cs231n-staged").example.gradient_of
    for name, b in branches.items():
        assert b.total == pytest.approx(grads[name], rel=1e-12)
        assert all(g * local != 0 for _, g, local in b.parts)  # every branch contributes
    # the denominator's gradient is computed once and shared by three paths
    shared = {str(s.node): s.paths for s in pm.shared}
    assert shared["q"] == 3 and shared["invq"] == 3 and shared["num"] == 2


# --- gate patterns -------------------------------------------------------------------------------
def test_cs231n_gate_pattern_circuit_has_the_lecture_numbers():
    pm = analysis_of("cs231n-gates").paths
    gates = {str(g.node): g for g in pm.gates}
    assert {k: g.pattern for k, g in gates.items()} == {"m": "mul", "n": "max", "s": "add"}
    received = {str(s): r for g in pm.gates for s, _, r in g.inputs}
    assert received == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0, "m": 2.0, "n": 2.0}


def test_gate_pattern_names_the_three_gates_only():
    a, b = sympy.symbols("a b", real=True)
    assert gate_pattern(a + b) == "add" and gate_pattern(a + 1) == "add"
    assert gate_pattern(a * b) == "mul" and gate_pattern(2 * a) is None and gate_pattern(a * a) is None
    assert gate_pattern(sympy.Max(a, b)) == "max" and gate_pattern(sympy.exp(a)) is None


@settings(max_examples=25, deadline=None)
@given(
    st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 3)),
    st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 3)),
    st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 3)),
)
def test_add_copies_mul_swaps_max_routes(a, b, c):
    assume(abs(a - b) > 1e-3)
    spec = (
        'inputs = ["a", "b", "c"]\noutput = "f"\n[nodes]\nm = "max(a, b)"\np = "m * c"\n'
        f's = "p + a"\nf = "3*s"\n[example]\na = {a}\nb = {b}\nc = {c}\n'
    )
    d = derive(load_spec_text(spec)).inner
    pm = paths_and_modes(d, analyse(d).example.values)
    gates = {str(g.node): g for g in pm.gates}
    add, mul, mx = gates["s"], gates["p"], gates["m"]
    # add: every input receives the gate's gradient unchanged
    assert all(r == add.gradient for _, _, r in add.inputs)
    # mul: each input receives the gradient times the other input's value
    (_s1, v1, r1), (_s2, v2, r2) = mul.inputs
    assert r1 == pytest.approx(mul.gradient * v2) and r2 == pytest.approx(mul.gradient * v1)
    # max: the larger input receives all of it, the smaller nothing
    for s, v, r in mx.inputs:
        assert r == (mx.gradient if v == max(a, b) else 0.0)


# --- paths and modes -----------------------------------------------------------------------------
def test_colah_path_sum_is_one_times_two_plus_one_times_three():
    pm = analysis_of("colah-graph").paths
    sums = {str(s.leaf): s for s in pm.sums}
    b = sums["b"]
    assert [tuple(map(str, p.nodes)) for p in b.paths] == [("b", "c", "e"), ("b", "d", "e")]
    assert [p.values for p in b.paths] == [(1.0, 2.0), (1.0, 3.0)]
    assert b.total == 5.0 and sums["a"].total == 2.0
    tex = derivation_of("colah-graph").to_latex()
    assert r"\frac{\partial e}{\partial b} = 1 \cdot 2 + 1 \cdot 3 = 5" in tex
    assert r"b \to c \to e" in tex and r"b \to d \to e" in tex


def test_colah_forward_and_reverse_mode_tables():
    pm = analysis_of("colah-graph").paths
    assert [str(s) for s in pm.modes.leaves] == ["a", "b"]
    rows = {str(v): (t, r) for v, t, r in pm.modes.rows}
    # forward mode, the pass for b: d(node)/db for every node
    assert {v: t[1] for v, (t, _) in rows.items()} == {"a": 0.0, "b": 1.0, "c": 1.0, "d": 1.0, "e": 5.0}
    # reverse mode, one pass from e: de/d(node)
    assert {v: r for v, (_, r) in rows.items()} == {"a": 2.0, "b": 5.0, "c": 2.0, "d": 3.0, "e": 1.0}
    assert (pm.here.forward, pm.here.reverse) == (2, 1)
    assert (pm.million.forward, pm.million.reverse) == (MILLION, 1) == (1_000_000, 1)
    assert passes(7, 3).forward == 7 and passes(7, 3).reverse == 3


@pytest.mark.parametrize("name", GRAPHS)
def test_every_path_sum_and_both_modes_give_the_derived_gradients(name):
    a = analysis_of(name)
    pm = a.paths
    derived = {leaf.name: g for leaf, _, g, _ in a.example.gradients}
    rows = {str(v): (t, r) for v, t, r in pm.modes.rows}
    out_tangents = rows[str(pm.objective)][0]
    for i, leaf in enumerate(pm.modes.leaves):
        assert out_tangents[i] == pytest.approx(derived[leaf.name], rel=1e-12, abs=1e-15)  # forward
        assert rows[leaf.name][1] == pytest.approx(derived[leaf.name], rel=1e-12, abs=1e-15)  # reverse
    for s in pm.sums:
        assert s.total == pytest.approx(derived[s.leaf.name], rel=1e-12, abs=1e-15)  # paths
    assert pm.path_count == sum(len(s.paths) for s in pm.sums)


# --- the documents -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", GRAPHS)
def test_a_graph_that_trains_nothing_has_no_learning_rate_or_update(name):
    d = derivation_of(name)
    assert not d.updates and all(eq.kind != "update" for eq in d.equations)
    tex, md = d.to_latex(), d.to_markdown()
    for text in (tex, md):
        assert "gradient descent" not in text and "After one update" not in text
        assert r"\eta" not in text and r"\leftarrow" not in text
        assert "error term" not in text.lower()
        assert "Nothing is trained here" in text
    zh = d.to_latex("zh")
    assert "梯度下降" not in zh and "更新一次后" not in zh and "误差项" not in zh and "没有学习率" in zh


def test_graph_documents_use_the_tutorials_words():
    tex = derivation_of("cs231n-gates").to_latex()
    assert r"\section{Computational graph}" in tex
    for words in ("gradient distributor", "gradient swapper", "gradient router", "local gradient", "Paths and modes"):
        assert words in tex, words
    zh = derivation_of("cs231n-gates").to_latex("zh")
    assert r"\section{计算图}" in zh
    for words in ("梯度分发器", "梯度交换器", "梯度路由器", "局部梯度", "前向模式", "反向模式"):
        assert words in zh, words


def test_neuron_gates_document_shows_the_collapse_and_the_sigmoid_lemma():
    tex = derivation_of("cs231n-neuron-gates").to_latex()
    assert "From gates to one gate" in tex and "The two circuits give the same gradients." in tex
    assert "% verify: lemma" in tex and r"\frac{1 + e^{- x} - 1}{1 + e^{- x}}" in tex  # add and subtract 1
    assert re.search(r"\\partial (\\mathrm\{dot\}|dot)\} = f \\left\(1 - f\\right\) = 0\.1966\$: the same", tex)


def test_pass_counts_for_a_million_parameters_are_printed_in_both_languages():
    for lang in ("en", "zh"):
        text = derivation_of("colah-graph").to_latex(lang)
        assert "$1{,}000{,}000$" in text


# --- the multiply gate for matrices --------------------------------------------------------------
def test_matrix_product_rule_is_the_only_way_the_dimensions_work_out():
    from symbackprop.analysis.matrix_rule import matrix_product_rule

    rule = matrix_product_rule()  # CS231n's sizes: W 5 x 10, X 10 x 3
    assert rule.shapes == {"W": (5, 10), "X": (10, 3), "D": (5, 3)}
    dw, dx = rule.rules
    assert (dw.chosen.left, dw.chosen.right, dw.chosen.shape) == ("dD", "X^T", (5, 10))
    assert (dx.chosen.left, dx.chosen.right, dx.chosen.shape) == ("W^T", "dD", (10, 3))
    # the other product that conforms has the transposed size
    assert {c.shape for c in dw.candidates} == {(5, 10), (10, 5)}
    assert {c.shape for c in dx.candidates} == {(10, 3), (3, 10)}
    assert (dw.entries, dx.entries) == (50, 30)  # SymPy agrees on every entry


def test_square_matrices_leave_the_shapes_undecided():
    from symbackprop.analysis.matrix_rule import matrix_product_rule

    with pytest.raises(ValueError, match="products"):
        matrix_product_rule(3, 3, 3)


def test_graph_documents_with_a_multiply_gate_teach_the_matrix_rule():
    tex = derivation_of("colah-graph").to_latex()
    assert r"$dW = dD\,X^{T}$" in tex and r"$dX = W^{T}\,dD$" in tex
    assert "the only way the dimensions work out" in tex
    assert "维数只有这一种对得上" in derivation_of("colah-graph").to_latex("zh")


def test_a_graph_with_a_loss_is_trained_and_its_document_says_so_in_gradients():
    spec = (
        'inputs = ["x"]\ntargets = ["t"]\nloss = "(y - t)**2/2"\nlearning_rate = 0.1\n[parameters]\nw = 0.5\n'
        '[nodes]\nz = "w*x"\ny = "tanh(z)"\n[example]\nx = 1.0\nt = 0.3\n'
    )
    d = derive(load_spec_text(spec))
    assert set(d.updates) == {"w"}
    for text in (d.to_latex(), d.to_markdown()):
        assert "Gradient descent with learning rate $\\eta = 0.1$" in text and "After one update" in text
        assert "error term" not in text.lower() and "Nothing is trained" not in text
    zh = d.to_latex("zh")
    assert "误差项" not in zh
    assert "以学习率" in zh


def test_forward_mode_columns_are_cut_for_a_graph_with_many_leaves():
    from symbackprop.backends.graph_teaching import MODE_COLUMNS

    leaves = [f"a{i}" for i in range(MODE_COLUMNS + 2)]
    products = [f"a{i}*a{i + 1}" for i in range(0, len(leaves), 2)]
    spec = (
        f"inputs = {leaves!r}\n".replace("'", '"')
        + 'output = "f"\n[nodes]\n'
        + f'f = "{" + ".join(products)}"\n'
        + "[example]\n"
        + "".join(f"{leaf} = {i + 1}\n" for i, leaf in enumerate(leaves))
    )
    tex = derive(load_spec_text(spec)).to_latex()
    assert f"the first {MODE_COLUMNS} of the {MODE_COLUMNS + 2} leaves" in tex
    spec_line = next(line for line in tex.splitlines() if line.startswith(r"\begin{longtable}{l" + "r" * MODE_COLUMNS))
    assert spec_line == r"\begin{longtable}{l" + "r" * MODE_COLUMNS + r"@{\qquad}r}"
    assert "forward mode needs 8 passes" in tex


@st.composite
def random_graphs(draw):
    """A small graph of add, multiply, max, tanh and sigmoid gates over 2 to 4 inputs, every value
    used on the way to the output, with example values away from max's ties."""
    leaves = [f"x{i}" for i in range(draw(st.integers(2, 4)))]
    names, lines = list(leaves), []
    for k in range(draw(st.integers(2, 6))):
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        op = draw(st.sampled_from(["{a} + {b}", "{a}*{b}", "max({a}, {b})", "tanh({a})", "sigmoid({a}) + {b}"]))
        lines.append((f"n{k}", op.format(a=a, b=b)))
        names.append(f"n{k}")
    lines.append(("f", " + ".join(names[len(leaves) :] + leaves)))  # every value reaches the output
    values = draw(st.lists(st.integers(-20, 20), min_size=len(leaves), max_size=len(leaves), unique=True))
    spec = (
        f"inputs = {leaves!r}\n".replace("'", '"')
        + 'output = "f"\n[nodes]\n'
        + "".join(f'{n} = "{e}"\n' for n, e in lines)
        + "[example]\n"
        + "".join(f"{leaf} = {v / 7}\n" for leaf, v in zip(leaves, values))
    )
    return spec


@settings(max_examples=30, deadline=None)
@given(random_graphs())
def test_paths_forward_and_reverse_mode_agree_on_random_graphs(spec):
    d = derive(load_spec_text(spec)).inner
    a = analyse(d)
    assume(a.example.finite)
    derived = {leaf.name: g for leaf, _, g, _ in a.example.gradients}
    pm = a.paths
    rows = {str(v): (t, r) for v, t, r in pm.modes.rows}
    # sums in another order may cancel differently: the tolerance follows the size of the terms
    size = max([1.0] + [abs(x) for t, r in rows.values() for x in (*t, r)])
    size = max([size] + [abs(p.product) for s in pm.sums for p in s.paths])
    close = lambda x, y: x == pytest.approx(y, rel=1e-9, abs=1e-12 * size)
    for i, leaf in enumerate(pm.modes.leaves):
        assert close(rows["f"][0][i], derived[leaf.name])  # forward mode
        assert close(rows[leaf.name][1], derived[leaf.name])  # reverse mode
    sums = {s.leaf.name: s for s in pm.sums}
    assert pm.path_count == sum(len(s.paths) for s in pm.sums) or not pm.sums
    for name, s in sums.items():
        assert close(s.total, derived[name])
        for p in s.paths:
            assert str(p.nodes[0]) == name and str(p.nodes[-1]) == "f"
    for b in pm.branches:
        assert close(b.total, rows[b.variable.name][1])


def test_a_graph_with_an_output_trains_none_of_its_parameters(tmp_path):
    """output = "f" is not a loss: its parameters get gradients but no update rule, even when the
    spec does not list them as frozen (gradient descent on an output that is not a loss is wrong)."""
    spec = tmp_path / "out.toml"
    spec.write_text('inputs = ["x"]\noutput = "f"\n[parameters]\nw = 2.0\n[nodes]\nf = "w*x"\n[example]\nx = 1.5\n')
    d = derive(load_spec(str(spec)))
    assert d.gradients["w"] == sympy.Symbol("x", real=True)
    assert d.updates == {}
    assert r"\eta" not in d.to_latex() and r"\leftarrow" not in d.to_latex()


@pytest.mark.parametrize("fmt", ["tex", "md"])
def test_the_worked_example_puts_each_value_beside_its_own_gradient(fmt):
    """colah's e = (a + b)(b + 1) at a = 2, b = 1: each row is one node, its value and its own
    gradient (b: 1 and de/db = 5), not two unrelated columns; the output has no gradient cell."""
    d = derivation_of("colah-graph")
    text = d.to_latex() if fmt == "tex" else d.to_markdown()
    expected = {"a": ("2", "2"), "b": ("1", "5"), "c": ("3", "2"), "d": ("2", "3")}
    for node, (value, gradient) in expected.items():
        cells = [f"${node}$", f"${value}$", rf"$\frac{{\partial e}}{{\partial {node}}}$", f"${gradient}$"]
        row = " & ".join(cells) + r" \\" if fmt == "tex" else "| " + " | ".join(cells) + " |"
        assert row in text, (node, row)
    assert ("$e$ & $6$ &  &  \\\\" if fmt == "tex" else "| $e$ | $6$ |  |  |") in text
