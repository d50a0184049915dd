"""Built-in example specs, shipped as package data (``<name>.toml`` beside this file).

``sequential/`` holds the examples of the ``[[layers]]`` form (convolution, batch norm, dropout,
a residual block). They load by name like the others (``load_spec("lenet-tiny")``), but
:func:`example_names` does not list them yet: the listed examples are the ones every document,
notebook and verification test runs over, and those features do not cover these layers yet.
"""

from __future__ import annotations

import tomllib
from importlib import resources

STAGED = "sequential"


def example_names() -> list[str]:
    """Names of the built-in examples, sorted."""
    return sorted(p.name[: -len(".toml")] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def staged_example_names() -> list[str]:
    """Names of the built-in ``[[layers]]`` examples (not in :func:`example_names` yet), sorted."""
    folder = resources.files(__name__).joinpath(STAGED)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def example_text(name: str) -> str:
    """The TOML text of a built-in example."""
    if name not in example_names() and name in staged_example_names():
        return resources.files(__name__).joinpath(STAGED, f"{name}.toml").read_text(encoding="utf-8")
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def example_title(name: str) -> str:
    return tomllib.loads(example_text(name)).get("title", "")
