"""Built-in example specs, shipped as package data (``<name>.toml`` beside this file).

The networks of layers (``lenet-tiny``, ``bn-mlp``, ``dropout-mlp``, ``resnet-block``) and the
sequence models (``rnn-tiny``, ``lstm-tiny``, ``gru-tiny``, ``attention-tiny``) are listed with
the others.
"""

from __future__ import annotations

import tomllib
from importlib import resources


def example_names() -> list[str]:
    """Names of the built-in examples, sorted."""
    return sorted(p.name[: -len(".toml")] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def example_text(name: str) -> str:
    """The TOML text of a built-in example."""
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def example_title(name: str) -> str:
    return tomllib.loads(example_text(name)).get("title", "")


def layer_example_names() -> list[str]:
    """The listed examples that are networks of layers (``[[layers]]`` specs)."""
    return [n for n in example_names() if "layers" in tomllib.loads(example_text(n))]


def classic_example_names() -> list[str]:
    """The listed examples given as a graph or as layer sizes (not ``[[layers]]``)."""
    layers = set(layer_example_names())
    return [n for n in example_names() if n not in layers]
