"""Command line: ``symbackprop examples | derive | check | verify | grade | serve | regenerate``.

Thin on purpose: parse arguments, call the library, write files atomically (every output is
rendered first, then each file is written to a temporary name and renamed), and turn bad
input into one line on stderr with exit status 2.

Each command imports what it needs inside its ``cmd_*`` function: ``verify`` is a short process
that a grader runs once per answer, and must not pay for Jinja, the printers, the documents or
the gradient checker (``tests/test_startup.py`` keeps it so). The choices of ``derive`` that
live in the backends are read only when ``derive`` is parsed or its help is shown.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
MAX_DOCUMENT_BYTES = 2**20  # verify --file: a student's LaTeX document

GRADE_FORMATS = """\
submissions:
  a folder     one UTF-8 file per student; the student is the file's name without its suffix.
               One "question: answer" per line; blank lines and lines starting with # are skipped:
                   q1: \\delta_6 = (y_6 - t_6) y_6 (1 - y_6)
                   q2: \\frac{\\partial E}{\\partial w_{64}} = \\delta_6 y_4
               An optional questions.toml in the folder (not a student's file) binds each
               question to the quantity it asks for; an answer that derives another quantity
               is incorrect (wrong_target), and a bare right-hand side is read as that quantity:
                   q1 = "delta_6"
                   q2 = "dE/dw_64"
               Each key must be a question some student answers, each value a string.
  a CSV file   header student,question,answer and an optional target column (delta_6,
               dE/dw_64, ...), one row per answer; fields with commas or line breaks are quoted.

Files must be regular files of at most 50 MB. A later answer to the same question replaces an
earlier one. The report folder gets results.csv, results.json (strict JSON: a non-finite
number is null beside a "<key>_text" string) and index.html, with the target of every answer,
and .progress.jsonl, so that a rerun grades only new or changed answers (--force: all).

--scheduler tcp://HOST:PORT runs the answers on a Dask cluster instead (pip install distributed;
its workers need symbackprop and the spec). Each worker thread checks answers in a process of
its own under the same time and memory limits; the reports and .progress.jsonl are written here,
as results arrive, so an interrupted run resumes either way.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr and exit status 2, like every other bad input."""

    def error(self, message: str) -> None:
        command = self.prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        self.exit(EXIT_BAD_INPUT, f"symbackprop: error: {where}{message} (see {self.prog} --help)\n")


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above zero (nan, inf, 0 and -1 are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds above 0")
    return value


class _Choices(Sequence):
    """The choices of an option, read from a module when first needed (when that command's
    arguments are checked or its help is shown), so building the parser imports nothing."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _values(self) -> tuple:
        import importlib

        return tuple(getattr(importlib.import_module(self.module), self.name))

    def __getitem__(self, index):
        return self._values()[index]

    def __len__(self) -> int:
        return len(self._values())

    def __contains__(self, value) -> bool:
        return value in self._values()


class InputError(Exception):
    """Bad input from the command line; its message is printed as is."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_all(folder: Path, files: dict[str, bytes]) -> None:
    """Write every file or none: each goes to a temporary name in its folder first, and only when
    all are written are they renamed into place. Files get the permissions the umask allows."""
    import tempfile  # here: verify, a process per answer, writes nothing

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


def load_network(spec: str, notation: str | None = None):
    from dataclasses import replace

    from symbackprop.core.network import LayeredNetwork
    from symbackprop.core.spec import load_spec

    network = load_spec(spec)
    if notation is not None:
        if not isinstance(network, LayeredNetwork):
            raise InputError(f"{spec}: --notation: applies to layered networks ([mlp] specs) only")
        network = replace(network, notation=notation)
    return network


def render_outputs(derivation, *args, **kwargs) -> dict[str, bytes]:
    """Every file of a derivation, rendered in memory: see :func:`symbackprop.api.render_outputs`."""
    from symbackprop.api import render_outputs as render

    return render(derivation, *args, **kwargs)


def document_name(lang: str, suffix: str) -> str:
    """derivation.tex / derivation.zh.tex and so on: see :func:`symbackprop.api.document_name`."""
    from symbackprop.api import document_name as name

    return name(lang, suffix)


def cmd_examples(args: argparse.Namespace) -> int:
    from symbackprop.core.examples import example_names, example_title

    for name in example_names():
        print(f"{name:<20} {example_title(name).replace('$', '')}")  # a title's $maths$ as plain text
    return EXIT_OK


def cmd_derive(args: argparse.Namespace) -> int:
    from symbackprop.api import derive

    start = time.perf_counter()
    if args.pdf and args.format != "tex":
        raise InputError(f"{args.spec}: --pdf: a PDF is made from the LaTeX document; drop --format {args.format}")
    if args.format != "tex" and not args.no_figures:
        from symbackprop.backends.svg import MissingTool, require_tools

        try:
            require_tools(args.lang)
        except MissingTool as err:
            raise InputError(f"{args.spec}: --format {args.format}: {err}; or add --no-figures") from None
    derivation = derive(load_network(args.spec, args.notation), brief=args.brief)
    files = render_outputs(
        derivation, (args.lang,), (args.format,), pdf=args.pdf, target=args.target, figures=not args.no_figures
    )
    out = Path(args.output)
    write_all(out, files)
    elapsed = time.perf_counter() - start
    print(f"wrote {', '.join(str(out / f) for f in files)} in {elapsed:.2f} s")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from symbackprop.analysis.gradcheck import check_derivation, import_source
    from symbackprop.api import derive
    from symbackprop.core.spec import load_spec

    if args.points < 1:
        raise InputError(f"{args.spec}: --points: must be positive")
    derivation = derive(load_spec(args.spec))
    module = import_source(derivation.to_numpy(), name=f"symbackprop_check_{os.getpid()}")
    report = check_derivation(derivation.inner, module, points=args.points, seed=args.seed, time_limit=args.time_limit)
    print(f"{report.network}: generated backward vs finite differences and vs the symbolic gradients")
    print(report.table())
    return EXIT_OK if report.passed else EXIT_FAIL


def cmd_regenerate(args: argparse.Namespace) -> int:
    """Rewrite the committed example outputs: every built-in example into DIR/<name>/."""
    from symbackprop.api import derive
    from symbackprop.backends.messages import LANGUAGES
    from symbackprop.core.examples import example_names
    from symbackprop.core.spec import load_spec

    rendered = {
        name: render_outputs(
            derive(load_spec(name)),
            LANGUAGES,
            ("tex", "md", "ipynb"),
            pdf=args.pdf,
            figures=args.pdf,
            linked_notebook=True,
        )
        for name in example_names()
    }
    for name, files in rendered.items():
        write_all(Path(args.directory) / name, files)
    print(f"regenerated {len(rendered)} examples in {args.directory}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Judge one answer, or every line of a LaTeX file; exit 0 correct, 1 incorrect, 2 invalid."""
    if (args.answer is None) == (args.file is None):
        raise InputError(f"{args.spec}: verify: give exactly one of --answer and --file")
    if args.answer is not None:
        from symbackprop.verify.check import verify_answer

        verdict = verify_answer(args.spec, args.answer, args.target, args.notation, args.time_limit)
        _report([verdict], args.json)
        return verdict.exit_code
    from symbackprop.verify.grade import read_bounded

    try:  # before the checker is imported: a file that cannot be read is refused at once
        text = read_bounded(args.file, MAX_DOCUMENT_BYTES).decode("utf-8", errors="replace")
    except ValueError as err:
        raise InputError(str(err)) from None
    from symbackprop.verify.check import summarize, verify_document

    verdicts = verify_document(args.spec, text, args.notation, args.time_limit)
    overall, counts = summarize(verdicts)
    _report(verdicts, args.json, summary=(overall, counts))
    if not args.json and verdicts:
        first = counts["first_wrong_line"]
        tail = f"; the first that is not is line {first}" if first is not None else ""
        print(f"{counts['right']} of {counts['lines']} lines right{tail}")
    return overall.exit_code if verdicts else EXIT_BAD_INPUT


def _report(verdicts, as_json: bool, summary: tuple | None = None) -> None:
    if as_json:
        import json

        from symbackprop.verify.grade import json_safe

        if summary is not None:  # a document: the first line that is not right decides, every line listed
            from symbackprop.verify.check import document_json

            data = document_json(verdicts)
        else:
            data = verdicts[0].to_json()
        print(json.dumps(json_safe(data), sort_keys=True, allow_nan=False))
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
    import functools

    from symbackprop.core.spec import load_spec
    from symbackprop.verify.grade import grade, load_submissions, print_progress

    if args.jobs < 1:
        raise InputError(f"{args.submissions}: --jobs: must be at least 1")
    try:
        load_submissions(args.submissions)  # bad input is reported before anything starts
    except ValueError as err:
        raise InputError(str(err)) from None
    load_spec(args.spec)  # a bad spec is one line, not one invalid verdict per answer
    from symbackprop.web.report import report_html

    try:
        summary = grade(
            args.spec,
            args.submissions,
            args.output,
            jobs=args.jobs,
            time_limit=args.time_limit,
            force=args.force,
            progress=print_progress,
            scheduler=args.scheduler,
            report=functools.partial(report_html, lang=args.lang),
        )
    except (ValueError, ImportError) as err:
        raise InputError(str(err)) from None
    print(
        f"{summary['total']} answers ({summary['graded']} graded now, {summary['skipped']} already graded): "
        f"{summary['correct']} correct, {summary['incorrect']} incorrect, {summary['invalid']} invalid, "
        f"{summary['undecided']} undecided; report in {args.output}"
    )
    return EXIT_OK


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(text)


def cmd_serve(args: argparse.Namespace) -> int:
    """The classroom's web pages and JSON API (symbackprop.web), until Ctrl-C."""
    import socket

    if args.jobs < 1:
        raise InputError("serve: --jobs: must be at least 1")
    if args.report is not None and not Path(args.report, "index.html").is_file():
        raise InputError(f"{args.report}: --report: no index.html in it (write one with symbackprop grade)")
    if args.log is not None and Path(args.log).is_dir():
        raise InputError(f"{args.log}: --log: a folder, not a file")
    from symbackprop.web.app import Settings, create_app

    settings = Settings(tuple(args.specs), args.report, args.log, args.jobs, args.time_limit)
    app = create_app(settings)  # every spec is parsed here: a bad one is one line, before anything listens
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except (OSError, OverflowError) as err:
        sock.close()
        raise InputError(
            f"serve: --host {args.host} --port {args.port}: {getattr(err, 'strerror', None) or err}"
        ) from None
    import uvicorn

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    count = len(app.state.server.site.offered)
    print(f"serving {count} network{'s' * (count != 1)} on http://{shown}:{port}/ (Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="symbackprop", description="Derive backpropagation symbolically.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("examples", help="list the built-in examples").set_defaults(run=cmd_examples)
    d = sub.add_parser("derive", help="write derivation.tex and train.py for a spec")
    d.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    d.add_argument("-o", "--output", default=".", help="output folder (default: the current directory)")
    languages = _Choices("symbackprop.backends.messages", "LANGUAGES")
    d.add_argument("--lang", choices=languages, metavar="LANG", default="en", help="%(choices)s (default en)")
    d.add_argument(
        "--notation", choices=("node", "layer", "d2l"), help="notation of a layered network (default: the spec's)"
    )
    d.add_argument(
        "--format",
        choices=("tex", "md", "ipynb"),
        default="tex",
        help="document format: LaTeX, Markdown (figures as SVG files beside it) or a Jupyter notebook",
    )
    d.add_argument("--pdf", action="store_true", help="also compile the LaTeX document to PDF")
    d.add_argument(
        "--no-figures",
        action="store_true",
        help="md and ipynb without their pictures (the pictures need TeX Live and pdftocairo)",
    )
    d.add_argument(
        "--brief",
        action="store_true",
        help="a short handout: one representative unit per layer, the matrix form, lemmas, worked example",
    )
    d.add_argument(
        "--target",
        choices=_Choices("symbackprop.backends.codegen", "TARGETS"),
        metavar="TARGET",
        default="numpy",
        help="%(choices)s: train.py for any array library, or jit-compiled for JAX (default numpy)",
    )
    d.set_defaults(run=cmd_derive)
    c = sub.add_parser("check", help="check the generated gradients numerically (exit 1 on failure)")
    c.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    c.add_argument("--points", type=int, default=3, help="random points to check (default 3)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--time-limit", type=seconds, default=60.0, help="seconds for the whole check (default 60)")
    c.set_defaults(run=cmd_check)
    v = sub.add_parser(
        "verify", help="check a student's derivation (exit 0 correct, 1 incorrect, 2 invalid, 3 undecided)"
    )
    v.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    v.add_argument("--answer", help="one equation, LaTeX or plain text")
    v.add_argument("--file", help="a LaTeX file (at most 1 MB): every line of its display maths, step by step")
    v.add_argument(
        "--target", help="what the answer derives, when it has no left-hand side (delta_4, w_64, update:w_64)"
    )
    v.add_argument(
        "--notation", choices=("node", "layer", "d2l"), help="notation of a layered network (default: the spec's)"
    )
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.add_argument("--time-limit", type=seconds, default=5.0, help="seconds per answer (default 5)")
    v.set_defaults(run=cmd_verify)
    g = sub.add_parser(
        "grade",
        help="grade a class's answers into report/ (CSV, JSON, HTML)",
        description="Grade every answer of a class against a spec, in worker processes or on a Dask cluster.",
        epilog=GRADE_FORMATS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("spec", help="a built-in example's name or a path to a .toml spec")
    g.add_argument("submissions", help="a folder with one file per student (and questions.toml), or a CSV")
    g.add_argument("-o", "--output", default="report", help="report folder (default: report)")
    g.add_argument("--jobs", type=int, default=2, help="local worker processes (default 2)")
    g.add_argument("--time-limit", type=seconds, default=5.0, help="seconds per answer (default 5)")
    g.add_argument("--force", action="store_true", help="grade again answers already graded")
    g.add_argument("--lang", choices=languages, metavar="LANG", default="en", help="the report's language: %(choices)s")
    g.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the answers on this Dask cluster (needs dask.distributed) instead of local processes",
    )
    g.set_defaults(run=cmd_grade)
    s = sub.add_parser(
        "serve",
        help="the classroom's web pages: check a derivation as you type it, read derivations, a grading report",
        description="Serve the check, derivation and report pages and the JSON API (POST /api/verify).",
    )
    s.add_argument("specs", nargs="*", help="built-in names or .toml specs to offer (default: every built-in example)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=port_number, default=8000, help="port (default 8000; 0: any free port)")
    s.add_argument("--report", metavar="DIR", help="a report folder written by grade: shown at /report")
    s.add_argument("--log", metavar="FILE", help="append every answer checked to FILE (JSON lines); else none is kept")
    s.add_argument("--jobs", type=int, default=2, help="checker processes (default 2)")
    s.add_argument("--time-limit", type=seconds, default=5.0, help="seconds per answer (default 5)")
    s.set_defaults(run=cmd_serve)
    r = sub.add_parser("regenerate", help="regenerate the outputs of every built-in example")
    r.add_argument("directory", nargs="?", default="outputs", help="target folder (default: outputs)")
    r.add_argument(
        "--pdf", action="store_true", help="also compile the PDFs and the Markdown figures (needs TeX Live, pdftocairo)"
    )
    r.set_defaults(run=cmd_regenerate)
    return p


def _loaded(module: str, name: str) -> tuple[type, ...]:
    """The exception class ``module.name`` if this run imported that module (an error of a module
    never imported cannot have been raised), so that reporting errors imports nothing."""
    found = getattr(sys.modules.get(module), name, None)
    return (found,) if found is not None else ()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code = _run(args)
    if argv is None and args.command == "verify":  # this process is one verify (not a caller's main([...]))
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown: freeing SymPy's and NumPy's objects
    one by one takes about 80 ms, a tenth of a verify process that a grader may run per answer.
    Nothing is left to clean up after a verdict; the output is flushed first."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe (verify ... | head): the exit status still counts
        pass
    os._exit(code)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.run(args)
    except Exception as err:
        bad_input = (
            InputError,
            *_loaded("symbackprop.core.spec", "SpecError"),
            *_loaded("symbackprop.core.network", "NetworkError"),
            *_loaded("symbackprop.core.expr", "ExprError"),
            *_loaded("symbackprop.backends.svg", "MissingTool"),
        )
        if isinstance(err, bad_input):
            print(f"symbackprop: error: {err}", file=sys.stderr)
        elif isinstance(err, (RecursionError, MemoryError)):
            print(
                f"symbackprop: error: {getattr(args, 'spec', '')}: spec: input too large or too deeply nested",
                file=sys.stderr,
            )
        elif isinstance(err, _loaded("symbackprop.backends.pdf", "CompileError")):
            print(f"symbackprop: error: {err}", file=sys.stderr)
            return EXIT_FAIL
        elif isinstance(err, OSError):
            print(
                f"symbackprop: error: {err.filename or getattr(args, 'spec', '')}: {err.strerror or err}",
                file=sys.stderr,
            )
        else:
            raise
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
