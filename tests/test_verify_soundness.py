"""Sound verdicts: wrong answers are never called correct.

A false-positive corpus: answers that agree with the right one almost everywhere, built to slip
past a checker that probes a few fixed points or trusts a relative tolerance. Every one must be
``incorrect`` (with a counterexample) or ``undecided``, never ``correct``. Beside them, the
right answers they were made from must stay ``correct``, so that the corpus does not pass by
refusing everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from symbackprop.cli import main
from symbackprop.verify.check import verify_answer

RELU = """[mlp]
sizes = [2, 3, 3, 1]
activations = ["relu", "relu", "identity"]
loss = "squared_error"
notation = "node"
"""
TIE = 'inputs = ["x", "y"]\noutput = "f"\n[nodes]\nf = "max(x, y)"\n'
RIGHT_DELTA_6 = r"\delta_6 = (y_6 - t_6) y_6 (1 - y_6)"


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("specs")
    out = {}
    for name, text in (("relu", RELU), ("tie", TIE)):
        path = Path(folder) / f"{name}.toml"
        path.write_text(text)
        out[name] = str(path)
    return out


FALSE_POSITIVES = [
    # the case: the dropped term's delta is zero wherever relu is off, often
    ("relu", r"\delta_3 = [net_3 > 0] (w_{73}\delta_7 + w_{83}\delta_8)", "a dropped term whose delta is often zero"),
    ("relu", r"\delta_4 = [net_4 > 0] (w_{64}\delta_6 + w_{74}\delta_7)", "another dropped term behind a relu"),
    (
        "relu",
        r"\delta_3 = [net_6 > 0] [net_3 > 0] (w_{63}\delta_6 + w_{73}\delta_7 + w_{83}\delta_8)",
        "wrong only where net_6 < 0",
    ),
    ("fc-3-2-2", RIGHT_DELTA_6 + r" + [x_1^2 - 0.04 > 0] - 1", "differs only near x_1 = 0"),
    ("fc-3-2-2", RIGHT_DELTA_6 + r" + [w_{64} + 1 > 0] - 1", "differs only for w_64 < -1"),
    ("fc-3-2-2", RIGHT_DELTA_6 + r" + \max(x_1, -1) - x_1", "differs only for x_1 < -1"),
    ("fc-3-2-2", RIGHT_DELTA_6 + r" + \sqrt{t_6^2} - t_6", "differs only for t_6 < 0"),
    ("fc-3-2-2", RIGHT_DELTA_6 + r" + 10^{-12} x_1", "an added 1e-12 x"),
    ("fc-3-2-2", r"\delta_6 = 1.000000001 (y_6 - t_6) y_6 (1 - y_6)", "a factor 1 + 1e-9"),
    ("fc-3-2-2", RIGHT_DELTA_6 + r" \frac{x_1}{x_1}", "x / x is not 1 at x = 0"),
    ("fc-3-2-2", RIGHT_DELTA_6 + r" + \frac{w_{64} - w_{64}}{w_{64}}", "0 / w is not 0 at w = 0"),
    ("tie", r"\frac{\partial f}{\partial x} = [x - y > 0]", "at a tie each argument gets half"),
    ("tie", r"\frac{\partial f}{\partial y} = [y - x > 0]", "the same, for y"),
    (
        "ufldl-3-3-1",
        r"\frac{\partial J}{\partial W^{(2)}} = m \delta^{(3)} (a^{(2)})^T + \lambda W^{(2)}",
        "m times too large",
    ),
    (
        "ufldl-3-3-1",
        r"\frac{\partial J}{\partial W^{(2)}} = \delta^{(3)} (a^{(2)})^T + \lambda W^{(2)} + 1000(m - 1)",
        "zero only for m = 1",
    ),
    (
        "ufldl-3-3-1",
        r"\frac{\partial J}{\partial W^{(2)}} = \sum_{i=1}^{m} \delta^{(3)} (a^{(2)})^T + \lambda W^{(2)}",
        "forgot 1/m",
    ),
]

RIGHT = [
    ("relu", r"\delta_3 = [net_3 > 0] (w_{63}\delta_6 + w_{73}\delta_7 + w_{83}\delta_8)"),
    ("fc-3-2-2", RIGHT_DELTA_6),
    ("fc-3-2-2", r"\delta_6 = (\sigma(net_6) - t_6) \frac{e^{-net_6}}{(1 + e^{-net_6})^2}"),
    ("tie", r"\frac{\partial f}{\partial x} = H(x - y)"),
    (
        "ufldl-3-3-1",
        r"\frac{\partial J}{\partial W^{(2)}} = \frac{1}{m} \sum_{i=1}^{m} \delta^{(3)} (a^{(2)})^T + \lambda W^{(2)}",
    ),
]


def _spec(specs, name):
    return specs.get(name, name)


@pytest.mark.parametrize(("spec", "answer", "why"), FALSE_POSITIVES, ids=[w for _, _, w in FALSE_POSITIVES])
def test_a_wrong_answer_is_never_correct(specs, spec, answer, why):
    verdict = verify_answer(_spec(specs, spec), answer)
    assert verdict.verdict in ("incorrect", "undecided"), (why, verdict)
    if verdict.verdict == "incorrect":
        assert verdict.counterexample is not None, verdict


@pytest.mark.parametrize(("spec", "answer"), RIGHT)
def test_the_right_answers_stay_correct(specs, spec, answer):
    verdict = verify_answer(_spec(specs, spec), answer)
    assert verdict.verdict == "correct", verdict


def test_undecided_has_its_own_exit_status(monkeypatch, capsys):
    """A difference the exact check finds but no probe shows: undecided, exit 3, with a reason."""
    from symbackprop.verify import judge

    monkeypatch.setattr(judge, "refute", lambda problem, points, gaps: None)
    rc = main(["verify", "fc-3-2-2", "--answer", RIGHT_DELTA_6 + r" + 10^{-12} x_1"])
    out = capsys.readouterr().out
    assert rc == 3 and out.startswith("undecided") and "exact check leaves a difference" in out
