"""TOML specs (or a built-in example's name) -> a validated network.

Two forms map to the two models of :mod:`symbackprop.network`:

* expression form — ``inputs``, ``targets``, ``[parameters]``, ``frozen``, ``[nodes]``
  (order kept), ``loss`` or ``output``, ``[example]``; expressions are parsed by the
  whitelisting parser of :mod:`symbackprop.expr`, never evaluated;
* layered form — an ``[mlp]`` table with ``sizes``, ``activations``, ``loss``, ``bias``,
  ``weight_decay``, ``notation``.

Every problem raises :class:`SpecError`, whose one-line message names the file and the field.
"""

from __future__ import annotations

import keyword
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import sympy
from sympy import Symbol

from symbackprop.core.examples import example_names, example_text
from symbackprop.core.expr import ExprError, parse_expression
from symbackprop.core.limits import time_limit
from symbackprop.core.network import D2L_SHAPE, RESERVED_NAMES, GraphNetwork, LayeredNetwork, NetworkError
from symbackprop.registry import ACTIVATIONS, LOSSES, expression_functions, real

MAX_SPEC_BYTES = 1_000_000
EXPRESSION_SECONDS = 2.0
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
NETWORK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # also a folder name: no / or ..
MAX_TITLE = 200
MAX_EPOCHS = 1_000_000
TARGET_SUM_TOLERANCE = 1e-9
COMMON_KEYS = {"name", "title", "title_zh", "learning_rate", "example", "epochs"}
EXPRESSION_KEYS = COMMON_KEYS | {"inputs", "targets", "parameters", "frozen", "nodes", "loss", "output"}
MLP_KEYS = {"sizes", "activations", "loss", "bias", "weight_decay", "notation", "seed", "init_scale"}


class SpecError(ValueError):
    """A bad spec: ``str(err)`` is ``<source>: <field>: <problem>`` on one line."""

    def __init__(self, source: str, field: str, problem: str):
        self.source, self.field, self.problem = source, field, problem
        super().__init__(f"{source}: {field}: {problem}")


def load_spec(name_or_path: str | Path) -> GraphNetwork | LayeredNetwork:
    """Load a built-in example by name, or a ``.toml`` spec from a path."""
    path = Path(name_or_path)
    if str(name_or_path) in example_names() and not path.is_file():  # a folder of that name (derive -o NAME) is no spec
        return load_spec_text(
            example_text(str(name_or_path)), source=f"{name_or_path} (built-in)", default_name=str(name_or_path)
        )
    if not path.is_file():
        known = ", ".join(example_names())
        raise SpecError(
            str(name_or_path), "spec", f"no such file and no built-in example of that name (built-in: {known})"
        )
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(str(path), "spec", f"file larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the TOML
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(str(path), "spec", f"cannot read: {err}") from None
    return load_spec_text(text, source=str(path), default_name=path.stem)


def load_spec_text(text: str, source: str = "<spec>", default_name: str = "network") -> GraphNetwork | LayeredNetwork:
    """Parse TOML text into a network; ``source`` names it in error messages."""
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(source, "toml", f"syntax error: {err}") from None
    except RecursionError:
        raise SpecError(source, "toml", "nested too deeply") from None
    reader = _Reader(source, data)
    try:
        if "mlp" in data:
            return reader.layered(default_name)
        return reader.expression(default_name)
    except NetworkError as err:
        raise SpecError(source, "network", str(err)) from None


class _Reader:
    """Field-by-field validation with the field's dotted path in every error."""

    def __init__(self, source: str, data: dict[str, Any]):
        self.source, self.data = source, data
        self.functions = expression_functions()

    def fail(self, field: str, problem: str) -> SpecError:
        return SpecError(self.source, field, problem)

    # --- typed getters ----------------------------------------------------------------
    def get(self, table: dict, field: str, key: str, kind, default=None, required=False):
        if key not in table:
            if required:
                raise self.fail(field, "missing")
            return default
        value = table[key]
        ok = isinstance(value, kind) and not (kind in (int, float, (int, float)) and isinstance(value, bool))
        if not ok:
            raise self.fail(field, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def number(self, field: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(field, "expected a finite number")
        return float(value)

    def names(self, field: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(field, "expected a list of names")
        for i, name in enumerate(value):
            self.check_name(f"{field}[{i}]", name)
        return value

    def check_name(self, field: str, name: Any) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise self.fail(field, f"{name!r} is not a valid name (letters, digits, _; starting with a letter)")
        if "__" in name or keyword.iskeyword(name) or name.startswith(("delta_", "grad_", "sum_", "log_")):
            raise self.fail(field, f"the name {name!r} is reserved")
        if name in RESERVED_NAMES or name in self.functions:
            raise self.fail(field, f"the name {name!r} is reserved (the derivation or train.py uses it)")

    def unknown_keys(self, table: dict, allowed: set[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{prefix}{key}", f"unknown field (known: {', '.join(sorted(allowed))})")

    def common(self, default_name: str) -> dict[str, Any]:
        d = self.data
        name = self.get(d, "name", "name", str, default_name)
        if not NETWORK_NAME.match(name) or ".." in name:
            raise self.fail("name", f"{name!r} is not a valid network name (letters, digits, _ . -; at most 64)")
        title = self.get(d, "title", "title", str, "")
        title_zh = self.get(d, "title_zh", "title_zh", str, "")  # the Chinese documents' title, if given
        for key, text in (("title", title), ("title_zh", title_zh)):
            if len(text) > MAX_TITLE or not text.isprintable():
                raise self.fail(key, f"expected one printable line of at most {MAX_TITLE} characters")
        epochs = self.get(d, "epochs", "epochs", int, 20)
        if not 1 <= epochs <= MAX_EPOCHS:
            raise self.fail("epochs", f"expected a whole number from 1 to {MAX_EPOCHS}")
        rate = self.number("learning_rate", d.get("learning_rate", 0.5))
        if rate <= 0:
            raise self.fail("learning_rate", "must be positive")
        return {"name": name, "title": title, "title_zh": title_zh, "learning_rate": rate, "epochs": epochs}

    # --- expression form --------------------------------------------------------------
    def expression(self, default_name: str) -> GraphNetwork:
        d = self.data
        self.unknown_keys(d, EXPRESSION_KEYS, "")
        common = self.common(default_name)
        inputs = self.names("inputs", d.get("inputs", []))
        targets = self.names("targets", d.get("targets", []))
        params_table = self.get(d, "parameters", "parameters", dict, {})
        if isinstance(params_table.get("frozen"), list):
            raise self.fail("parameters.frozen", "put `frozen = [...]` above the [parameters] table")
        parameters = {}
        for key, value in params_table.items():
            self.check_name(f"parameters.{key}", key)
            parameters[key] = self.number(f"parameters.{key}", value)
        frozen = self.names("frozen", d.get("frozen", []))
        for i, name in enumerate(frozen):
            if name not in parameters:
                raise self.fail(f"frozen[{i}]", f"{name!r} is not a parameter")
        seen: dict[str, str] = {}
        for field, names in (("inputs", inputs), ("targets", targets), ("parameters", list(parameters))):
            for name in names:
                if name in seen:
                    raise self.fail(field, f"{name!r} is declared twice (already in {seen[name]})")
                seen[name] = field
        leaves = list(seen)
        nodes_table = self.get(d, "nodes", "nodes", dict, required=True)
        if not nodes_table:
            raise self.fail("nodes", "no nodes")
        symbols: dict[str, Symbol] = {n: real(n) for n in leaves}
        later = set(nodes_table)
        nodes: dict[Symbol, sympy.Expr] = {}
        for key, text in nodes_table.items():
            field = f"nodes.{key}"
            self.check_name(field, key)
            if key in symbols:
                raise self.fail(field, f"{key!r} is already an input, target or parameter")
            later.discard(key)
            nodes[real(key)] = self.parse(field, text, symbols, later | {key})
            symbols[key] = real(key)
        has_loss, has_output = "loss" in d, "output" in d
        if has_loss == has_output:
            raise self.fail("loss", 'give either loss = "expression" or output = "node" (exactly one)')
        if has_loss:
            objective = real("E")
            nodes[objective] = self.parse("loss", d["loss"], symbols, set())
        else:
            out = self.get(d, "output", "output", str)
            if out not in nodes_table:
                raise self.fail("output", f"{out!r} is not a node")
            objective = real(out)
            frozen = list(parameters)  # an output that is not a loss has gradients, nothing to descend on
        example = {}
        table = self.get(d, "example", "example", dict, {})
        for key, value in table.items():
            if key not in inputs and key not in targets and key not in parameters:
                raise self.fail(f"example.{key}", "not an input, target or parameter")
            example[real(key)] = self.number(f"example.{key}", value)
        missing = [n for n in (*inputs, *targets) if n not in table]
        if table and missing:
            raise self.fail(f"example.{missing[0]}", "missing: an example gives every input and target a value")
        return GraphNetwork(
            name=common["name"],
            title=common["title"],
            title_zh=common["title_zh"],
            inputs=tuple(real(n) for n in inputs),
            targets=tuple(real(n) for n in targets),
            parameters={real(k): v for k, v in parameters.items()},
            frozen=frozenset(real(n) for n in frozen),
            nodes=nodes,
            objective=objective,
            learning_rate=common["learning_rate"],
            epochs=common["epochs"],
            example=example,
        )

    def parse(self, field: str, text: Any, symbols: dict[str, Symbol], later: set[str]) -> sympy.Expr:
        if not isinstance(text, str):
            raise self.fail(field, "expected an expression in quotes")
        try:
            with time_limit(EXPRESSION_SECONDS):
                return parse_expression(text, symbols, self.functions)
        except TimeoutError:
            raise self.fail(
                field, f"the expression takes longer than {EXPRESSION_SECONDS:g} s to build; simplify it"
            ) from None
        except ExprError as err:
            if err.name is not None and err.name in later:
                what = "itself" if field.endswith("." + err.name) else f"node {err.name!r} before it is defined"
                raise self.fail(field, f"uses {what}") from None
            raise self.fail(field, str(err)) from None

    # --- layered form -----------------------------------------------------------------
    def layered(self, default_name: str) -> LayeredNetwork:
        d = self.data
        self.unknown_keys(d, COMMON_KEYS | {"mlp"}, "")
        common = self.common(default_name)
        mlp = self.get(d, "mlp", "mlp", dict)
        self.unknown_keys(mlp, MLP_KEYS, "mlp.")
        sizes = self.get(mlp, "mlp.sizes", "sizes", list, required=True)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 100_000 for s in sizes):
            raise self.fail("mlp.sizes", "expected at least two layer sizes, whole numbers from 1 to 100000")
        acts = self.get(mlp, "mlp.activations", "activations", list, required=True)
        if len(acts) != len(sizes) - 1:
            raise self.fail(
                "mlp.activations",
                f"{len(acts)} activations for {len(sizes) - 1} weight layers (sizes has {len(sizes)} entries)",
            )
        for i, act in enumerate(acts):
            if not isinstance(act, str) or act not in ACTIVATIONS:
                raise self.fail(
                    f"mlp.activations[{i}]", f"unknown activation {act!r}; known: {', '.join(sorted(ACTIVATIONS))}"
                )
            if ACTIVATIONS[act].vector and i != len(acts) - 1:
                raise self.fail(f"mlp.activations[{i}]", f"{act} is only allowed in the output layer")
        loss = self.get(mlp, "mlp.loss", "loss", str, required=True)
        if loss not in LOSSES:
            raise self.fail("mlp.loss", f"unknown loss {loss!r}; known: {', '.join(sorted(LOSSES))}")
        out = ACTIVATIONS[acts[-1]]
        if LOSSES[loss].needs_unit_interval and out.output_interval is None:
            fitting = ", ".join(sorted(n for n, a in ACTIVATIONS.items() if a.output_interval))
            raise self.fail("mlp.loss", f"{loss} needs outputs in (0, 1): use a {fitting} output layer, not {acts[-1]}")
        if LOSSES[loss].targets == "unit" and out.vector:
            couple = [n for n, lo in LOSSES.items() if lo.targets_sum_to_one]
            raise self.fail(
                "mlp.loss", f"{loss} treats each output on its own; with {acts[-1]} use {', '.join(couple)}"
            )
        notation = self.get(mlp, "mlp.notation", "notation", str, "layer")
        if notation not in ("node", "layer", "d2l"):
            raise self.fail("mlp.notation", f'expected "node", "layer" or "d2l", got {notation!r}')
        bias = self.get(mlp, "mlp.bias", "bias", bool, notation != "d2l")  # d2l's network has no biases
        if notation == "d2l" and (len(sizes) != 3 or bias):
            raise self.fail("mlp.notation", D2L_SHAPE)
        decay = self.number("mlp.weight_decay", mlp.get("weight_decay", 0.0))
        if decay < 0:
            raise self.fail("mlp.weight_decay", "must not be negative")
        example = {}
        for key, value in self.get(d, "example", "example", dict, {}).items():
            if key not in ("x", "t"):
                raise self.fail(f"example.{key}", "a layered network's example has x and t")
            example[key] = self.matrix(f"example.{key}", value, sizes[0] if key == "x" else sizes[-1])
        if set(example) not in (set(), {"x", "t"}) or (example and len(example["x"]) != len(example["t"])):
            raise self.fail("example", "give both x and t, with one row per example each")
        if example:
            self.targets(LOSSES[loss].targets, example["t"])
        return LayeredNetwork(
            name=common["name"],
            title=common["title"],
            title_zh=common["title_zh"],
            sizes=tuple(sizes),
            activations=tuple(acts),
            loss=loss,
            bias=bias,
            weight_decay=decay,
            notation=notation,
            learning_rate=common["learning_rate"],
            epochs=common["epochs"],
            seed=self.seed(mlp),
            init_scale=self.positive("mlp.init_scale", mlp.get("init_scale", 0.5)),
            example=example,
        )

    def seed(self, mlp: dict) -> int:
        seed = self.get(mlp, "mlp.seed", "seed", int, 0)
        if not 0 <= seed < 2**63:
            raise self.fail("mlp.seed", "expected a whole number from 0 to 2**63 - 1")
        return seed

    def positive(self, field: str, value: Any) -> float:
        number = self.number(field, value)
        if number <= 0:
            raise self.fail(field, "must be positive")
        return number

    def matrix(self, field: str, value: Any, width: int) -> list[list[float]]:
        if isinstance(value, list) and value and not any(isinstance(r, list) for r in value):
            raise self.fail(field, "expected a list of rows (one example a row, [[...]]), got one flat list")
        if not isinstance(value, list) or not value or not all(isinstance(r, list) and len(r) == width for r in value):
            raise self.fail(field, f"expected a list of rows of {width} numbers")
        return [[self.number(f"{field}[{i}]", v) for v in row] for i, row in enumerate(value)]

    def targets(self, kind: str, rows: list[list[float]]) -> None:
        """Targets the loss can take: one-hot rows sum to one, binary targets lie in [0, 1]."""
        for i, row in enumerate(rows):
            if kind == "one-hot" and (abs(sum(row) - 1.0) > TARGET_SUM_TOLERANCE or min(row) < 0):
                raise self.fail(
                    f"example.t[{i}]",
                    f"cross-entropy targets of an example are >= 0 and sum to 1 (this row sums to {sum(row):g})",
                )
            if kind == "unit" and not all(0.0 <= v <= 1.0 for v in row):
                raise self.fail(f"example.t[{i}]", "binary cross-entropy targets lie in [0, 1]")


def _kind_name(kind) -> str:
    names = {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return names.get(kind, "a number")
