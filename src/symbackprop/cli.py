"""Command line: ``symbackprop examples | derive | check | regenerate``.

Thin on purpose: parse arguments, call the library, write files atomically (every output is
rendered first, then each file is written to a temporary name and renamed), and turn bad
input into one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from symbackprop import derive, load_spec
from symbackprop.check import check_derivation
from symbackprop.examples import example_names, example_title
from symbackprop.expr import ExprError
from symbackprop.network import NetworkError
from symbackprop.spec import SpecError

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad input from the command line; its message is printed as is."""


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_outputs(spec: str) -> tuple[str, dict[str, str]]:
    """Derive a spec and render its files (nothing is written here)."""
    derivation = derive(load_spec(spec))
    return derivation.network.name, {"derivation.tex": derivation.to_latex(), "train.py": derivation.to_numpy()}


def cmd_examples(args: argparse.Namespace) -> int:
    for name in example_names():
        print(f"{name:<20} {example_title(name)}")
    return EXIT_OK


def cmd_derive(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    name, files = render_outputs(args.spec)
    out = Path(args.output) if args.output else Path("outputs") / name
    for filename, text in files.items():
        write_atomically(out / filename, text)
    elapsed = time.perf_counter() - start
    print(f"wrote {', '.join(str(out / f) for f in files)} in {elapsed:.2f} s")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    derivation = derive(load_spec(args.spec))
    report = check_derivation(derivation, points=args.points, seed=args.seed)
    print(f"{report.network}: generated backward vs finite differences and vs the symbolic gradients")
    print(report.table())
    return EXIT_OK if report.passed else EXIT_FAIL


def cmd_regenerate(args: argparse.Namespace) -> int:
    """Rewrite the committed example outputs: every built-in example into DIR/<name>/."""
    rendered = {name: render_outputs(name)[1] for name in example_names()}
    for name, files in rendered.items():
        for filename, text in files.items():
            write_atomically(Path(args.directory) / name / filename, text)
    print(f"regenerated {len(rendered)} examples in {args.directory}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="symbackprop", description="Derive backpropagation symbolically.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("examples", help="list the built-in examples").set_defaults(run=cmd_examples)
    d = sub.add_parser("derive", help="write derivation.tex and train.py for a spec")
    d.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    d.add_argument("-o", "--output", help="output folder (default: outputs/<name>)")
    d.set_defaults(run=cmd_derive)
    c = sub.add_parser("check", help="check the generated gradients numerically (exit 1 on failure)")
    c.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    c.add_argument("--points", type=int, default=3, help="random points to check (default 3)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.set_defaults(run=cmd_check)
    r = sub.add_parser("regenerate", help="regenerate the outputs of every built-in example")
    r.add_argument("directory", nargs="?", default="outputs", help="target folder (default: outputs)")
    r.set_defaults(run=cmd_regenerate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (SpecError, NetworkError, ExprError, InputError) as err:
        print(f"symbackprop: error: {err}", file=sys.stderr)
    except (RecursionError, MemoryError):
        print(
            f"symbackprop: error: {getattr(args, 'spec', '')}: spec: input too large or too deeply nested",
            file=sys.stderr,
        )
    except OSError as err:
        print(
            f"symbackprop: error: {err.filename or getattr(args, 'spec', '')}: {err.strerror or err}", file=sys.stderr
        )
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
