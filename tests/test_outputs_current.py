"""outputs/ holds every built-in example's generated files; this fails when they are stale."""

from __future__ import annotations

from pathlib import Path

from symbackprop.cli import main
from symbackprop.core.examples import example_names

OUTPUTS = Path(__file__).resolve().parents[1] / "outputs"


def test_committed_outputs_are_current(tmp_path):
    assert main(["regenerate", str(tmp_path)]) == 0
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert {p.parts[0] for p in fresh} == set(example_names())
    stale = [str(p) for p, data in fresh.items() if not (OUTPUTS / p).is_file() or (OUTPUTS / p).read_bytes() != data]
    assert not stale, f"outputs/ is stale ({', '.join(stale)}): run `symbackprop regenerate outputs`"
