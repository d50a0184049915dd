"""TOML specs (or a built-in example's name) -> a validated network.

Three forms map to the models of :mod:`symbackprop.core.network` and
:mod:`symbackprop.core.sequential`:

* expression form — ``inputs``, ``targets``, ``[parameters]``, ``frozen``, ``[nodes]``
  (order kept), ``loss`` or ``output``, ``[example]``; expressions are parsed by the
  whitelisting parser of :mod:`symbackprop.expr`, never evaluated;
* layered form — an ``[mlp]`` table with ``sizes``, ``activations``, ``loss``, ``bias``,
  ``weight_decay``, ``notation``;
* layers form — a ``[network]`` table (``input`` shape of one example, ``loss``, ``weight_decay``,
  ``seed``, ``init_scale``, ``notation``) and a ``[[layers]]`` list, each layer a ``type`` and that
  type's fields (:data:`~symbackprop.core.sequential.LAYER_FIELDS`); errors name the layer by its
  place in the list (``layers[1].kernel``) and by its number and type (``layer 2 (conv2d)``).

Every problem raises :class:`SpecError`, whose one-line message names the file and the field.
"""

from __future__ import annotations

import keyword
import math
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import sympy
from sympy import Symbol

from symbackprop.core.examples import example_names, example_text
from symbackprop.core.expr import ExprError, parse_expression
from symbackprop.core.limits import time_limit
from symbackprop.core.network import D2L_SHAPE, RESERVED_NAMES, GraphNetwork, LayeredNetwork, NetworkError
from symbackprop.core.sequential import (
    DEFAULT_EPS,
    LAYER_FIELDS,
    LAYER_TYPES,
    RETURNS,
    Layer,
    LayerError,
    SequentialNetwork,
)
from symbackprop.registry import ACTIVATIONS, LOSSES, RNN_ACTIVATION, expression_functions, real

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
NETWORK_KEYS = {"input", "loss", "weight_decay", "notation", "seed", "init_scale", "clip_norm", "loss_per_step"}
MAX_SIDE = 100_000  # units, channels, a side of an input
MAX_ENTRIES = 10_000_000  # entries of one example's input or of one layer's output


class SpecError(ValueError):
    """A bad spec: ``str(err)`` is ``<source>: <field>: <problem>`` on one line."""

    def __init__(self, source: str, field: str, problem: str):
        self.source, self.field, self.problem = source, field, problem
        super().__init__(f"{source}: {field}: {problem}")


def load_spec(name_or_path: str | Path) -> GraphNetwork | LayeredNetwork | SequentialNetwork:
    """Load a built-in example by name, or a ``.toml`` spec from a path."""
    path = Path(name_or_path)
    builtin = str(name_or_path) in example_names()
    if builtin and not path.is_file():  # a folder of that name (derive -o NAME) is no spec
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


def load_spec_text(
    text: str, source: str = "<spec>", default_name: str = "network"
) -> GraphNetwork | LayeredNetwork | SequentialNetwork:
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
        if "layers" in data or "network" in data:
            return reader.sequential(default_name)
        return reader.expression(default_name)
    except LayerError as err:
        raise SpecError(source, err.field, err.problem) from None
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
        self.loss_fits("mlp.loss", loss, acts[-1])
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

    def seed(self, mlp: dict, table: str = "mlp") -> int:
        seed = self.get(mlp, f"{table}.seed", "seed", int, 0)
        if not 0 <= seed < 2**63:
            raise self.fail(f"{table}.seed", "expected a whole number from 0 to 2**63 - 1")
        return seed

    def loss_fits(self, field: str, loss: str, output_activation: str) -> None:
        """The loss takes what the output activation gives (outputs in (0, 1), units on their own)."""
        out = ACTIVATIONS[output_activation]
        if LOSSES[loss].needs_unit_interval and out.output_interval is None:
            fitting = ", ".join(sorted(n for n, a in ACTIVATIONS.items() if a.output_interval))
            raise self.fail(
                field, f"{loss} needs outputs in (0, 1): use a {fitting} output layer, not {output_activation}"
            )
        if LOSSES[loss].targets == "unit" and out.vector:
            couple = [n for n, lo in LOSSES.items() if lo.targets_sum_to_one]
            raise self.fail(
                field, f"{loss} treats each output on its own; with {output_activation} use {', '.join(couple)}"
            )

    # --- layers form ------------------------------------------------------------------
    def sequential(self, default_name: str) -> SequentialNetwork:
        d = self.data
        self.unknown_keys(d, COMMON_KEYS | {"network", "layers"}, "")
        common = self.common(default_name)
        table = self.get(d, "network", "network", dict, required=True)
        self.unknown_keys(table, NETWORK_KEYS, "network.")
        shape = self.get(table, "network.input", "input", list, required=True)
        if not 1 <= len(shape) <= 3 or any(not self.whole(v, 1, MAX_SIDE) for v in shape):
            raise self.fail(
                "network.input",
                "expected one example's shape: [channels, height, width], [time steps, features] or [features],"
                " whole numbers",
            )
        if math.prod(shape) > MAX_ENTRIES:
            raise self.fail("network.input", f"more than {MAX_ENTRIES} entries per example")
        loss = self.get(table, "network.loss", "loss", str, required=True)
        if loss not in LOSSES:
            raise self.fail("network.loss", f"unknown loss {loss!r}; known: {', '.join(sorted(LOSSES))}")
        notation = self.get(table, "network.notation", "notation", str, "layer")
        if notation != "layer":
            raise self.fail(
                "network.notation", f'a list of layers is written in layer notation ("layer"), not {notation!r}'
            )
        decay = self.number("network.weight_decay", table.get("weight_decay", 0.0))
        if decay < 0:
            raise self.fail("network.weight_decay", "must not be negative")
        raw = self.get(d, "layers", "layers", list, required=True)
        if not raw:
            raise self.fail("layers", "no layers: give at least one [[layers]] table")
        layers = tuple(self.layer(f"layers[{i}]", f"layer {i + 1}", spec, body=True) for i, spec in enumerate(raw))
        net = SequentialNetwork(
            name=common["name"],
            title=common["title"],
            title_zh=common["title_zh"],
            input_shape=tuple(shape),
            layers=layers,
            loss=loss,
            weight_decay=decay,
            learning_rate=common["learning_rate"],
            epochs=common["epochs"],
            seed=self.seed(table, "network"),
            init_scale=self.positive("network.init_scale", table.get("init_scale", 1.0)),
            clip_norm=self.positive("network.clip_norm", table["clip_norm"]) if "clip_norm" in table else 0.0,
            loss_per_step=self.get(table, "network.loss_per_step", "loss_per_step", bool, False),
        )
        for i, out in enumerate(net.shapes):
            if math.prod(out) > MAX_ENTRIES:
                raise self.fail(f"layers[{i}]", f"layer {i + 1}: more than {MAX_ENTRIES} entries per example")
        self.loss_fits("network.loss", loss, net.output_activation)
        example = self.sequential_example(net)
        return replace(net, example=example) if example else net

    def whole(self, value: Any, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    def layer(self, field: str, where: str, spec: Any, body: bool) -> Layer:
        """One [[layers]] table (or a residual body's inline table), field by field."""
        if not isinstance(spec, dict):
            raise self.fail(field, f"{where}: expected a table with a type")
        kind = spec.get("type")
        if kind is None:
            raise self.fail(f"{field}.type", f"{where}: missing (known types: {', '.join(LAYER_TYPES)})")
        if kind not in LAYER_TYPES:
            raise self.fail(f"{field}.type", f"{where}: unknown layer type {kind!r}; known: {', '.join(LAYER_TYPES)}")
        where = f"{where} ({kind})"
        required, optional = LAYER_FIELDS[kind]
        for key in spec:
            if key != "type" and key not in required + optional:
                known = ", ".join(("type", *required, *optional))
                raise self.fail(f"{field}.{key}", f"{where}: unknown field (known: {known})")
        for key in required:
            if key not in spec:
                raise self.fail(f"{field}.{key}", f"{where}: missing")
        fields: dict[str, Any] = {}
        for key, (low, high) in (
            ("units", (1, MAX_SIDE)),
            ("channels", (1, MAX_SIDE)),
            ("kernel", (1, 1000)),
            ("dim", (1, MAX_SIDE)),
        ):
            if key in spec:
                if not self.whole(spec[key], low, high):
                    raise self.fail(f"{field}.{key}", f"{where}: expected a whole number from {low} to {high}")
                fields[key] = spec[key]
        for key, (low, high) in (("size", (1, 1000)), ("stride", (1, 1000)), ("padding", (0, 1000))):
            if key in spec:
                if not self.whole(spec[key], low, high):
                    raise self.fail(f"{field}.{key}", f"{where}: expected a whole number from {low} to {high}")
                fields[key] = spec[key]
        if "activation" in spec:
            act = spec["activation"]
            if not isinstance(act, str) or act not in ACTIVATIONS:
                known = ", ".join(sorted(ACTIVATIONS))
                raise self.fail(f"{field}.activation", f"{where}: unknown activation {act!r}; known: {known}")
            fields["activation"] = act
        if kind == "rnn":
            fields.setdefault("activation", RNN_ACTIVATION)
        if "return" in spec:
            if spec["return"] not in RETURNS:
                raise self.fail(f"{field}.return", f'{where}: expected "last" or "sequence", got {spec["return"]!r}')
            fields["returns"] = spec["return"]
        if "learn_initial" in spec:
            if not isinstance(spec["learn_initial"], bool):
                raise self.fail(f"{field}.learn_initial", f"{where}: expected true or false")
            fields["learn_initial"] = spec["learn_initial"]
        if "causal" in spec:
            if not isinstance(spec["causal"], bool):
                raise self.fail(f"{field}.causal", f"{where}: expected true or false")
            fields["causal"] = spec["causal"]
        if "bias" in spec:
            if not isinstance(spec["bias"], bool):
                raise self.fail(f"{field}.bias", f"{where}: expected true or false")
            fields["bias"] = spec["bias"]
        if "rate" in spec:
            rate = self.number(f"{field}.rate", spec["rate"])
            if not 0 <= rate < 1:
                raise self.fail(f"{field}.rate", f"{where}: the drop rate p lies in [0, 1)")
            fields["rate"] = rate
        if "eps" in spec:
            eps = self.number(f"{field}.eps", spec.get("eps", DEFAULT_EPS))
            if not 0 < eps <= 1:
                raise self.fail(f"{field}.eps", f"{where}: epsilon lies in (0, 1]")
            fields["eps"] = eps
        if kind == "residual":
            parts = spec["body"]
            if not body:
                raise self.fail(f"{field}.body", f"{where}: a residual body holds plain layers")
            if not isinstance(parts, list) or not parts:
                raise self.fail(f"{field}.body", f"{where}: expected a list of layer tables, [ {{type = ...}}, ... ]")
            fields["body"] = tuple(
                self.layer(f"{field}.body[{j}]", f"{where}, body layer {j + 1}", part, body=False)
                for j, part in enumerate(parts)
            )
        return Layer(kind, **fields)

    def sequential_example(self, net: SequentialNetwork) -> dict[str, list]:
        """[example] x: (m, *input), t: (m, outputs); the targets of the loss; at least two rows
        under batch norm (one example's batch statistics normalise it to zero)."""
        table = self.get(self.data, "example", "example", dict, {})
        example = {}
        for key, value in table.items():
            if key not in ("x", "t"):
                raise self.fail(f"example.{key}", "a list of layers' example has x and t")
            shape = net.input_shape if key == "x" else net.output_shape
            example[key] = self.tensor_rows(f"example.{key}", value, shape)
        if set(example) not in (set(), {"x", "t"}) or (example and len(example["x"]) != len(example["t"])):
            raise self.fail("example", "give both x and t, with one entry per example each")
        if example:
            rows = example["t"] if len(net.output_shape) == 1 else [step for row in example["t"] for step in row]
            self.targets(LOSSES[net.loss].targets, rows)
            if net.batch_norm and len(example["x"]) < 2:
                raise self.fail("example.x", "batch norm needs at least two examples (one example normalises to zero)")
        return example

    def tensor_rows(self, field: str, value: Any, shape: tuple[int, ...]) -> list:
        """A list of examples, each a nested list of the given shape of finite numbers."""
        described = " x ".join(map(str, shape))

        def check(item: Any, dims: tuple[int, ...], where: str) -> Any:
            if not dims:
                return self.number(where, item)
            if not isinstance(item, list) or len(item) != dims[0]:
                raise self.fail(field, f"expected one {described} array per example ({where} does not fit)")
            return [check(v, dims[1:], f"{where}[{i}]") for i, v in enumerate(item)]

        if not isinstance(value, list) or not value:
            raise self.fail(field, f"expected a list of examples, each {described}")
        return [check(row, shape, f"{field}[{i}]") for i, row in enumerate(value)]

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
