"""The ASGI app of ``symbackprop serve``: three pages and a small JSON API (Starlette).

    app = create_app(Settings(specs=("fc-3-2-2",)))      # uvicorn.run(app, host="127.0.0.1")

Pages (Jinja templates in ``templates/web/``, autoescaped; words from the message catalogue,
``?lang=en|zh``):

* ``/`` -- the networks offered, each with its check and derivation pages;
* ``/check/NAME[?target=delta_4]`` -- the check page: the picture and the table of names, an
  input box whose lines are previewed as MathML and judged after a pause (``check.js`` calls
  ``/api/render`` and ``/api/verify``); with a target, the question and its answer's verdict;
* ``/derivation/NAME?lang=&notation=`` -- the derivation document as HTML, with downloads
  (``/download/NAME/pdf|md|ipynb|train.py``) and its pictures (``/figure/...``);
* ``/report`` -- the ``index.html`` that ``grade`` wrote into ``--report DIR``.

API: ``POST /api/verify`` takes ``{"spec": NAME, "answer": TEXT, "target": TEXT?}`` (or
``"spec_toml"``: a spec's TOML text instead of a name) and answers with the JSON of ``verify
--json`` (see symbackprop.web.checker); ``POST /api/render`` takes ``{"lines": [...]}`` and
answers each line as MathML; ``GET /api/specs`` lists the networks.

Safety. Answers are judged only in the worker processes of a :class:`CheckerPool` (time and
memory limits per answer, a crash or timeout is a verdict). Request bodies are read up to
``MAX_BODY`` bytes, answers up to ``MAX_ANSWER_CHARS`` characters and ``MAX_LINES`` lines. An
uploaded spec is written, named by its SHA-256, into the server's own temporary folder (removed
at shutdown) and read by the same spec parser, with the same limits, inside a worker. Nothing a
student types is written anywhere unless ``Settings.log`` names a file; verdicts of identical
requests are kept in memory (the last ``CACHE_SIZE``) so that a pause in typing costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from symbackprop.backends.environment import html_environment, template_dir
from symbackprop.backends.messages import LANGUAGES, catalogue
from symbackprop.verify.grade import MAX_TARGET_CHARS, VERDICTS, json_safe, read_bounded
from symbackprop.verify.pool import Busy, CheckerPool
from symbackprop.verify.verdict import DIAGNOSES
from symbackprop.web.mathml import to_mathml, with_maths
from symbackprop.web.site import DOWNLOADS, Site, offered_specs, target_latex

MAX_ANSWER_CHARS = 10_000
MAX_LINES = 100
MAX_SPEC_CHARS = 100_000
MAX_BODY = 4 * (MAX_ANSWER_CHARS + MAX_SPEC_CHARS + MAX_TARGET_CHARS) + 4096  # UTF-8 and JSON escapes
MAX_RENDER_LINES = MAX_LINES
MAX_REPORT_BYTES = 200 * 2**20
MAX_UPLOADS = 256
CACHE_SIZE = 2048
CHECKER = "symbackprop.web.checker:check"
STATIC = {"check.js": "text/javascript", "style.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Settings:
    """What ``serve`` was asked for: the specs offered (none: every built-in example), the
    report folder, the answer log, and the checker pool's size and limits."""

    specs: tuple[str, ...] = ()
    report: str | None = None
    log: str | None = None
    jobs: int = 2
    time_limit: float = 5.0
    memory_mb: int = 512


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server:
    """The state behind the routes: the site, the checker pool, the cache, the uploads, the log."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.site = Site(offered_specs(settings.specs))
        self.pool: CheckerPool | None = None
        self.cache: OrderedDict[tuple, dict] = OrderedDict()
        self.uploads: OrderedDict[str, Path] = OrderedDict()
        self.folder: Path | None = None
        self.lock = threading.Lock()
        self.log = open(settings.log, "a", encoding="utf-8") if settings.log else None  # noqa: SIM115

    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="symbackprop-serve-"))
        s = self.settings
        self.pool = CheckerPool(CHECKER, s.jobs, s.time_limit, s.memory_mb)

    def warm(self) -> None:
        """Load the checker in every worker now rather than on the first answers; a worker that
        fails to start (or a server stopped meanwhile) is dealt with by the first check."""
        with contextlib.suppress(Exception):
            self.pool.warm()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        if self.log is not None:
            self.log.close()

    # --- checking ---------------------------------------------------------------------------------

    def spec_of(self, body: dict) -> tuple[str, str]:
        """(what the checker is given, what messages may call it) for a request."""
        toml = body.get("spec_toml")
        if toml is not None:
            if not isinstance(toml, str) or len(toml) > MAX_SPEC_CHARS:
                raise BadRequest(413, f"spec_toml: a string of at most {MAX_SPEC_CHARS} characters")
            digest = hashlib.sha256(toml.encode()).hexdigest()
            with self.lock:
                path = self.uploads.pop(digest, None)
                if path is None:
                    path = self.folder / f"{digest[:32]}.toml"
                    path.write_text(toml, encoding="utf-8")
                self.uploads[digest] = path
                while len(self.uploads) > MAX_UPLOADS:
                    _, old = self.uploads.popitem(last=False)
                    old.unlink(missing_ok=True)
            return str(path), "uploaded spec"
        name = body.get("spec")
        if not isinstance(name, str) or name not in self.site.offered:
            raise BadRequest(404, f"spec: not offered here (offered: {', '.join(self.site.offered)})")
        return self.site.offered[name].spec, self.site.offered[name].spec

    def verify(self, body: dict) -> dict:
        answer, target = body.get("answer"), body.get("target") or None
        if not isinstance(answer, str):
            raise BadRequest(422, "answer: a string is required")
        if len(answer) > MAX_ANSWER_CHARS:
            raise BadRequest(413, f"answer: {len(answer)} characters; the limit is {MAX_ANSWER_CHARS}")
        if answer.count("\n") >= MAX_LINES:
            raise BadRequest(413, f"answer: more than {MAX_LINES} lines")
        if target is not None and (not isinstance(target, str) or len(target) > MAX_TARGET_CHARS):
            raise BadRequest(422, f"target: a string of at most {MAX_TARGET_CHARS} characters")
        spec, shown = self.spec_of(body)
        key = (spec, target, answer)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        try:
            data = self.pool.check(spec, answer, target)
        except Busy as err:
            raise BadRequest(503, str(err)) from None
        data = json_safe(data)
        data.pop("seconds", None)
        if shown != spec:  # an uploaded spec's temporary path is no business of the client's
            data = json.loads(json.dumps(data).replace(json.dumps(spec)[1:-1], shown))
        with self.lock:
            self.cache[key] = data
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
            if self.log is not None:
                record = {"time": round(time.time(), 3), "spec": body.get("spec") or shown, "target": target}
                record |= {"answer": answer, "verdict": data.get("verdict")}
                self.log.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.log.flush()
        return data


# --- helpers ----------------------------------------------------------------------------------


def plain_title(text: str) -> str:
    """A title for the browser's tab: its $...$ maths as plain text."""
    return text.replace("$", "")


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang", "en")
    return lang if lang in LANGUAGES else "en"


def _page(template: str, status: int = 200, **context) -> HTMLResponse:
    html = html_environment().get_template(f"web/{template}").render(**context)
    return HTMLResponse(html, status, headers=HEADERS)


def _words(lang: str) -> dict:
    """The words check.js shows, in the page's language."""
    msg = catalogue(lang)
    words = {key: getattr(msg, f"web_{key}") for key in (
        "checking", "line", "follows", "counterexample", "col_quantity", "your_value", "correct_value",
        "marked", "as_answer", "busy", "failed", "more", "instances",
    )}  # fmt: skip
    words["verdicts"] = {v: getattr(msg, f"web_verdict_{v}") for v in VERDICTS}
    words["diagnoses"] = {d: getattr(msg, f"web_diagnosis_{d}") for d in DIAGNOSES}
    return words


def _script_json(data: dict) -> Markup:
    """JSON to put inside <script type="application/json">: HTML entities are not decoded there,
    so nothing is entity-escaped; instead <, > and & are written as JSON escapes, so that no
    string (a target from the URL) can end the element."""
    text = json.dumps(data, ensure_ascii=True)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


async def _json_body(request: Request) -> dict:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise BadRequest(413, f"request body larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(413, f"request body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object")
    return body


def _error(err: BadRequest) -> JSONResponse:
    return JSONResponse({"error": str(err)}, err.status, headers=HEADERS)


# --- the app ----------------------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> Starlette:
    """The app; SpecError (naming the file and field) for a spec that does not parse."""
    server = Server(settings or Settings())
    site = server.site

    def known(request: Request) -> str:
        name = request.path_params["name"]
        if name not in site.offered:
            raise KeyError(name)
        return name

    def not_found(lang: str) -> HTMLResponse:
        msg = catalogue(lang)
        return _page("message.html.j2", 404, msg=msg, lang=lang, title=msg.web_not_found, text=msg.web_not_found)

    def index(request: Request) -> Response:
        lang = _lang(request)
        items = [(o, with_maths(o.title_in(lang))) for o in site.offered.values()]
        return _page("index.html.j2", msg=catalogue(lang), lang=lang, items=items, report=bool(settings_.report))

    def check_page(request: Request) -> Response:
        lang = _lang(request)
        try:
            name = known(request)
        except KeyError:
            return not_found(lang)
        target = request.query_params.get("target", "").strip()[:MAX_TARGET_CHARS] or None
        words, table = site.quantities(name, lang)
        item = site.offered[name]
        return _page(
            "check.html.j2",
            msg=catalogue(lang),
            lang=lang,
            item=item,
            title=plain_title(item.title_in(lang)),
            heading=with_maths(item.title_in(lang)),
            picture=site.picture(name, lang),
            words=words,
            table=table,
            target=target,
            question=target_latex(target) if target else None,
            placeholder=site.example_answer(name, lang),
            config=_script_json({"spec": name, "target": target, "words": _words(lang)}),
            logged=settings_.log is not None,
        )

    def derivation_page(request: Request) -> Response:
        lang = _lang(request)
        try:
            name = known(request)
        except KeyError:
            return not_found(lang)
        item = site.offered[name]
        notation = site.notation(name, request.query_params.get("notation"))
        return _page(
            "derivation.html.j2",
            msg=catalogue(lang),
            lang=lang,
            item=item,
            title=plain_title(item.title_in(lang)),
            notation=notation,
            document=site.document(name, lang, notation),
            pdf=site.pdf_possible(lang),
            languages=LANGUAGES,
        )

    def download(request: Request) -> Response:
        lang = _lang(request)
        try:
            name = known(request)
        except KeyError:
            return not_found(lang)
        kind = request.path_params["kind"]
        if kind not in DOWNLOADS:
            return not_found(lang)
        found = site.download(name, lang, request.query_params.get("notation"), kind)
        if found.data is None:
            msg = catalogue(lang)
            text = f"{msg.web_pdf_missing}: {found.missing}" if found.missing else msg.web_pdf_missing
            return _page("message.html.j2", 503, msg=msg, lang=lang, title=msg.web_pdf, text=text)
        media = {"pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}.get(kind, "application/octet-stream")
        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{found.filename}"'}
        return Response(found.data, media_type=media, headers=headers)

    def figure(request: Request) -> Response:
        name, notation, file = (request.path_params[k] for k in ("name", "notation", "file"))
        parts = file.split(".")  # en.fig1.svg
        if name not in site.offered or len(parts) != 3 or parts[0] not in LANGUAGES or not parts[1][3:].isdigit():
            return Response(status_code=404)
        svg = site.figure(name, parts[0], None if notation == "graph" else notation, int(parts[1][3:]))
        if svg is None:
            return Response(status_code=404)
        return Response(svg, media_type="image/svg+xml", headers={**HEADERS, "Cache-Control": "max-age=3600"})

    def report(request: Request) -> Response:
        lang = _lang(request)
        msg = catalogue(lang)
        if not settings_.report:
            return _page("message.html.j2", 404, msg=msg, lang=lang, title=msg.web_report, text=msg.web_no_report)
        try:
            html = read_bounded(Path(settings_.report) / "index.html", MAX_REPORT_BYTES)
        except ValueError:
            return _page("message.html.j2", 404, msg=msg, lang=lang, title=msg.web_report, text=msg.web_no_report)
        policy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
        return HTMLResponse(html, headers={**HEADERS, "Content-Security-Policy": policy})

    def static(request: Request) -> Response:
        file = request.path_params["file"]
        if file not in STATIC:
            return Response(status_code=404)
        data = (template_dir() / "web" / "static" / file).read_bytes()
        return Response(data, media_type=STATIC[file], headers={**HEADERS, "Cache-Control": "max-age=300"})

    async def api_verify(request: Request) -> Response:
        try:
            body = await _json_body(request)
            data = await run_in_threadpool(server.verify, body)
        except BadRequest as err:
            return _error(err)
        return JSONResponse(data, headers=HEADERS)

    async def api_render(request: Request) -> Response:
        try:
            body = await _json_body(request)
            lines = body.get("lines")
            if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
                raise BadRequest(422, "lines: a list of strings is required")
            if len(lines) > MAX_RENDER_LINES or sum(map(len, lines)) > MAX_ANSWER_CHARS:
                raise BadRequest(413, f"at most {MAX_RENDER_LINES} lines of {MAX_ANSWER_CHARS} characters in all")
        except BadRequest as err:
            return _error(err)
        rendered = await run_in_threadpool(lambda: [str(to_mathml(x.replace("&", " ").strip())) for x in lines])
        return JSONResponse({"lines": rendered}, headers=HEADERS)

    def api_specs(request: Request) -> Response:
        items = [{"name": o.name, "title": o.title, "notations": list(o.notations)} for o in site.offered.values()]
        return JSONResponse({"specs": items}, headers=HEADERS)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        server.start()
        warm = threading.Thread(target=server.warm, daemon=True)
        warm.start()
        try:
            yield
        finally:
            server.stop()

    settings_ = server.settings
    routes = [
        Route("/", index),
        Route("/check/{name}", check_page),
        Route("/derivation/{name}", derivation_page),
        Route("/download/{name}/{kind}", download),
        Route("/figure/{name}/{notation}/{file}", figure),
        Route("/report", report),
        Route("/static/{file}", static),
        Route("/api/verify", api_verify, methods=["POST"]),
        Route("/api/render", api_render, methods=["POST"]),
        Route("/api/specs", api_specs),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.server = server
    return app
