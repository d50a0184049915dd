"""The answer to "is this derivation right?": a verdict, what is wrong, and evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CORRECT, INCORRECT, INVALID, UNDECIDED = "correct", "incorrect", "invalid", "undecided"
EXIT_CODES = {CORRECT: 0, INCORRECT: 1, INVALID: 2, UNDECIDED: 3}

# Diagnosis codes, each a kind of mistake a teaching assistant would name.
DIAGNOSES = (
    "sign",  # off by a factor -1
    "factor",  # off by a constant factor such as 2 or 1/m
    "missing_activation_derivative",
    "extra_activation_derivative",
    "activation_instead_of_derivative",  # sigma where sigma' belongs
    "transposed_index",  # w_46 for w_64, W for W^T
    "missing_term",  # a term of a sum left out
    "extra_term",
    "missing_regularization",
    "wrong_learning_rate_sign",
    "wrong_target",  # a right or wrong equation for another quantity than the one asked for
    "other",
)


@dataclass
class Verdict:
    """One judged equation. ``decided_by`` says whether exact symbolic comparison, numeric
    probing, or both settled it; ``counterexample`` holds symbol values and both sides' values."""

    verdict: str
    target: str | None = None
    diagnosis: list[str] = field(default_factory=list)
    message: str = ""
    counterexample: dict | None = None
    decided_by: str = ""
    line: int | None = None  # for a multi-line derivation: the line judged
    instances: list[dict] | None = None  # a general equation: each binding of its free indices, judged
    follows_from: int | None = None  # wrong only because it follows from this wrong line before it

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("target", "counterexample")}


def invalid(message: str, target: str | None = None) -> Verdict:
    return Verdict(INVALID, target, [], message)
