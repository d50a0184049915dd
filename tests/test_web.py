"""symbackprop serve: the JSON API and the pages through an HTTP test client, the escaping of
everything a user typed, the bounds on requests, the checker pool, and the command's bad input.

The pages in a real browser are tests/test_web_browser.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from symbackprop.cli import main
from symbackprop.verify.pool import CheckerPool
from symbackprop.web.app import MAX_ANSWER_CHARS, MAX_BODY, MAX_LINES, Settings, create_app
from symbackprop.web.checker import check, error_column
from symbackprop.web.mathml import to_mathml
from symbackprop.web.site import markdown_html

RIGHT = r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)"
WRONG = r"\delta_6 = (t_6 - y_6) y_6 (1 - y_6)"
SCRIPT_TITLE = """title = "<script>alert('title')</script> net"
inputs = ["x"]
targets = ["t"]
loss = "(f - t)**2 / 2"
[parameters]
w = 0.5
[nodes]
f = "w*x"
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("specs")
    (folder / "evil.toml").write_text(SCRIPT_TITLE, encoding="utf-8")
    log = folder / "answers.jsonl"
    app = create_app(Settings(specs=("fc-3-2-2", str(folder / "evil.toml")), log=str(log), jobs=2))
    with TestClient(app) as c:
        c.log_path = log
        yield c


def verify(client, **body):
    return client.post("/api/verify", json={"spec": "fc-3-2-2", **body})


def test_a_wrong_answer_gets_the_json_of_verify(client, capsys):
    reply = verify(client, answer=WRONG)
    assert reply.status_code == 200
    data = reply.json()
    assert main(["verify", "fc-3-2-2", "--answer", WRONG, "--json"]) == 1
    assert data == json.loads(capsys.readouterr().out)  # the same JSON as verify --json
    assert data["diagnosis"] == ["sign"] and set(data["counterexample"]) == {"values", "answer", "correct"}
    assert verify(client, answer=RIGHT).json()["verdict"] == "correct"


def test_several_lines_are_judged_line_by_line(client, capsys):
    answer = "\n".join([r"\delta_4 = \delta_6 w_{64} y_4 (1 - y_4)", r"&= y_4 (1 - y_4) w_{64} \delta_6", RIGHT])
    data = verify(client, answer=answer).json()
    assert [v["verdict"] for v in data["lines"]] == ["incorrect", "incorrect", "correct"]
    assert [v["line"] for v in data["lines"]] == [1, 2, 3]
    assert data["lines"][0]["diagnosis"] == ["missing_term"] and data["lines"][1]["follows_from"] == 1
    assert data["first_wrong_line"] == 1 and data["right"] == 1


def test_a_question_checks_that_the_answer_is_for_it(client):
    data = verify(client, answer=RIGHT, target="delta_4").json()
    assert data["verdict"] == "incorrect" and data["diagnosis"] == ["wrong_target"]
    bare = verify(client, answer=r"(\delta_6 w_{64} + \delta_7 w_{74}) y_4 (1 - y_4)", target="delta_4").json()
    assert bare["verdict"] == "correct"
    lines = verify(client, answer=RIGHT + "\n" + RIGHT.replace("6", "7"), target="delta_4").json()
    assert lines["answer"]["diagnosis"] == ["wrong_target"]


def test_an_unreadable_line_says_where(client):
    data = verify(client, answer=r"\delta_6 = (y_6 - t_6").json()
    assert data["verdict"] == "invalid" and data["column"] == len(r"\delta_6 = (y_6 - t_6")
    data = verify(client, answer=RIGHT + "\n  &= (y_6 - t_6) y_6 $ 2").json()
    assert data["lines"][1]["verdict"] == "invalid" and data["lines"][1]["column"] == len("  &= (y_6 - t_6) y_6 ")
    assert error_column(r"\delta_6 = \foo y_6") == len(r"\delta_6 = ")
    assert error_column(RIGHT) is None


def test_request_bounds(client):
    assert verify(client, answer="x" * (MAX_ANSWER_CHARS + 1)).status_code == 413
    assert verify(client, answer="a = b\n" * (MAX_LINES + 1)).status_code == 413
    assert verify(client, answer=RIGHT, target="t" * 500).status_code == 422
    assert verify(client, answer=None).status_code == 422
    assert client.post("/api/verify", content=b"[1, 2]").status_code == 400
    assert client.post("/api/verify", content=b"\xff\xfe").status_code == 400
    assert client.post("/api/verify", content=b"{" + b" " * MAX_BODY + b"}").status_code == 413
    reply = client.post("/api/verify", json={"spec": "ufldl-3-3-1", "answer": RIGHT})
    assert reply.status_code == 404 and "offered: fc-3-2-2, evil" in reply.json()["error"]
    assert client.post("/api/render", json={"lines": ["x"] * 1000}).status_code == 413


def test_an_uploaded_spec_goes_through_the_parser_in_a_worker(client):
    spec = SCRIPT_TITLE.replace("<script>", "")
    data = client.post("/api/verify", json={"spec_toml": spec, "answer": r"\frac{\partial E}{\partial w} = (f - t) x"})
    assert data.status_code == 200 and data.json()["verdict"] == "correct"
    bad = client.post("/api/verify", json={"spec_toml": '[nodes]\nf = "eval(1)"', "answer": "f = 1"}).json()
    assert bad["verdict"] == "invalid" and "uploaded spec" in bad["message"] and "/tmp" not in bad["message"]
    folder = client.app.state.server.folder
    assert folder is not None and all(p.parent == folder for p in client.app.state.server.uploads.values())


def test_typed_text_is_escaped_everywhere(client):
    page = client.get("/check/fc-3-2-2", params={"target": "</script><script>alert(1)</script>"}).text
    assert "<script>alert(1)" not in page and "\\u003c/script\\u003e" in page
    evil = client.get("/check/evil").text + client.get("/").text + client.get("/derivation/evil").text
    assert "<script>alert('title')" not in evil and "&lt;script&gt;alert(&#39;title&#39;)" in evil
    rendered = client.post("/api/render", json={"lines": [r"\text{<script>alert(1)</script>}", "<img src=x>"]})
    assert "<script" not in rendered.text and "<img" not in rendered.text
    data = verify(client, answer="<script>alert(1)</script>").json()
    assert data["verdict"] == "invalid"  # shown by check.js as text, never as HTML
    assert client.get("/check/fc-3-2-2").headers["content-security-policy"].startswith("default-src 'none'")


def test_pages_and_downloads(client):
    check_page = client.get("/check/fc-3-2-2")
    assert check_page.status_code == 200 and "<math" in check_page.text and 'id="answer"' in check_page.text
    zh = client.get("/derivation/fc-3-2-2", params={"lang": "zh"}).text
    assert "误差项" in zh and zh.count("<math") > 50 and "/download/fc-3-2-2/ipynb?lang=zh" in zh
    train = client.get("/download/fc-3-2-2/train.py")
    assert train.status_code == 200 and "def backward" in train.text
    assert "attachment" in train.headers["content-disposition"]
    assert client.get("/download/fc-3-2-2/md").text.startswith("# Backpropagation")
    assert client.get("/download/fc-3-2-2/secrets").status_code == 404
    assert client.get("/check/no-such-net").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/report").status_code == 404  # no --report
    assert [s["name"] for s in client.get("/api/specs").json()["specs"]] == ["fc-3-2-2", "evil"]


def test_answers_are_logged_only_with_a_log_file(client, tmp_path):
    verify(client, answer=RIGHT + " ")
    records = [json.loads(line) for line in client.log_path.read_text(encoding="utf-8").splitlines()]
    assert records and records[-1]["answer"] == RIGHT + " " and records[-1]["verdict"] == "correct"
    app = create_app(Settings(specs=("fc-3-2-2",)))
    with TestClient(app) as quiet:
        assert quiet.post("/api/verify", json={"spec": "fc-3-2-2", "answer": RIGHT}).status_code == 200
        assert quiet.app.state.server.log is None
        folder = quiet.app.state.server.folder
    assert not folder.exists()  # the temporary folder goes with the server


def test_without_tex_the_pages_say_so(monkeypatch):
    from symbackprop.backends import svg
    from symbackprop.web.site import Site

    def missing(lang="en"):
        raise svg.MissingTool("Markdown figures: pdflatex is not installed")

    monkeypatch.setattr(svg, "require_tools", missing)
    monkeypatch.setattr(Site, "pdf_possible", staticmethod(lambda lang: False))
    with TestClient(create_app(Settings(specs=("cs231n-circuit",)))) as c:
        page = c.get("/derivation/cs231n-circuit").text
        assert "pictures need TeX Live" in page and "/figure/" not in page and "no TeX Live to compile" in page
        assert 'class="diagram"' not in c.get("/check/cs231n-circuit").text
        assert c.get("/download/cs231n-circuit/md").status_code == 200  # without its pictures


def test_the_report_is_served(tmp_path):
    (tmp_path / "index.html").write_text("<html><body>report of the class</body></html>", encoding="utf-8")
    with TestClient(create_app(Settings(specs=("fc-3-2-2",), report=str(tmp_path)))) as c:
        assert "report of the class" in c.get("/report").text


def test_the_pool_survives_a_crash_and_a_timeout(tmp_path, monkeypatch):
    (tmp_path / "bad_checker.py").write_text(
        "import os, time\n"
        "def check(spec, answer, target=None):\n"
        "    if answer == 'crash': os._exit(3)\n"
        "    if answer == 'hang': time.sleep(60)\n"
        "    return {'verdict': 'correct', 'message': answer}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with CheckerPool("bad_checker:check", jobs=1, time_limit=1) as pool:
        assert pool.check("x", "crash")["message"] == "checker crashed: worker exited with status 3"
        assert pool.check("x", "hang")["message"] == "timed out after 1 s"
        assert pool.check("x", "fine")["verdict"] == "correct"


def test_maths_that_cannot_be_converted_is_escaped_source():
    assert str(to_mathml(r"\foo{<b>}")).startswith('<code class="tex">\\foo{&lt;b&gt;}')
    assert "<mtable" in str(to_mathml(r"\begin{aligned} a &= b \\ &= c \end{aligned}\tag{3}", True))
    html = markdown_html("Text <b>bold</b> and $x_1 < 2$\n\n$$\n\\frac{1}{2}\n\\tag{1}\n$$\n")
    assert "&lt;b&gt;" in html and "<mfrac>" in html and '<span class="eqno">(1)</span>' in html


def test_the_checker_in_process():
    assert check("fc-3-2-2", RIGHT)["verdict"] == "correct"
    assert check("fc-3-2-2", RIGHT + "\n" + WRONG)["lines"][1]["diagnosis"] == ["sign"]


def _serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_serve_bad_input_is_one_line_and_status_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('inputs = ["x"]\n[nodes]\nf = "x +"\n', encoding="utf-8")
    proc = _serve(str(bad))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "bad.toml" in proc.stderr
    assert "Traceback" not in proc.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _serve("fc-3-2-2", "--port", str(taken.getsockname()[1]))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--port" in proc.stderr
    proc = _serve("--report", str(tmp_path))
    assert proc.returncode == 2 and "no index.html" in proc.stderr
    assert _serve("--port", "99999").returncode == 2
    assert not [p for p in Path(tmp_path).iterdir() if p.name != "bad.toml"]


def test_the_placeholder_is_the_networks_own_output_error_term(client):
    """Not one network's delta_6 on every page: the network's first error term as its document
    writes it, a line the checker calls correct."""
    import html
    import re

    from symbackprop.verify.check import verify_answer

    page = client.get("/check/fc-3-2-2").text
    (placeholder,) = re.findall(r'placeholder="([^"]*)"', page)
    answer = html.unescape(placeholder)
    assert answer.startswith(r"\delta_{6} =")
    assert verify_answer("fc-3-2-2", answer).verdict == "correct"
