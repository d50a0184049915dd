"""Shared fixtures: derivations and imported generated modules of the built-in examples."""

from __future__ import annotations

from functools import lru_cache

import pytest

from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import import_source
from symbackprop.core.examples import example_names

EXAMPLES = example_names()


@lru_cache(maxsize=None)
def derivation_of(name: str):
    return derive(load_spec(name))


@lru_cache(maxsize=None)
def module_of(name: str):
    return import_source(derivation_of(name).to_numpy(), name=f"train_{name.replace('-', '_')}")


@pytest.fixture(params=EXAMPLES)
def example(request) -> str:
    return request.param
