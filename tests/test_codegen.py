"""Properties of the generated train.py: formatted, NumPy only, deterministic, numbered, usable."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, derivation_of, module_of

from symbackprop import LayeredNetwork
from symbackprop.analysis.gradcheck import check_derivation, import_source


def test_generated_code_is_ruff_formatted(example):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    source = derivation_of(example).to_numpy()
    result = subprocess.run([ruff, "format", "--diff", "--isolated", "-"], input=source, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_imports_numpy_only(example):
    """At module level NumPy (and the standard library's math); array-api-compat only inside
    array_namespace, for arrays that need it (PyTorch)."""
    tree = ast.parse(derivation_of(example).to_numpy())
    top = [(a.name, a.asname) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names]
    assert set(top) <= {("numpy", "np"), ("math", None), ("types", None)} and ("numpy", "np") in top
    nested = [
        (f.name, a.name)
        for f in tree.body
        if isinstance(f, ast.FunctionDef)
        for n in ast.walk(f)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    ]
    assert nested == [("array_namespace", "array_api_compat")]


def test_every_cited_equation_exists_and_every_code_equation_is_cited(example):
    d = derivation_of(example)
    code, tex = d.to_numpy(), d.to_latex()
    cited = [int(n) for n in re.findall(r"# eq\. \((\d+)\)", code)]
    tagged = {int(n) for n in re.findall(r"\\tag\{(\d+)\}", tex)}
    assert cited and set(cited) <= tagged
    level = "tensor" if isinstance(d.network, LayeredNetwork) else "unit"
    implemented = {eq.number for eq in d.equations if eq.level == level}
    assert set(cited) == implemented == set(d.module().locations)


def test_equation_lines_compute_what_their_equation_defines(example):
    d = derivation_of(example)
    code = d.to_numpy()
    by_number = {eq.number: eq for eq in d.equations}
    for match in re.finditer(r"^\s*(?:# eq\. \((\d+)\)\n\s*)?([\w\[\]\"]+) = .*?(?:# eq\. \((\d+)\))?$", code, re.M):
        number = match.group(1) or match.group(3)
        if number:
            eq = by_number[int(number)]
            name = eq.target.name
            allowed = {name, eq.lhs.name, f"log_{name}", f"sum_{name}", f'new["{name}"]', f'grads["{name}"]'}
            assert match.group(2) in allowed, (number, match.group(2))


def test_line_map_points_at_the_lines_that_cite_each_equation(example):
    module = derivation_of(example).module()
    lines = module.text.splitlines()
    for number, places in module.locations.items():
        for function, line in places:
            text = lines[line - 1] if f"eq. ({number})" in lines[line - 1] else lines[line - 2]
            assert f"eq. ({number})" in text, (number, function, line)
            owner = next(i for i in range(line - 1, -1, -1) if lines[i].startswith("def "))
            assert lines[owner].startswith(f"def {function}("), (number, function, line)


def test_output_is_byte_identical_across_processes(tmp_path):
    script = (
        "import sys; from symbackprop import derive, load_spec\n"
        "d = derive(load_spec(sys.argv[1])); sys.stdout.write(d.to_numpy() + d.to_latex())\n"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outputs.add(
            subprocess.run(
                [sys.executable, "-c", script, "fc-3-2-2-softmax"], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    assert len(outputs) == 1


def test_script_mode_trains_and_prints_the_loss(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(derivation_of("fc-3-2-2").to_numpy())
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True).stdout
    losses = [float(line.split()[-1]) for line in out.splitlines()]
    assert len(losses) == 20 and losses[-1] < losses[0]


def test_module_contract_layered():
    m = module_of("ufldl-3-3-1")
    assert m.PARAMETERS == ("W1", "b1", "W2", "b2") and m.INPUTS == ("x",) and m.TARGETS == ("t",)
    values = m.initial_values()
    assert values["W1"].shape == (3, 3) and values["b1"].shape == (3,) and values["W2"].shape == (1, 3)
    f, b = m.forward(values), m.backward(values, inputs=True)
    assert {"z2", "a2", "z3", "a3", "J"} <= set(f)
    for leaf in ("x", *m.PARAMETERS):
        assert np.shape(b[leaf]) == np.shape(values[leaf])
    assert {"delta_z2", "delta_z3"} <= set(b)
    assert "x" not in m.backward(values)  # input gradients only when asked
    stepped = m.step(values, lr=0.1)
    np.testing.assert_allclose(stepped["W1"], values["W1"] - 0.1 * b["W1"], rtol=1e-13)
    assert stepped["J"] == pytest.approx(m.loss(values), rel=1e-15)  # the objective before the update
    assert stepped["x"] is values["x"]
    trained, losses = m.train(values, epochs=5)
    assert len(losses) == 5 and losses[-1] < losses[0] and isinstance(losses[0], float)
    assert losses[0] == pytest.approx(m.loss(values), rel=1e-15)


def test_module_contract_graph_floats_and_arrays():
    m = module_of("cs231n-neuron")
    values = m.initial_values()
    assert isinstance(m.loss(values), float) and isinstance(m.backward(values)["w0"], float)
    batch = {**values, "x0": np.array([-1.0, 0.5, 2.0])}
    grads = m.backward(batch, inputs=True)
    assert grads["x0"].shape == (3,) and isinstance(grads["w0"], float)
    # Averaged objective: the gradient with respect to w0 is the mean of the per-element ones.
    singles = [m.backward({**values, "x0": float(v)})["w0"] for v in batch["x0"]]
    assert grads["w0"] == pytest.approx(np.mean(singles))


def test_frozen_parameter_is_left_alone_by_step(tmp_path):
    spec = tmp_path / "frozen.toml"
    spec.write_text(
        'inputs = ["x"]\ntargets = ["t"]\nfrozen = ["v"]\nloss = "(y - t)**2/2"\n'
        '[parameters]\nw = 0.5\nv = 2.0\n[nodes]\ny = "v*tanh(w*x)"\n[example]\nx = 1.0\nt = 0.3\n'
    )
    from symbackprop import derive, load_spec

    m = import_source(derive(load_spec(spec)).to_numpy(), name="train_frozen")
    values = m.initial_values()
    new = m.step(values)
    assert m.TRAINABLE == ("w",) and new["v"] == values["v"] and new["w"] != values["w"]


def test_layered_code_is_stable_at_large_pre_activations():
    for name in ("fc-3-2-2", "fc-3-2-2-softmax", "ufldl-3-3-1"):
        m = module_of(name)
        values = m.initial_values()
        values = {
            **values,
            "x": values["x"] * 0 + 1.0,
            "W1": np.full_like(values["W1"], 400.0),
            "W2": np.full_like(values["W2"], -1000.0),
        }
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            loss = m.loss(values)
            grads = m.backward(values)
        assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("name", EXAMPLES)
def test_gradient_check_passes_on_builtin_examples(name):
    report = check_derivation(derivation_of(name).inner, module_of(name), points=3)
    assert report.passed, report.table()


def test_gradient_check_catches_a_wrong_gradient():
    """The check must be able to fail: perturb one gradient by 1e-5 relative."""
    name = "fc-3-2-2"
    module = import_source(derivation_of(name).to_numpy(), name="train_broken")
    original = module.backward

    def broken(values, inputs=False):
        grads = dict(original(values, inputs))
        grads["W2"] = grads["W2"] * (1 + 1e-5)
        return grads

    module.backward = broken
    report = check_derivation(derivation_of(name).inner, module, points=1)
    assert not report.passed
    assert {r.leaf for r in report.rows if r.numeric > 1e-7} == {"W2"}


@pytest.mark.parametrize("name", ["fc-3-2-2", "cs231n-neuron"])
def test_the_jax_module_and_its_document_agree_on_lines(name):
    d = derivation_of(name)
    module = d.module("jax")
    lines = module.text.splitlines()
    assert "step = jax.jit(step)" in lines
    for number, places in module.locations.items():
        for _, line in places:
            assert f"eq. ({number})" in lines[line - 1] + lines[line - 2]
    tex = d.to_latex(target="jax")
    first = min(module.locations)
    function, line = module.locations[first][0]
    assert f"\\texttt{{{function}}}~{line}" in tex
