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
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from symbackprop.analysis.gradcheck import check_derivation, import_source
from symbackprop.api import derive
from symbackprop.backends.codegen import TARGETS
from symbackprop.backends.messages import LANGUAGES
from symbackprop.backends.pdf import CompileError, compile_pdf
from symbackprop.core.examples import example_names, example_title
from symbackprop.core.expr import ExprError
from symbackprop.core.network import LayeredNetwork, NetworkError
from symbackprop.core.spec import SpecError, load_spec

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad input from the command line; its message is printed as is."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_all(folder: Path, files: dict[str, bytes]) -> None:
    """Write every file or none: each goes to a temporary name in its folder first, and only when
    all are written are they renamed into place. Files get the permissions the umask allows."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename in files:
        if (folder / filename).is_dir():
            raise IsADirectoryError(21, "a folder stands where the file goes", str(folder / filename))
    mode = 0o666 & ~_umask()
    written: list[tuple[str, Path]] = []
    try:
        for filename, data in files.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".tmp")
            written.append((tmp, folder / filename))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, mode)
    except OSError as err:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(folder / filename)) from None
    except BaseException:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, path in written:
        os.replace(tmp, path)


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


def render_outputs(
    derivation, langs=("en",), formats=("tex",), pdf: bool = False, target: str = "numpy"
) -> dict[str, bytes]:
    """Every file of a derivation, rendered in memory (nothing is written here)."""
    files = {"train.py": derivation.to_numpy(target).encode()}
    for lang in langs:
        if "tex" in formats:
            tex = derivation.to_latex(lang, target)
            files[document_name(lang, "tex")] = tex.encode()
            if pdf:
                files[document_name(lang, "pdf")] = compile_pdf(tex, lang).pdf
        if "md" in formats:
            files[document_name(lang, "md")] = derivation.to_markdown(lang, target).encode()
    return files


def cmd_examples(args: argparse.Namespace) -> int:
    for name in example_names():
        print(f"{name:<20} {example_title(name)}")
    return EXIT_OK


def cmd_derive(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.pdf and args.format != "tex":
        raise InputError(f"{args.spec}: --pdf: a PDF is made from the LaTeX document; drop --format md")
    derivation = derive(load_network(args.spec, args.notation))
    files = render_outputs(derivation, (args.lang,), (args.format,), pdf=args.pdf, target=args.target)
    out = Path(args.output)
    write_all(out, files)
    elapsed = time.perf_counter() - start
    print(f"wrote {', '.join(str(out / f) for f in files)} in {elapsed:.2f} s")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    if args.points < 1 or args.time_limit <= 0:
        raise InputError(f"{args.spec}: --points and --time-limit: must be positive")
    derivation = derive(load_spec(args.spec))
    module = import_source(derivation.to_numpy(), name=f"symbackprop_check_{os.getpid()}")
    report = check_derivation(derivation.inner, module, points=args.points, seed=args.seed, time_limit=args.time_limit)
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


def cmd_verify(args: argparse.Namespace) -> int:
    """Judge one answer, or every line of a LaTeX file; exit 0 correct, 1 incorrect, 2 invalid."""
    from symbackprop.verify.check import verify_answer, verify_document

    if (args.answer is None) == (args.file is None):
        raise InputError(f"{args.spec}: verify: give exactly one of --answer and --file")
    if args.answer is not None:
        verdict = verify_answer(args.spec, args.answer, args.target, args.notation, args.time_limit)
        _report([verdict], args.json)
        return verdict.exit_code
    text = Path(args.file).read_text(encoding="utf-8", errors="replace")
    verdicts = verify_document(args.spec, text, args.notation, args.time_limit)
    _report(verdicts, args.json, document=True)
    return verdicts[-1].exit_code if verdicts else EXIT_BAD_INPUT


def _report(verdicts, as_json: bool, document: bool = False) -> None:
    import json

    if as_json:
        objects = [v.to_json() for v in verdicts]
        if document:
            overall = verdicts[-1].to_json() if verdicts else {"verdict": "invalid", "message": "no equations found"}
            print(json.dumps({**overall, "lines": objects}, sort_keys=True))
        else:
            print(json.dumps(objects[0], sort_keys=True))
        return
    for v in verdicts:
        where = f"line {v.line}: " if v.line is not None else ""
        codes = f" [{', '.join(v.diagnosis)}]" if v.diagnosis else ""
        print(f"{where}{v.verdict}{codes}: {v.message}")
        if v.counterexample:
            print(f"  counterexample: {v.counterexample}")
        if v.decided_by:
            print(f"  decided by: {v.decided_by}")


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade a class: a folder of answer files or a CSV (student, question, answer)."""
    from symbackprop.verify.grade import grade, print_progress

    summary = grade(
        args.spec,
        args.submissions,
        args.output,
        jobs=args.jobs,
        time_limit=args.time_limit,
        force=args.force,
        progress=print_progress,
    )
    print(
        f"{summary['total']} answers ({summary['graded']} graded now, {summary['skipped']} already graded): "
        f"{summary['correct']} correct, {summary['incorrect']} incorrect, {summary['invalid']} invalid; "
        f"report in {args.output}"
    )
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="symbackprop", description="Derive backpropagation symbolically.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("examples", help="list the built-in examples").set_defaults(run=cmd_examples)
    d = sub.add_parser("derive", help="write derivation.tex and train.py for a spec")
    d.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    d.add_argument("-o", "--output", default=".", help="output folder (default: the current directory)")
    d.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the document (default en)")
    d.add_argument("--notation", choices=("node", "layer"), help="notation of a layered network (default: the spec's)")
    d.add_argument("--format", choices=("tex", "md"), default="tex", help="document format: LaTeX or Markdown")
    d.add_argument("--pdf", action="store_true", help="also compile the LaTeX document to PDF")
    d.add_argument(
        "--target", choices=TARGETS, default="numpy", help="train.py for any array library, or jit-compiled for JAX"
    )
    d.set_defaults(run=cmd_derive)
    c = sub.add_parser("check", help="check the generated gradients numerically (exit 1 on failure)")
    c.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    c.add_argument("--points", type=int, default=3, help="random points to check (default 3)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--time-limit", type=float, default=60.0, help="seconds for the whole check (default 60)")
    c.set_defaults(run=cmd_check)
    v = sub.add_parser("verify", help="check a student's derivation (exit 0 correct, 1 incorrect, 2 invalid)")
    v.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    v.add_argument("--answer", help="one equation, LaTeX or plain text")
    v.add_argument("--file", help="a LaTeX file: every line of its display maths, step by step")
    v.add_argument(
        "--target", help="what the answer derives, when it has no left-hand side (delta_4, w_64, update:w_64)"
    )
    v.add_argument("--notation", choices=("node", "layer"), help="notation of a layered network (default: the spec's)")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.add_argument("--time-limit", type=float, default=5.0, help="seconds per answer (default 5)")
    v.set_defaults(run=cmd_verify)
    g = sub.add_parser("grade", help="grade a class's answers into report/ (CSV, JSON, HTML)")
    g.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    g.add_argument("submissions", help="a folder with one file per student, or a CSV (student, question, answer)")
    g.add_argument("-o", "--output", default="report", help="report folder (default: report)")
    g.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    g.add_argument("--time-limit", type=float, default=5.0, help="seconds per answer (default 5)")
    g.add_argument("--force", action="store_true", help="grade again answers already graded")
    g.set_defaults(run=cmd_grade)
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
