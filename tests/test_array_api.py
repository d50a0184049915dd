"""The generated module on every array library: the bare standard, NumPy, PyTorch, JAX.

Each module takes its namespace from the arrays it is given. Under array-api-strict (the
standard and nothing more) and PyTorch (CPU, through array-api-compat) its forward, backward and
step must agree with NumPy's to 1e-12 in float64; float32 in must stay float32 out. The networks
are the built-in examples and, from the registry, one per activation and one per valid
(output activation, loss) pair. ``--target jax`` jit-compiles ``step`` and must agree too.
"""

from __future__ import annotations

import subprocess
import sys

import array_api_strict
import numpy as np
import pytest
import torch
from conftest import EXAMPLES, module_of

from symbackprop import LayeredNetwork, SpecError, derive, load_spec_text
from symbackprop.analysis.gradcheck import import_source, random_values
from symbackprop.registry import ACTIVATIONS, LOSSES

HIDDEN = sorted(n for n, a in ACTIVATIONS.items() if not a.vector)


def _valid(act: str, loss: str) -> bool:
    try:
        load_spec_text(f'[mlp]\nsizes = [2, 2]\nactivations = ["{act}"]\nloss = "{loss}"\n')
    except SpecError:
        return False
    return True


PAIRS = [(a, lo) for a in sorted(ACTIVATIONS) for lo in sorted(LOSSES) if _valid(a, lo)]
NETWORKS = [LayeredNetwork(f"h-{a}", (3, 4, 2), (a, "identity"), "squared_error", weight_decay=0.1) for a in HIDDEN]
NETWORKS += [LayeredNetwork(f"o-{a}-{lo}", (3, 4, 3), ("tanh", a), lo, weight_decay=0.05) for a, lo in PAIRS]


def _module(net: LayeredNetwork):
    return import_source(derive(net).to_numpy(), name=f"train_xp_{net.name.replace('-', '_')}")


def _convert(values: dict, to):
    return {k: to(np.asarray(v, dtype=float)) for k, v in values.items()}


BACKENDS = {
    "array-api-strict": lambda a: array_api_strict.asarray(a),
    "torch": lambda a: torch.asarray(a),
}


def _same(got, want, name):
    got = np.asarray(got)
    np.testing.assert_allclose(got, np.asarray(want, dtype=float), rtol=1e-12, atol=1e-14, err_msg=name)


def _agree(module, values: dict, backend: str):
    converted = _convert(values, BACKENDS[backend])
    want_f, want_b, want_s = module.forward(values), module.backward(values, inputs=True), module.step(values)
    got_f, got_b, got_s = module.forward(converted), module.backward(converted, inputs=True), module.step(converted)
    for table, got, want in (("forward", got_f, want_f), ("backward", got_b, want_b), ("step", got_s, want_s)):
        assert set(got) == set(want), table
        for key in want:
            _same(got[key], want[key], f"{table}[{key}] on {backend}")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: n.name)
def test_layered_modules_agree_with_numpy(net, backend):
    values = random_values(net, np.random.default_rng(3), batch=4)
    _agree(_module(net), values, backend)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("name", EXAMPLES)
def test_builtin_examples_agree_with_numpy(name, backend):
    module = module_of(name)
    values = {k: np.full((3,), v) if np.ndim(v) == 0 else v for k, v in module.initial_values().items()}
    _agree(module, values, backend)


@pytest.mark.parametrize("net", NETWORKS[:4] + NETWORKS[-4:], ids=lambda n: n.name)
@pytest.mark.parametrize("to", ["numpy", "torch"])
def test_float32_stays_float32(net, to):
    module = _module(net)
    values = random_values(net, np.random.default_rng(4), batch=5)
    single = {k: np.asarray(v, dtype=np.float32) for k, v in values.items()}
    if to == "torch":
        single = {k: torch.asarray(v) for k, v in single.items()}
    kind = np.float32 if to == "numpy" else torch.float32
    for table in (module.forward(single), module.backward(single, inputs=True), module.step(single)):
        for key, value in table.items():
            assert value.dtype == kind, (key, value.dtype)


def test_step_runs_one_forward_pass(monkeypatch):
    """step computes the objective itself; train does not call loss or forward."""
    net = NETWORKS[0]
    module = _module(net)
    values = random_values(net, np.random.default_rng(5))

    def forbidden(values):
        raise AssertionError("a second forward pass")

    monkeypatch.setattr(module, "forward", forbidden)
    monkeypatch.setattr(module, "loss", forbidden)
    _, losses = module.train(values, epochs=3)
    assert len(losses) == 3 and losses[-1] < losses[0]


JAX_SCRIPT = """
import sys
import jax
import numpy as np
jax.config.update("jax_enable_x64", True)
from symbackprop import LayeredNetwork, derive
from symbackprop.analysis.gradcheck import import_source, random_values

net = LayeredNetwork("j", (3, 4, 3), ("tanh", "softmax"), "cross_entropy", weight_decay=0.05)
d = derive(net)
assert "step = jax.jit(step)" in d.to_numpy("jax")
module = import_source(d.to_numpy("jax"), name="train_jax_target")
values = random_values(net, np.random.default_rng(6), batch=4)
reference = import_source(d.to_numpy(), name="train_jax_reference").step(values)
for _ in range(2):  # the second call runs the compiled step
    got = module.step({k: jax.numpy.asarray(v) for k, v in values.items()})
for key in reference:
    np.testing.assert_allclose(np.asarray(got[key]), reference[key], rtol=1e-12, atol=1e-14, err_msg=key)
print("agree")
"""


def test_jax_target_jit_compiles_step_and_agrees():
    """In a process of its own: JAX starts threads, and the grading tests fork."""
    pytest.importorskip("jax", reason="the jax target is tested where JAX is installed (pip install jax)")
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "agree", result.stderr[-2000:]


def test_numpy_namespace_reductions_are_numpys_own():
    """The generated module's NumPy namespace takes sum and max from the ufuncs: same bits."""
    from symbackprop.backends.runtime import NUMPY, array_namespace

    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        a = rng.normal(size=(37, 53)).astype(dtype)
        assert array_namespace(a) is NUMPY and array_namespace(1.5, 2) is NUMPY
        assert NUMPY.sum(a, axis=None) == np.sum(a) and NUMPY.sum(a, axis=None).dtype == dtype
        np.testing.assert_array_equal(NUMPY.sum(a, axis=0), np.sum(a, axis=0))
        np.testing.assert_array_equal(NUMPY.max(a, axis=-1, keepdims=True), np.max(a, axis=-1, keepdims=True))
        np.testing.assert_array_equal(NUMPY.reshape(a, (-1,)), np.reshape(a, (-1,)))
