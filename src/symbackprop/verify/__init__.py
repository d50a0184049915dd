"""Verifying students' derivations: parse their LaTeX, decide, diagnose, grade a class.

verify_answer(network, "\\delta_6 = (y_6 - t_6) y_6 (1 - y_6)") -> Verdict
"""

from __future__ import annotations

from symbackprop.verify.verdict import CORRECT, INCORRECT, INVALID, Verdict

__all__ = ["CORRECT", "INCORRECT", "INVALID", "Verdict"]
