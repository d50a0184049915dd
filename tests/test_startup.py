"""Start-up: a ``verify`` process imports what judging needs and nothing else.

A grader may run ``symbackprop verify`` once per answer, so most of such a process used to be
imports. Each command imports its own modules (cli.py), ``import symbackprop`` imports none of
the layers (PEP 562 attributes), and verify's path must never reach Jinja, the printers, the
documents, the PDF compiler, the gradient checker, or the array libraries. The wall time itself
is measured by ``python -X importtime`` and ``time`` (see the README), never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

NEVER_ON_VERIFY = (
    "jinja2",
    "symbackprop.api",
    "symbackprop.backends",
    "symbackprop.analysis.gradcheck",
    "symbackprop.analysis.consistency",
    "symbackprop.calculus.teaching",
    "torch",
    "jax",
    "distributed",
    "dask",
)


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (which must not print)."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env={**os.environ}, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def reached(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "fc-3-2-2", "--answer", r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)"],
        ["verify", "ufldl-3-3-1", "--answer", r"\delta^{(3)} = (a^{(3)} - y) a^{(3)} (1 - a^{(3)})", "--json"],
    ],
    ids=["fc", "ufldl-json"],
)
def test_verify_imports_no_backend(argv):
    code = f"import contextlib, io\nfrom symbackprop.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n    main({argv!r})"
    modules = modules_after(code)
    assert "symbackprop.verify.check" in modules  # it did run the checker
    assert not reached(modules, NEVER_ON_VERIFY)


def test_import_symbackprop_imports_no_layer():
    modules = modules_after("import symbackprop")
    assert not reached(modules, ("sympy", "numpy", "symbackprop.core", "symbackprop.api", "symbackprop.calculus"))
    modules = modules_after("from symbackprop import load_spec")
    assert "symbackprop.core.spec" in modules and not reached(modules, ("symbackprop.api", "jinja2"))


def test_public_names_still_resolve():
    import symbackprop

    assert set(symbackprop.__all__) <= set(dir(symbackprop))
    for name in symbackprop.__all__:
        assert getattr(symbackprop, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = symbackprop.nothing_here


def test_examples_and_help_import_no_sympy():
    code = "import contextlib, io\nfrom symbackprop.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n    main(['examples'])"
    assert not reached(modules_after(code), ("sympy", "numpy", "jinja2"))


def test_derive_help_lists_the_backend_choices(capsys):
    from symbackprop.cli import main

    with pytest.raises(SystemExit):
        main(["derive", "--help"])
    out = capsys.readouterr().out
    assert "numpy, jax" in out and "en, zh" in out


def test_a_verify_process_flushes_its_verdict_before_it_ends(tmp_path):
    """The process skips the interpreter's teardown (os._exit): the output and the status must be whole."""
    answers = {r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)": 0, r"\delta_6 = (t_6 - y_6) y_6 (1 - y_6)": 1}
    for answer, status in answers.items():
        proc = subprocess.run(
            [sys.executable, "-m", "symbackprop", "verify", "fc-3-2-2", "--answer", answer, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == status and proc.stderr == ""
        assert proc.stdout.endswith("}\n") and json.loads(proc.stdout)["verdict"] in ("correct", "incorrect")
