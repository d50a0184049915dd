"""Regression tests for the bugs found while rebuilding the core, each named after its bug."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from symbackprop import LayeredNetwork, SpecError, derive, load_spec, load_spec_text
from symbackprop.analysis.gradcheck import check_derivation, import_source
from symbackprop.cli import main

MAXMIN = """inputs = ["x", "y"]
output = "f"
[parameters]
w = 1.5
[nodes]
top = "max(w*x, y, 0)"
low = "min(x, y)"
f = "top * low"
[example]
x = 2
y = 3
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_max_and_min_generate_code_that_runs_and_checks(tmp_path, capsys):
    spec = write(tmp_path, "maxmin.toml", MAXMIN)
    assert main(["check", spec]) == 0
    assert "PASS" in capsys.readouterr().out


def test_a_tie_splits_the_gradient_and_the_document_says_so(tmp_path):
    d = derive(load_spec(write(tmp_path, "maxmin.toml", MAXMIN)))
    m = import_source(d.to_numpy(), name="train_ties")
    values = {"x": 2.0, "y": 3.0, "w": 1.5}  # w x = y: max(w x, y, 0) has a tie
    grads = m.backward(values, inputs=True)
    # d top/dx = w H(0) = w/2 and d top/dy = H(0) = 1/2; low = min(x, y) = x has no tie
    assert grads["x"] == pytest.approx(3.0 * 1.0 + 2.0 * 1.5 * 0.5)
    assert grads["y"] == pytest.approx(2.0 * 0.5)
    assert "each gets half of the gradient" in d.to_latex()


def test_check_of_a_wide_softmax_network_passes_within_its_time_limit(tmp_path, capsys):
    spec = '[mlp]\nsizes = [784, 128, 64, 10]\nactivations = ["relu", "relu", "softmax"]\nloss = "cross_entropy"\n'
    assert main(["check", write(tmp_path, "big.toml", spec), "--time-limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "W1" in out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_of_a_wide_sigmoid_network_has_no_false_failure(seed):
    net = LayeredNetwork("sig60", (60, 60, 2), ("sigmoid", "sigmoid"), "squared_error")
    d = derive(net)
    report = check_derivation(d.inner, import_source(d.to_numpy(), name="train_sig60"), points=2, seed=seed)
    assert report.passed, report.table()


@pytest.mark.parametrize("acts", [("relu", "elu", "softmax"), ("leaky_relu", "relu", "identity")])
def test_check_samples_away_from_kinks(acts):
    loss = "cross_entropy" if acts[-1] == "softmax" else "squared_error"
    d = derive(LayeredNetwork("kinks", (4, 6, 5, 3), acts, loss))
    report = check_derivation(d.inner, import_source(d.to_numpy(), name="train_kinks"), points=4)
    assert report.passed, report.table()


def test_check_without_a_finite_point_fails_with_a_message(tmp_path, capsys):
    spec = 'inputs = ["x"]\noutput = "f"\n[nodes]\nf = "log(-x*x - 1)"\n'
    assert main(["check", write(tmp_path, "nowhere.toml", spec)]) == 1
    out, err = capsys.readouterr()
    assert "no random point with a finite objective" in out and "Traceback" not in out + err


def test_check_leaves_no_files_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["check", "cs231n-neuron"]) == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("example", "field", "problem"),
    [
        ("x = [[1, 2]]\nt = [[0.3, 0.3]]", "example.t[0]", "sum to 1"),
        ("x = [1, 2]\nt = [[1.0, 0.0]]", "example.x", "flat list"),
    ],
)
def test_bad_example_data_names_the_field(tmp_path, capsys, example, field, problem):
    spec = f'[mlp]\nsizes = [2, 2]\nactivations = ["softmax"]\nloss = "cross_entropy"\n[example]\n{example}\n'
    assert main(["derive", write(tmp_path, "bad.toml", spec), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f": {field}: " in err and problem in err
    assert not (tmp_path / "out").exists()


def test_an_example_must_give_every_input(tmp_path, capsys):
    spec = 'inputs = ["x", "y"]\noutput = "f"\n[nodes]\nf = "x * y"\n[example]\nx = 2\n'
    assert main(["derive", write(tmp_path, "missing.toml", spec), "-o", str(tmp_path / "out")]) == 2
    assert ": example.y: missing" in capsys.readouterr().err


def test_outputs_respect_the_umask_and_default_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        assert main(["derive", "fc-3-2-2"]) == 0
    finally:
        os.umask(old)
    for name in ("train.py", "derivation.tex"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_one_output_that_cannot_be_written_means_none_is(tmp_path, capsys):
    (tmp_path / "derivation.tex").mkdir()
    assert main(["derive", "fc-3-2-2", "-o", str(tmp_path)]) == 2
    assert "derivation.tex" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["derivation.tex"]


def test_a_softmax_output_layer_of_one_unit_derives(tmp_path):
    spec = '[mlp]\nsizes = [3, 1]\nactivations = ["softmax"]\nloss = "cross_entropy"\n[example]\nx = [[0.1, 0.2, 0.3]]\nt = [[1.0]]\n'
    assert main(["derive", write(tmp_path, "one.toml", spec), "-o", str(tmp_path / "out")]) == 0


WILD = """inputs = ["x"]
output = "f"
[nodes]
a = "x ** 1.5"
b = "1/x"
c = "x ** 1000"
d = "log(123456789012345678901) * x"
f = "a + b + c + d"
[example]
x = -1
"""


def test_worked_example_arithmetic_is_float64_and_reports_what_is_not_finite(tmp_path):
    """Python scalars gave a complex number, ZeroDivisionError, OverflowError and a ufunc
    TypeError here; NumPy gives nan and inf, and the document says so."""
    out = subprocess.run(
        [sys.executable, "-m", "symbackprop", "derive", write(tmp_path, "wild.toml", WILD), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and out.stderr == ""
    tex = (tmp_path / "o" / "derivation.tex").read_text()
    assert r"\mathrm{undefined}" in tex and "not finite numbers" in tex
    m = import_source((tmp_path / "o" / "train.py").read_text(), name="train_wild")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nan with a RuntimeWarning, as NumPy has it
        assert np.isnan(m.loss({"x": -1.0}))
        assert np.isfinite(m.loss({"x": 1.0}))


@pytest.mark.parametrize("expression", ["sqrt(-1)", "log(-2) * x", "x + (-8) ** 0.5"])
def test_constants_that_are_not_real_are_refused(expression):
    with pytest.raises(SpecError, match="not a real number"):
        load_spec_text(f'inputs = ["x"]\noutput = "f"\n[nodes]\nf = "{expression}"\n')


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MAXMIN.encode())
    assert load_spec(path).name == "bom"


@pytest.mark.parametrize("name", ["eta", "lr", "grads", "values", "shape", "dict", "softmax"])
def test_names_the_module_uses_itself_are_refused(name):
    spec = f'inputs = ["x"]\noutput = "f"\n[parameters]\n{name} = 0.5\n[nodes]\nf = "{name} * x"\n'
    with pytest.raises(SpecError, match="reserved"):
        load_spec_text(spec)


def test_integers_beyond_int64_inside_functions_compute_as_numpy_would(tmp_path):
    big = "123456789012345678901234"
    spec = (
        'inputs = ["x"]\noutput = "f"\n[nodes]\n'
        f'f = "exp(x) * log({big}) + tanh({big}) + sigmoid({big} * x) + sqrt({big}) * x"\n'
        "[example]\nx = 0.5\n"
    )
    d = derive(load_spec(write(tmp_path, "big.toml", spec)))
    m = import_source(d.to_numpy(), name="train_bigint")
    assert np.isfinite(m.loss({"x": 0.5}))
    assert np.isfinite(m.backward({"x": 0.5}, inputs=True)["x"])


def test_the_python_api_validates_example_data_too():
    from symbackprop import GraphNetwork, NetworkError, real

    with pytest.raises(NetworkError, match="rows of 3 numbers"):
        LayeredNetwork("flat", (3, 2), ("sigmoid",), "squared_error", example={"x": [0.1, 0.2, 0.3], "t": [[1.0, 0.0]]})
    x, y, f = real("x"), real("y"), real("f")
    with pytest.raises(NetworkError, match="no value to y"):
        GraphNetwork(name="g", inputs=(x, y), nodes={f: x * y}, objective=f, example={x: 1.0})


def test_the_readme_command_runs_twice_in_the_same_folder(tmp_path, monkeypatch):
    """`derive fc-3-2-2 -o fc-3-2-2` makes a folder named like the example; a second run must
    still read the built-in example, not take the folder for a spec (it did: 'no such file')."""
    from symbackprop.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["derive", "fc-3-2-2", "-o", "fc-3-2-2"]) == 0
    assert (tmp_path / "fc-3-2-2").is_dir()
    assert main(["derive", "fc-3-2-2", "-o", "fc-3-2-2"]) == 0
