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

from dataclasses import replace

from symbackprop import LayeredNetwork, derive, load_spec
from symbackprop.check import check_derivation
from symbackprop.examples import example_names, example_title
from symbackprop.expr import ExprError
from symbackprop.network import NetworkError
from symbackprop.render.messages import LANGUAGES
from symbackprop.render.pdf import CompileError, compile_pdf
from symbackprop.spec import SpecError

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad input from the command line; its message is printed as is."""


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except CompileError as err:
        print(f"symbackprop: error: {err}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def document_name(lang: str, suffix: str) -> str:
    """derivation.tex / derivation.zh.tex and so on: English keeps the plain name."""
    return f"derivation.{suffix}" if lang == "en" else f"derivation.{lang}.{suffix}"


def load_network(spec: str, notation: str | None = None):
    network = load_spec(spec)
    if notation is not None:
        if not isinstance(network, LayeredNetwork):
            raise InputError(f"{spec}: --notation: applies to layered networks ([mlp] specs) only")
        network = replace(network, notation=notation)
    return network


def render_outputs(derivation, langs=("en",), formats=("tex",), pdf: bool = False) -> dict[str, bytes]:
    """Every file of a derivation, rendered in memory (nothing is written here)."""
    files = {"train.py": derivation.to_numpy().encode()}
    for lang in langs:
        if "tex" in formats:
            tex = derivation.to_latex(lang)
            files[document_name(lang, "tex")] = tex.encode()
            if pdf:
                files[document_name(lang, "pdf")] = compile_pdf(tex, lang).pdf
        if "md" in formats:
            files[document_name(lang, "md")] = derivation.to_markdown(lang).encode()
    return files


def write_all(folder: Path, files: dict[str, bytes]) -> None:
    for filename, data in files.items():
        write_atomically(folder / filename, data)


def cmd_examples(args: argparse.Namespace) -> int:
    for name in example_names():
        print(f"{name:<20} {example_title(name)}")
    return EXIT_OK


def cmd_derive(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.pdf and args.format != "tex":
        raise InputError(f"{args.spec}: --pdf: a PDF is made from the LaTeX document; drop --format md")
    derivation = derive(load_network(args.spec, args.notation))
    files = render_outputs(derivation, (args.lang,), (args.format,), pdf=args.pdf)
    out = Path(args.output) if args.output else Path("outputs") / derivation.network.name
    write_all(out, files)
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
    rendered = {
        name: render_outputs(derive(load_spec(name)), LANGUAGES, ("tex", "md"), pdf=args.pdf)
        for name in example_names()
    }
    for name, files in rendered.items():
        write_all(Path(args.directory) / name, files)
    print(f"regenerated {len(rendered)} examples in {args.directory}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="symbackprop", description="Derive backpropagation symbolically.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("examples", help="list the built-in examples").set_defaults(run=cmd_examples)
    d = sub.add_parser("derive", help="write derivation.tex and train.py for a spec")
    d.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    d.add_argument("-o", "--output", help="output folder (default: outputs/<name>)")
    d.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the document (default en)")
    d.add_argument("--notation", choices=("node", "layer"), help="notation of a layered network (default: the spec's)")
    d.add_argument("--format", choices=("tex", "md"), default="tex", help="document format: LaTeX or Markdown")
    d.add_argument("--pdf", action="store_true", help="also compile the LaTeX document to PDF")
    d.set_defaults(run=cmd_derive)
    c = sub.add_parser("check", help="check the generated gradients numerically (exit 1 on failure)")
    c.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    c.add_argument("--points", type=int, default=3, help="random points to check (default 3)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.set_defaults(run=cmd_check)
    r = sub.add_parser("regenerate", help="regenerate the outputs of every built-in example")
    r.add_argument("directory", nargs="?", default="outputs", help="target folder (default: outputs)")
    r.add_argument("--pdf", action="store_true", help="also compile the PDFs (needs TeX Live)")
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
    except CompileError as err:
        print(f"symbackprop: error: {err}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as err:
        print(
            f"symbackprop: error: {err.filename or getattr(args, 'spec', '')}: {err.strerror or err}", file=sys.stderr
        )
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
