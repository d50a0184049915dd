"""Built-in example specs, shipped as package data (``<name>.toml`` beside this file)."""

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
