"""LaTeX -> PDF with the TeX Live engines: pdflatex for English, xelatex (ctex) for Chinese.

Runs in a temporary folder with shell escape off, twice (for cross-references), under a time
limit, with SOURCE_DATE_EPOCH fixed so the same source gives the same PDF. A failed run raises
:class:`CompileError` with the first error lines of the log; :func:`overfull_boxes` reads the
log for boxes wider than the page allows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENGINES = {"en": "pdflatex", "zh": "xelatex"}
TIMEOUT_SECONDS = 180


class CompileError(RuntimeError):
    """LaTeX failed; the message holds the engine's first error lines."""


@dataclass(frozen=True)
class CompiledPdf:
    pdf: bytes
    log: str
    command: str

    @property
    def overfull(self) -> list[float]:
        return overfull_boxes(self.log)


def engine_for(lang: str) -> str:
    return ENGINES[lang]


def overfull_boxes(log: str) -> list[float]:
    """Widths (pt) by which boxes overflow, from a LaTeX log."""
    return [float(w) for w in re.findall(r"Overfull \\[hv]box \(([\d.]+)pt too", log)]


def compile_pdf(tex: str, lang: str = "en") -> CompiledPdf:
    """Compile LaTeX source to PDF bytes (raises CompileError, also when TeX is missing)."""
    engine = engine_for(lang)
    if shutil.which(engine) is None:
        raise CompileError(
            f"{engine} is not installed (Debian: texlive-latex-base, texlive-xetex, texlive-lang-chinese)"
        )
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "openin_any": "p", "openout_any": "p"}
    command = [engine, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "derivation.tex"]
    with tempfile.TemporaryDirectory(prefix="symbackprop-tex-") as tmp:
        folder = Path(tmp)
        (folder / "derivation.tex").write_text(tex, encoding="utf-8")
        for _ in range(2):
            run = subprocess.run(
                command, cwd=folder, env=env, capture_output=True, timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL
            )
            log = (
                (folder / "derivation.log").read_text(encoding="utf-8", errors="replace")
                if (folder / "derivation.log").exists()
                else run.stdout.decode(errors="replace")
            )
            if run.returncode != 0:
                errors = [line for line in log.splitlines() if line.startswith("!")][:3]
                raise CompileError(f"{engine} failed: {' | '.join(errors) or 'see the log'}")
        return CompiledPdf((folder / "derivation.pdf").read_bytes(), log, " ".join(command))
