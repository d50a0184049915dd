"""Shared fixtures: derivations and imported generated modules of the built-in examples."""

from __future__ import annotations

from functools import lru_cache

import pytest

from symbackprop import derive, load_spec
from symbackprop.analysis.gradcheck import import_source
from symbackprop.core.examples import classic_example_names

# The graph and layer-size examples: every per-unit, notation, diagram and verification test runs
# over them. The networks of layers (lenet-tiny, ...) have their own files (test_sequential*.py,
# test_conv_oracle.py), which run the same kinds of checks in the forms those networks have.
EXAMPLES = classic_example_names()


@lru_cache(maxsize=None)
def derivation_of(name: str):
    return derive(load_spec(name))


@lru_cache(maxsize=None)
def module_of(name: str):
    return import_source(derivation_of(name).to_numpy(), name=f"train_{name.replace('-', '_')}")


@pytest.fixture(params=EXAMPLES)
def example(request) -> str:
    return request.param
