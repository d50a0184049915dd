"""Built-in example specs, shipped as package data (``<name>.toml`` beside this file).

The networks of layers (``lenet-tiny``, ``bn-mlp``, ``dropout-mlp``, ``resnet-block``) are listed
with the others. ``sequential/`` holds the sequence models (recurrent, LSTM, GRU, attention),
which load by name (``load_spec("rnn-tiny")``) but are not listed yet: their documents do not
yet have what a handout needs (the unrolled graph, a worked example over time, verification).
"""

from __future__ import annotations

import tomllib
from importlib import resources

STAGED = "sequential"


def example_names() -> list[str]:
    """Names of the built-in examples, sorted."""
    return sorted(p.name[: -len(".toml")] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def staged_example_names() -> list[str]:
    """Names of the built-in sequence models (not in :func:`example_names` yet), sorted."""
    folder = resources.files(__name__).joinpath(STAGED)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def example_text(name: str) -> str:
    """The TOML text of a built-in example."""
    if name not in example_names() and name in staged_example_names():
        return resources.files(__name__).joinpath(STAGED, f"{name}.toml").read_text(encoding="utf-8")
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
