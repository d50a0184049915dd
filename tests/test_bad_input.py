"""Bad input to ``symbackprop derive``: exit status 2, one line naming the file and the field.

The contract (from the issue): each bad spec exits 2 with exactly one line on stderr,
``symbackprop: error: <file>: <field>: <problem>``, no traceback, and no output file
written.  Expressions are untrusted text and must never be executed.  The corpus below is
one table of ``(id, spec, field, problem)``: ``spec`` is TOML text, raw bytes (written as
is) or ``None`` (the path does not exist); ``field`` must occur in the field part of the
message and ``problem`` is a case-insensitive regular expression searched in the problem
part, so the expectations follow the contract rather than the exact wording.

"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from symbackprop import cli
from symbackprop.cli import main
from symbackprop.core.examples import example_names

EXAMPLES = [
    "colah-graph",
    "cs231n-circuit",
    "cs231n-gates",
    "cs231n-neuron",
    "cs231n-neuron-gates",
    "cs231n-staged",
    "d2l-mlp",
    "fc-3-2-2",
    "fc-3-2-2-softmax",
    "ufldl-3-3-1",
]
PREFIX = "symbackprop: error: "
PWNED = "touch pwned"  # every injection payload runs this in the test's cwd (tmp_path) if executed


# --- spec builders ---------------------------------------------------------------------------
def expr_spec(nodes: str = 'f = "x * w + y"', top: str = 'output = "f"', tail: str = "") -> str:
    """An expression-form spec; ``top`` goes before the first table, ``tail`` after [nodes]."""
    return (
        'inputs = ["x", "y"]\n'
        "targets = []\n"
        "learning_rate = 0.1\n"
        f"{top}\n"
        "[parameters]\n"
        "w = 1.0\n"
        "[nodes]\n"
        f"{nodes}\n"
        f"{tail}"
    )


def node(expression: str, name: str = "f") -> str:
    """Expression-form spec whose single node ``f`` is ``expression`` (a TOML literal string)."""
    return expr_spec(f"{name} = '''{expression}'''")


def mlp_spec(
    sizes: str = "[3, 2, 2]",
    activations: str = '["sigmoid", "sigmoid"]',
    loss: str = '"squared_error"',
    extra: str = "",
    top: str = "",
    tail: str = "",
) -> str:
    """A layered spec; ``extra`` lines go inside [mlp], ``top`` before it, ``tail`` after it."""
    return f"{top}\n[mlp]\nsizes = {sizes}\nactivations = {activations}\nloss = {loss}\n{extra}\n{tail}"


IMPORT_PAYLOAD = f"__import__('os').system('{PWNED}')"
LONG_EXPRESSION = "x" + "+x" * 5000  # 10,001 characters
assert len(LONG_EXPRESSION) == 10_001
NESTED_5000 = "(" * 5000 + "x" + ")" * 5000  # over both the depth and the length limit
NESTED_250 = "(" * 250 + "x" + ")" * 250  # under the length limit, over the depth limit
CALLS_250 = "exp(" * 250 + "x" + ")" * 250
UNARY_300 = "-" * 300 + "x"
POWER_TOWER_300 = "**".join(["x"] * 300)

# (id, spec, expected field substring, expected problem regex[, marks])
CASES = [
    # --- TOML and the file itself ------------------------------------------------------------
    ("toml-syntax-error", 'inputs = ["x", "y"\noutput = "f"\n', "toml", r"syntax|invalid|expected"),
    ("toml-unterminated-string", 'title = "abc\n', "toml", r"syntax|illegal|unclosed|invalid"),
    ("toml-duplicate-key", expr_spec(top='output = "f"\noutput = "g"'), "toml", r"syntax|overwrite|duplicate|defined"),
    ("binary-junk", b"\xff\xfe\x00\x81junk\x9c\x00\xc3\x28 = 1\n", "spec", r"utf-?8|decode|binary|encoding|read"),
    ("nul-bytes-utf8", b"inputs = [\x00\x01\x02]\n", "toml", r"syntax|illegal|invalid"),
    ("empty-file", "", "nodes", r"missing|empty|no nodes"),
    ("nonexistent-path", None, "spec", r"no such file|not found|does not exist"),
    pytest.param("toml-nested-arrays-5000", "a = " + "[" * 5000 + "]" * 5000 + "\n", "toml", r"nest|deep|syntax"),
    # --- unknown fields and wrong types --------------------------------------------------------
    ("unknown-top-level-field", expr_spec(top='output = "f"\ncolour = "red"'), "colour", r"unknown"),
    ("unknown-mlp-field", mlp_spec(extra="depth = 3"), "mlp.depth", r"unknown"),
    ("sizes-is-a-string", mlp_spec(sizes='"3"'), "mlp.sizes", r"expected|list"),
    ("sizes-zero-units", mlp_spec(sizes="[3, 0, 2]"), "mlp.sizes", r"expected|whole|1"),
    ("sizes-float", mlp_spec(sizes="[3.5, 2, 2]"), "mlp.sizes", r"expected|whole"),
    ("sizes-single-layer", mlp_spec(sizes="[3]", activations="[]"), "mlp.sizes", r"at least two|expected"),
    (
        "learning-rate-is-a-string",
        expr_spec().replace("learning_rate = 0.1", 'learning_rate = "fast"'),
        "learning_rate",
        r"number",
    ),
    ("learning-rate-nan", mlp_spec(top="learning_rate = nan"), "learning_rate", r"finite|number"),
    ("inputs-not-a-list", expr_spec().replace('inputs = ["x", "y"]', 'inputs = "x"'), "inputs", r"list"),
    ("nodes-not-a-table", 'inputs = ["x"]\noutput = "f"\nnodes = "x"\n', "nodes", r"table|expected"),
    ("node-not-a-string", expr_spec("f = 3"), "nodes.f", r"expression|string|quotes"),
    ("output-not-a-string", expr_spec(top="output = 3"), "output", r"string|expected"),
    (
        "parameter-not-a-number",
        expr_spec(top='output = "f"').replace("w = 1.0", 'w = "one"'),
        "parameters.w",
        r"number",
    ),
    ("bias-not-a-bool", mlp_spec(extra='bias = "yes"'), "mlp.bias", r"true or false|bool|expected"),
    pytest.param("epochs-is-a-string", mlp_spec(top='epochs = "many"'), "epochs", r"number|whole|expected"),
    # --- expression form: structure -------------------------------------------------------------
    ("empty-nodes-table", expr_spec(""), "nodes", r"no nodes|empty"),
    ("missing-nodes-table", 'inputs = ["x"]\noutput = "f"\n', "nodes", r"missing"),
    ("neither-loss-nor-output", expr_spec(top=""), "loss", r"exactly one|either"),
    ("both-loss-and-output", expr_spec(top='output = "f"\nloss = "f * f"'), "loss", r"exactly one|either"),
    ("output-names-an-input", expr_spec(top='output = "x"'), "output", r"not a node"),
    ("output-names-nothing", expr_spec(top='output = "nothing"'), "output", r"not a node"),
    ("frozen-names-non-parameter", expr_spec(top='output = "f"\nfrozen = ["x"]'), "frozen", r"not a parameter"),
    ("frozen-names-unknown", expr_spec(top='output = "f"\nfrozen = ["nope"]'), "frozen", r"not a parameter"),
    (
        "duplicate-input-and-parameter",
        expr_spec().replace('inputs = ["x", "y"]', 'inputs = ["x", "w"]'),
        "parameters",
        r"twice|duplicate",
    ),
    (
        "duplicate-input",
        expr_spec().replace('inputs = ["x", "y"]', 'inputs = ["x", "y", "x"]'),
        "inputs",
        r"twice|duplicate",
    ),
    ("node-redefines-input", expr_spec('x = "y * w"\nf = "x"'), "nodes.x", r"already|input"),
    ("node-redefines-parameter", expr_spec('w = "x"\nf = "w"'), "nodes.w", r"already|parameter"),
    ("reserved-name-np-as-node", expr_spec('np = "x"\nf = "np"'), "nodes.np", r"reserved"),
    (
        "reserved-name-sigmoid-as-input",
        expr_spec().replace('inputs = ["x", "y"]', 'inputs = ["x", "y", "sigmoid"]'),
        "inputs[2]",
        r"reserved",
    ),
    (
        "reserved-name-lambda-as-parameter",
        expr_spec(top='output = "f"').replace("w = 1.0", "w = 1.0\nlambda = 0.5"),
        "parameters.lambda",
        r"reserved",
    ),
    ("keyword-as-node", expr_spec('class = "x"\nf = "x"'), "nodes.class", r"reserved|not a valid"),
    ("dunder-class-as-node", expr_spec('__class__ = "x"\nf = "x"'), "nodes.__class__", r"reserved|not a valid|__"),
    (
        "dunder-name-as-input",
        expr_spec().replace('inputs = ["x", "y"]', 'inputs = ["x", "y", "a__b"]'),
        "inputs[2]",
        r"reserved|not a valid|__",
    ),
    (
        "payload-as-input-name",
        expr_spec().replace('inputs = ["x", "y"]', f'inputs = ["x", "y", "{IMPORT_PAYLOAD}"]'),
        "inputs[2]",
        r"not a valid|reserved",
    ),
    ("unicode-lookalike-node-name", expr_spec('"\u0444" = "x"\nf = "x"'), "nodes.", r"not a valid"),
    ("example-unknown-name", expr_spec(tail="[example]\nbogus = 1\n"), "example.bogus", r"not an input|unknown"),
    ("example-names-a-node", expr_spec(tail="[example]\nf = 1\n"), "example.f", r"not an input|unknown"),
    ("example-not-a-number", expr_spec(tail='[example]\nx = "two"\n'), "example.x", r"number"),
    # --- expression form: expressions ------------------------------------------------------------
    ("undefined-symbol", node("x + bogus"), "nodes.f", r"undefined.*bogus|bogus.*undefined"),
    ("undefined-symbol-in-loss", expr_spec(top='loss = "f * zzz"'), "loss", r"undefined.*zzz"),
    ("node-uses-itself", expr_spec('f = "f + x"'), "nodes.f", r"itself"),
    ("node-uses-later-node", expr_spec('q = "f + x"\nf = "x * w"'), "nodes.q", r"before|later|'f'"),
    ("unknown-function-as-loss", expr_spec(top='loss = "mse(f, y)"'), "loss", r"unknown function|mse"),
    ("unknown-function-exec-string", node('exec("1")'), "nodes.f", r"string|unknown function|not allowed"),
    ("unknown-function-exec", node("exec(x)"), "nodes.f", r"unknown function.*exec"),
    ("unknown-function-eval", node("eval(x)"), "nodes.f", r"unknown function.*eval"),
    ("unknown-function-open", node("open(x)"), "nodes.f", r"unknown function.*open"),
    ("unknown-function-getattr", node("getattr(x, y)"), "nodes.f", r"unknown function.*getattr"),
    ("function-not-called", node("exp + x"), "nodes.f", r"called|function"),
    ("wrong-arity", node("exp(x, y)"), "nodes.f", r"argument"),
    ("import-payload", node(IMPORT_PAYLOAD), "nodes.f", r"__|not allowed"),
    ("import-payload-in-loss", expr_spec(top=f"loss = '''{IMPORT_PAYLOAD}'''"), "loss", r"__|not allowed"),
    ("eval-payload", node(f'eval("{IMPORT_PAYLOAD}")'), "nodes.f", r"__|string|not allowed|unknown function"),
    ("attribute-dunder-class", node("x.__class__"), "nodes.f", r"attribute|__|not allowed"),
    ("attribute-plain", node("x.real"), "nodes.f", r"attribute"),
    ("attribute-on-function", node("sigmoid.__globals__"), "nodes.f", r"attribute|__|not allowed"),
    ("tuple-class-bases", node("().__class__.__bases__"), "nodes.f", r"attribute|__|not allowed|paren"),
    (
        "subclasses-chain",
        node(f"().__class__.__bases__[0].__subclasses__()[0]('{PWNED}')"),
        "nodes.f",
        r"attribute|__|not allowed|paren",
    ),
    ("subscript", node("x[0]"), "nodes.f", r"subscript"),
    ("lambda", node("lambda: 0"), "nodes.f", r"lambda"),
    ("string-literal", node('"abc"'), "nodes.f", r"string"),
    ("string-literal-single-quotes", expr_spec("f = \"'abc'\""), "nodes.f", r"string"),
    ("bang-bang-bang", node("9!!!"), "nodes.f", r"unexpected character|'!'"),
    ("unicode-lookalike-identifier", node("\u0445 + y"), "nodes.f", r"character|U\+0445"),
    ("fullwidth-lookalike-identifier", node("\uff58 * w"), "nodes.f", r"character|U\+FF58"),
    ("semicolon-statement", node(f"x; {IMPORT_PAYLOAD}"), "nodes.f", r"unexpected|not allowed"),
    ("walrus", node("(y := x)"), "nodes.f", r"unexpected|not allowed|assignment"),
    ("keyword-argument", node("max(x, y=w)"), "nodes.f", r"keyword|not allowed"),
    ("empty-expression", node("   "), "nodes.f", r"empty"),
    ("division-by-zero", node("x / 0"), "nodes.f", r"undefined|zero"),
    ("expression-10001-chars", node(LONG_EXPRESSION), "nodes.f", r"longer|too long|10.?000"),
    ("nested-parentheses-5000", node(NESTED_5000), "nodes.f", r"nest|deep|longer|too long"),
    ("nested-parentheses-250", node(NESTED_250), "nodes.f", r"nest|deep"),
    ("nested-calls-250", node(CALLS_250), "nodes.f", r"nest|deep"),
    ("unary-minus-300", node(UNARY_300), "nodes.f", r"nest|deep"),
    ("power-tower-300", node(POWER_TOWER_300), "nodes.f", r"nest|deep"),
    ("constant-10-10-10", node("10**10**10"), "nodes.f", r"too large"),
    ("x-to-huge-constant", node("x**(10**10**10)"), "nodes.f", r"too large"),
    ("huge-product-of-constants", node("((10**100)**100)**100 * x"), "nodes.f", r"too large"),
    ("huge-literal", node("1" * 200 + " * x"), "nodes.f", r"too large"),
    ("huge-exponent-literal", node("1e999999 * x"), "nodes.f", r"too large"),
    # --- layered form --------------------------------------------------------------------------
    (
        "unknown-activation",
        mlp_spec(activations='["swish", "sigmoid"]'),
        "mlp.activations[0]",
        r"unknown activation|swish",
    ),
    (
        "unknown-activation-output",
        mlp_spec(activations='["sigmoid", "mish"]'),
        "mlp.activations[1]",
        r"unknown activation|mish",
    ),
    ("unknown-loss", mlp_spec(loss='"hinge"'), "mlp.loss", r"unknown loss|hinge"),
    ("missing-loss", mlp_spec().replace('loss = "squared_error"', ""), "mlp.loss", r"missing"),
    ("missing-sizes", mlp_spec().replace("sizes = [3, 2, 2]", ""), "mlp.sizes", r"missing"),
    ("too-few-activations", mlp_spec(activations='["sigmoid"]'), "mlp.activations", r"activations|sizes|\d"),
    (
        "too-many-activations",
        mlp_spec(activations='["sigmoid", "sigmoid", "sigmoid"]'),
        "mlp.activations",
        r"activations|sizes|\d",
    ),
    (
        "softmax-in-hidden-layer",
        mlp_spec(sizes="[3, 2, 2]", activations='["softmax", "sigmoid"]'),
        "mlp.activations[0]",
        r"output layer|hidden|softmax",
    ),
    (
        "cross-entropy-with-tanh-output",
        mlp_spec(activations='["sigmoid", "tanh"]', loss='"cross_entropy"'),
        "mlp.loss",
        r"tanh|\(0, 1\)|sigmoid|softmax",
    ),
    (
        "binary-cross-entropy-with-softmax-output",
        mlp_spec(activations='["sigmoid", "softmax"]', loss='"binary_cross_entropy"'),
        "mlp.loss",
        r"softmax|sigmoid",
    ),
    ("negative-weight-decay", mlp_spec(extra="weight_decay = -0.1"), "mlp.weight_decay", r"negative"),
    ("weight-decay-inf", mlp_spec(extra="weight_decay = inf"), "mlp.weight_decay", r"finite|number"),
    ("bad-notation", mlp_spec(extra='notation = "graph"'), "mlp.notation", r"node|layer|expected"),
    (
        "d2l-notation-two-hidden-layers",
        mlp_spec(sizes="[3, 2, 2, 2]", activations='["relu", "relu", "sigmoid"]', extra='notation = "d2l"'),
        "mlp.notation",
        r"d2l notation is for one hidden layer without biases",
    ),
    (
        "d2l-notation-with-biases",
        mlp_spec(extra='notation = "d2l"\nbias = true'),
        "mlp.notation",
        r"d2l notation is for one hidden layer without biases",
    ),
    (
        "example-x-wrong-row-width",
        mlp_spec(tail="[example]\nx = [[0.1, 0.2]]\nt = [[0.0, 1.0]]\n"),
        "example.x",
        r"row|3",
    ),
    (
        "example-t-wrong-row-width",
        mlp_spec(tail="[example]\nx = [[0.1, 0.2, 0.3]]\nt = [[0.0]]\n"),
        "example.t",
        r"row|2",
    ),
    ("example-x-without-t", mlp_spec(tail="[example]\nx = [[0.1, 0.2, 0.3]]\n"), "example", r"both|x and t"),
    ("example-unknown-key", mlp_spec(tail="[example]\ny = [[0.1, 0.2]]\n"), "example.y", r"x and t|unknown"),
    ("mlp-not-a-table", "mlp = 3\n", "mlp", r"table|expected"),
    ("mlp-and-nodes-mixed", mlp_spec(tail='[nodes]\nf = "x"\n'), "nodes", r"unknown"),
    pytest.param(
        "activation-not-a-string",
        mlp_spec(activations='[["sigmoid"], "sigmoid"]'),
        "mlp.activations[0]",
        r"unknown activation|string|expected",
    ),
    pytest.param("negative-seed", mlp_spec(extra="seed = -1"), "mlp.seed", r"negative|seed|expected"),
    pytest.param(
        "negative-init-scale", mlp_spec(extra="init_scale = -1.0"), "mlp.init_scale", r"negative|positive|scale"
    ),
]

INJECTION_IDS = {
    "payload-as-input-name",
    "import-payload",
    "import-payload-in-loss",
    "eval-payload",
    "attribute-dunder-class",
    "attribute-on-function",
    "tuple-class-bases",
    "subclasses-chain",
    "semicolon-statement",
    "lambda",
    "unknown-function-exec-string",
    "unknown-function-exec",
    "unknown-function-eval",
}


def _case_id(case) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


def _case_values(case) -> tuple:
    return tuple(case.values) if hasattr(case, "values") else tuple(case)


CASE_BY_ID = {_case_id(c): _case_values(c) for c in CASES}
assert len(CASE_BY_ID) == len(CASES), "case ids must be unique"
assert INJECTION_IDS <= set(CASE_BY_ID)


def write_spec(tmp_path: Path, spec: str | bytes | None) -> Path:
    path = tmp_path / "spec.toml"
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    elif spec is not None:
        path.write_text(spec, encoding="utf-8")
    return path


def assert_one_error_line(stderr: str, spec_path: Path, field: str, problem: str) -> None:
    """The whole stderr is one line: ``symbackprop: error: <file>: <field>: <problem>``."""
    assert "Traceback" not in stderr, stderr
    assert stderr.endswith("\n"), repr(stderr)
    lines = stderr[:-1].split("\n")
    assert len(lines) == 1 and lines[0].strip(), f"expected exactly one non-empty line, got {stderr!r}"
    line = lines[0]
    assert line.startswith(PREFIX), line
    rest = line[len(PREFIX) :]
    source = f"{spec_path}: "
    assert rest.startswith(source), f"message does not start with the spec's path {str(spec_path)!r}: {line!r}"
    field_part, sep, problem_part = rest[len(source) :].partition(": ")
    assert sep, f"no '<field>: <problem>' after the path: {line!r}"
    assert field in field_part, f"field {field!r} not named (got field {field_part!r}): {line!r}"
    assert problem_part.strip(), f"empty problem: {line!r}"
    assert re.search(problem, problem_part, re.IGNORECASE), f"problem /{problem}/ not in {problem_part!r}"


def assert_nothing_written(tmp_path: Path, out_dir: Path, spec_path: Path) -> None:
    assert not out_dir.exists() or not any(out_dir.iterdir()), sorted(os.listdir(out_dir))
    assert not (tmp_path / "pwned").exists(), "an expression was executed"
    assert not (tmp_path / "outputs").exists()
    leftovers = set(os.listdir(tmp_path)) - {spec_path.name, out_dir.name}
    assert not leftovers, f"unexpected files: {sorted(leftovers)}"


# --- the corpus, in process -------------------------------------------------------------------
@pytest.mark.parametrize(("case_id", "spec", "field", "problem"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_spec_exits_2_with_one_line(case_id, spec, field, problem, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec_path = write_spec(tmp_path, spec)
    out_dir = tmp_path / "out"
    rc = main(["derive", str(spec_path), "-o", str(out_dir)])
    captured = capsys.readouterr()
    assert rc == 2, captured
    assert captured.out == ""
    assert_one_error_line(captured.err, spec_path, field, problem)
    assert_nothing_written(tmp_path, out_dir, spec_path)
    if case_id in INJECTION_IDS:
        assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "case_id",
    ["toml-syntax-error", "undefined-symbol", "softmax-in-hidden-layer", "import-payload", "nonexistent-path"],
)
def test_check_command_rejects_bad_specs_too(case_id, tmp_path, capsys, monkeypatch):
    _, spec, field, problem = CASE_BY_ID[case_id]
    monkeypatch.chdir(tmp_path)
    spec_path = write_spec(tmp_path, spec)
    rc = main(["check", str(spec_path)])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    assert_one_error_line(captured.err, spec_path, field, problem)
    assert not (tmp_path / "pwned").exists()


# --- a handful through a real process -----------------------------------------------------------
def _run_cli(args: list[str], cwd: Path, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}  # the installed package (or PYTHONPATH=src from the caller)
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
    )


@pytest.mark.parametrize(
    ("case_id", "env"),
    [
        ("toml-syntax-error", {}),
        ("binary-junk", {}),
        ("nonexistent-path", {}),
        ("import-payload", {}),
        ("subclasses-chain", {}),
        ("nested-parentheses-5000", {}),
        ("constant-10-10-10", {}),
        ("softmax-in-hidden-layer", {}),
        ("unicode-lookalike-identifier", {"PYTHONIOENCODING": "ascii"}),
    ],
)
def test_subprocess_exit_status_2_and_no_traceback(case_id, env, tmp_path):
    _, spec, field, problem = CASE_BY_ID[case_id]
    spec_path = write_spec(tmp_path, spec)
    out_dir = tmp_path / "out"
    proc = _run_cli(["derive", str(spec_path), "-o", str(out_dir)], cwd=tmp_path, **env)
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    if env.get("PYTHONIOENCODING") == "ascii":
        # non-ASCII in the message must be escaped, not crash the error report
        assert proc.stderr.isascii()
        assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(PREFIX)
        assert f"{spec_path}: {field}" in proc.stderr
    else:
        assert_one_error_line(proc.stderr, spec_path, field, problem)
    assert_nothing_written(tmp_path, out_dir, spec_path)


# --- atomicity ----------------------------------------------------------------------------------
OLD_TRAIN = "# an older train.py\nprint('old')\n" * 50
OLD_TEX = "% an older derivation\n" * 50


def _fresh_outputs(tmp_path: Path, spec: str) -> dict[str, bytes]:
    ref = tmp_path / "reference"
    assert main(["derive", spec, "-o", str(ref)]) == 0
    return {name: (ref / name).read_bytes() for name in ("derivation.tex", "train.py")}


def test_failed_derivation_leaves_existing_outputs_byte_identical(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "train.py").write_text(OLD_TRAIN)
    (out_dir / "derivation.tex").write_text(OLD_TEX)
    (out_dir / "notes.txt").write_bytes(b"keep me\x00\xff")
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    for case_id in ("undefined-symbol", "softmax-in-hidden-layer", "import-payload", "toml-syntax-error"):
        spec_path = write_spec(tmp_path, CASE_BY_ID[case_id][1])
        assert main(["derive", str(spec_path), "-o", str(out_dir)]) == 2
        assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before, case_id
    capsys.readouterr()


def test_good_derivation_replaces_older_file_completely(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    new = _fresh_outputs(tmp_path, "fc-3-2-2")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "train.py").write_text(OLD_TRAIN)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:  # whatever a concurrent reader sees is the old or the complete new file
        while not stop.is_set():
            try:
                seen.add((out_dir / "train.py").read_bytes())
            except FileNotFoundError:  # pragma: no cover - would itself be a failure below
                seen.add(b"<missing>")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert main(["derive", "fc-3-2-2", "-o", str(out_dir)]) == 0
    finally:
        stop.set()
        thread.join()
    assert seen <= {OLD_TRAIN.encode(), new["train.py"]}, "a reader saw a partial or missing train.py"
    assert (out_dir / "train.py").read_bytes() == new["train.py"]
    assert (out_dir / "derivation.tex").read_bytes() == new["derivation.tex"]
    assert sorted(os.listdir(out_dir)) == ["derivation.tex", "train.py"], "temporary files left behind"
    capsys.readouterr()


class _HalfWriter:
    """A file handle that writes half of what it is given, then fails as a full disk would."""

    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()
        return False

    def write(self, text: str) -> int:
        self.handle.write(text[: len(text) // 2])
        self.handle.flush()
        raise OSError(28, "No space left on device")


def fail_writes_to(monkeypatch, filename: str) -> None:
    """Make cli.write_atomically's writes of ``filename`` die half way (disk full)."""
    if not Path("/proc/self/fd").exists():  # pragma: no cover
        pytest.skip("needs /proc to tell which file is being written")
    real_fdopen = os.fdopen

    def fake_fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        return _HalfWriter(handle) if filename in os.readlink(f"/proc/self/fd/{fd}") else handle

    monkeypatch.setattr(cli.os, "fdopen", fake_fdopen)


def test_write_failing_midway_keeps_the_old_file(tmp_path, capsys, monkeypatch):
    """A write that dies half way (disk full) leaves the old train.py, and no temporary file."""
    monkeypatch.chdir(tmp_path)
    new = _fresh_outputs(tmp_path, "fc-3-2-2")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "train.py").write_text(OLD_TRAIN)
    fail_writes_to(monkeypatch, "train.py")
    rc = main(["derive", "fc-3-2-2", "-o", str(out_dir)])
    captured = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in captured.err and len(captured.err.splitlines()) == 1
    assert (out_dir / "train.py").read_bytes() in (OLD_TRAIN.encode(), new["train.py"])
    assert (out_dir / "train.py").read_bytes() == OLD_TRAIN.encode()
    assert not [n for n in os.listdir(out_dir) if n.endswith(".tmp")], "temporary file left behind"


def test_output_folder_under_a_regular_file_is_one_clean_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    rc = main(["derive", "cs231n-circuit", "-o", str(blocker / "out")])
    captured = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in captured.err and len(captured.err.splitlines()) == 1
    assert captured.err.startswith(PREFIX) and str(blocker) in captured.err
    assert blocker.read_text() == "not a folder"


def test_write_error_names_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "out"
    fail_writes_to(monkeypatch, "train.py")
    assert main(["derive", "fc-3-2-2", "-o", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(PREFIX)
    assert str(out_dir) in err, err


# --- happy path -----------------------------------------------------------------------------------
def test_derive_built_in_example_writes_both_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["derive", "fc-3-2-2", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert sorted(os.listdir(out)) == ["derivation.tex", "train.py"]
    assert (out / "derivation.tex").read_text().strip()
    compile((out / "train.py").read_text(), "train.py", "exec")


def test_examples_lists_one_line_per_example_name_first(capsys):
    assert main(["examples"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == example_names()


# --- bugs found outside the table ---------------------------------------------------------------
def test_title_cannot_inject_code_into_train_py(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec_path = write_spec(
        tmp_path, f'title = \'\'\'x"""\nimport os; os.system("{PWNED}")\n"""\'\'\'\n' + node("x * w")
    )
    rc = main(["derive", str(spec_path), "-o", str(tmp_path / "out")])
    capsys.readouterr()
    if rc == 0:  # a clean derivation is fine as long as the title stays text
        proc = subprocess.run(
            [sys.executable, "-c", "import runpy; runpy.run_path('out/train.py')"],
            check=False,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
    else:
        assert rc == 2
    assert not (tmp_path / "pwned").exists(), "the spec's title was executed as code"


def test_name_cannot_escape_the_outputs_folder(tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    spec_path = write_spec(tmp_path, 'name = "../escaped"\n' + node("x * w"))
    rc = main(["derive", str(spec_path)])
    captured = capsys.readouterr()
    assert not (tmp_path / "escaped").exists() and not (work / "escaped").exists()
    if rc == 2:
        assert_one_error_line(captured.err, spec_path, "name", r".")


def test_valid_power_of_an_activation_never_gives_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec_path = write_spec(tmp_path, node("sigmoid(x)**2"))
    rc = main(["derive", str(spec_path), "-o", str(tmp_path / "out")])
    capsys.readouterr()
    assert rc == 0


def test_deeply_nested_functions_are_derived_in_bounded_time(tmp_path, capsys):
    """tanh nested 12 deep took SymPy minutes on symbols of unknown sign; every symbol is real
    now, and the spec derives in well under a second. Either way the time stays bounded."""
    import time

    spec = tmp_path / "slow.toml"
    nested = "tanh(" * 12 + "x" + ")" * 12
    spec.write_text(f'inputs = ["x"]\noutput = "f"\n[nodes]\nf = "{nested}"\n')
    start = time.monotonic()
    rc = main(["derive", str(spec), "-o", str(tmp_path / "out")])
    assert rc == 0 and time.monotonic() - start < 20
    assert capsys.readouterr().err == ""


def test_an_expression_that_is_slow_to_build_is_refused_in_bounded_time(tmp_path, capsys, monkeypatch):
    """A builder that takes longer than the limit gets one line naming the field, not a hang."""
    import time

    from symbackprop.core import spec as spec_module

    def slow(*args, **kwargs):  # SymPy stuck on an unlucky input
        time.sleep(30)

    monkeypatch.setattr(spec_module, "EXPRESSION_SECONDS", 0.2)
    monkeypatch.setattr(spec_module, "parse_expression", slow)
    spec = tmp_path / "slow.toml"
    spec.write_text('inputs = ["x"]\noutput = "f"\n[nodes]\nf = "x"\n')
    start = time.monotonic()
    rc = main(["derive", str(spec), "-o", str(tmp_path / "out")])
    assert rc == 2 and time.monotonic() - start < 20
    err = capsys.readouterr().err
    assert "nodes.f" in err and "longer than" in err and not (tmp_path / "out").exists()


# --- verify and grade: files read with a bound, time limits, strict JSON -----------------------
def assert_one_line_naming(stderr: str, path: object, problem: str) -> None:
    """The whole stderr is one line ``symbackprop: error: ...`` that names ``path`` and matches ``problem``."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), repr(stderr)
    assert str(path) in lines[0], lines[0]
    assert re.search(problem, lines[0], re.IGNORECASE), lines[0]


def unreadable(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A path that must not be read whole, and what the refusal says."""
    path = tmp_path / f"{kind}.tex"
    if kind == "fifo":  # nobody ever writes to it: a plain open() would block for ever
        os.mkfifo(path)
        return path, "not a regular file"
    if kind == "huge":  # sparse: 3 GB on paper, nothing on disk
        with open(path, "wb") as handle:
            handle.truncate(3 * 2**30)
        return path, "larger than the limit"
    if kind == "folder":
        path.mkdir()
        return path, "not a regular file"
    if kind == "missing":
        return path, "no such file"
    return Path("/dev/zero"), "not a regular file"


UNREADABLE = ["dev-zero", "fifo", "huge", "folder", "missing"]


@pytest.mark.parametrize("kind", UNREADABLE)
def test_verify_file_is_read_with_a_bound(kind, tmp_path):
    path, problem = unreadable(tmp_path, kind)
    proc = _run_cli(["verify", "fc-3-2-2", "--file", str(path)], cwd=tmp_path)  # timeout=120: a hang fails
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert_one_line_naming(proc.stderr, path, problem)


def test_verify_file_over_the_document_limit(tmp_path, capsys):
    path = tmp_path / "long.tex"
    path.write_text("%" * (cli.MAX_DOCUMENT_BYTES + 1))
    assert main(["verify", "fc-3-2-2", "--file", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_naming(captured.err, path, "larger than the limit of 1,048,576 bytes")


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "huge", "folder"])
def test_grade_student_file_is_read_with_a_bound(kind, tmp_path, capsys):
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "ann.txt").write_text("q1: \\delta_6 = (y_6 - t_6) y_6 (1 - y_6)\n")
    path, problem = unreadable(tmp_path, kind)
    if kind == "dev-zero":
        (folder / "zed.txt").symlink_to(path)
        path = folder / "zed.txt"
    else:
        path = path.rename(folder / "zed.txt")
    out = tmp_path / "report"
    rc = main(["grade", "fc-3-2-2", str(folder), "-o", str(out)])
    captured = capsys.readouterr()
    if kind == "folder":  # a folder inside the submissions is no student's file: skipped
        assert rc == 0 and "1 answers" in captured.out
        return
    assert rc == 2 and captured.out == ""
    assert_one_line_naming(captured.err, path, problem)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "huge", "missing"])
def test_grade_csv_and_questions_toml_are_read_with_a_bound(kind, tmp_path):
    path, problem = unreadable(tmp_path, kind)
    proc = _run_cli(["grade", "fc-3-2-2", str(path), "-o", str(tmp_path / "report")], cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert_one_line_naming(proc.stderr, path, problem)
    if kind == "missing":
        return
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "ann.txt").write_text("q1: \\delta_6 = (y_6 - t_6) y_6 (1 - y_6)\n")
    questions = folder / "questions.toml"
    if kind == "dev-zero":
        questions.symlink_to(path)
    else:
        path.rename(questions)
    proc = _run_cli(["grade", "fc-3-2-2", str(folder), "-o", str(tmp_path / "report")], cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert_one_line_naming(proc.stderr, questions, problem)
    assert not (tmp_path / "report").exists()


def test_grade_bad_submission_line_is_one_line(tmp_path, capsys):
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "ann.txt").write_text("q1: fine\nno question here\n")
    assert main(["grade", "fc-3-2-2", str(folder), "-o", str(tmp_path / "report")]) == 2
    captured = capsys.readouterr()
    assert_one_line_naming(captured.err, folder / "ann.txt", r"ann\.txt:2: expected 'question: answer'")
    assert not (tmp_path / "report").exists()


def test_grade_bad_spec_is_one_line(tmp_path, capsys):
    src = tmp_path / "subs.csv"
    src.write_text("student,question,answer\nann,q1,x\n")
    spec_path = write_spec(tmp_path, CASE_BY_ID["undefined-symbol"][1])
    assert main(["grade", str(spec_path), str(src), "-o", str(tmp_path / "report")]) == 2
    assert_one_line_naming(capsys.readouterr().err, spec_path, "")
    assert not (tmp_path / "report").exists()


def test_read_bounded_reads_at_most_limit_plus_one_bytes(monkeypatch):
    from symbackprop.verify import grade

    path = Path("/proc/self/status")  # a regular file whose size says 0
    if not path.exists():  # pragma: no cover
        pytest.skip("needs /proc")
    assert os.stat(path).st_size == 0 and len(grade.read_bounded(path, 10**6)) > 100
    asked: list[int] = []
    real_read = os.read

    def counting_read(fd, n):
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(grade.os, "read", counting_read)
    with pytest.raises(ValueError, match="status: larger than the limit of 100 bytes"):
        grade.read_bounded(path, 100)
    assert sum(asked) <= 101


def test_read_bounded_gives_up_on_a_slow_file(tmp_path, monkeypatch):
    from symbackprop.verify import grade

    path = tmp_path / "slow.txt"
    path.write_text("x" * 1000)
    real_read = os.read

    def slow_read(fd, n):  # a disk (or network share) that delivers one byte every 20 ms
        import time

        time.sleep(0.02)
        return real_read(fd, 1)

    monkeypatch.setattr(grade.os, "read", slow_read)
    with pytest.raises(ValueError, match=r"slow\.txt: reading took longer than 0\.2 s"):
        grade.read_bounded(path, 10**6, seconds=0.2)


BAD_SECONDS = ["nan", "NaN", "inf", "-inf", "0", "-0", "-1", "1e400", "five", ""]


@pytest.mark.parametrize("value", BAD_SECONDS)
@pytest.mark.parametrize(
    "command",
    [
        ["verify", "fc-3-2-2", "--answer", "\\delta_6 = y_6"],
        ["grade", "fc-3-2-2", "subs.csv"],
        ["check", "fc-3-2-2"],
    ],
    ids=["verify", "grade", "check"],
)
def test_time_limit_must_be_finite_and_positive(command, value, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([*command, f"--time-limit={value}"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PREFIX}{command[0]}: argument --time-limit: "), lines
    assert "seconds" in lines[0]
    assert not (tmp_path / "report").exists()


def test_time_limit_error_through_a_process(tmp_path):
    proc = _run_cli(["verify", "fc-3-2-2", "--answer", "x", "--time-limit", "nan"], cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(PREFIX) and "--time-limit" in proc.stderr


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["derive", "fc-3-2-2", "--target", "fortran"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'fortran' (choose from" in err and "'jax'" in err


def _non_finite_verdict(*args, **kwargs):
    from symbackprop.verify.verdict import Verdict

    values = {"y_6": float("inf"), "net_6": float("-inf"), "t_6": 0.5, "seq": [float("nan"), 1.0]}
    example = {"values": values, "answer": float("nan"), "correct": 0.25}
    return Verdict("incorrect", "delta_6", ["other"], "overflowed", example, "numeric")


def _strict_loads(text: str):
    def refuse(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_verify_json_is_strict_json(monkeypatch, capsys, tmp_path):
    from symbackprop.verify import check

    monkeypatch.setattr(check, "verify_answer", _non_finite_verdict)
    assert main(["verify", "fc-3-2-2", "--answer", "\\delta_6 = e^{1000}", "--json"]) == 1
    data = _strict_loads(capsys.readouterr().out)
    example = data["counterexample"]
    assert example["answer"] is None and example["answer_text"] == "nan" and example["correct"] == 0.25
    assert example["values"] == {
        "y_6": None,
        "y_6_text": "inf",
        "net_6": None,
        "net_6_text": "-inf",
        "t_6": 0.5,
        "seq": [None, 1.0],
        "seq_text": ["nan", None],
    }

    monkeypatch.setattr(check, "verify_document", lambda *a, **k: [_non_finite_verdict()])
    tex = tmp_path / "answer.tex"
    tex.write_text("\\begin{equation}\\delta_6 = e^{1000}\\end{equation}\n")
    assert main(["verify", "fc-3-2-2", "--file", str(tex), "--json"]) == 1
    data = _strict_loads(capsys.readouterr().out)
    assert data["counterexample"]["values"]["y_6_text"] == "inf"
    assert data["lines"][0]["counterexample"]["answer_text"] == "nan"
