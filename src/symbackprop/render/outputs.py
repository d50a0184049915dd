"""What every derivation can turn into: LaTeX and NumPy text (mixed into both kinds)."""

from __future__ import annotations


class Outputs:
    """Mixin for derivations that have ``network``, ``equations`` and ``latex_names``."""

    def to_latex(self, lang: str = "en") -> str:
        """The derivation document (LaTeX source)."""
        from symbackprop.document import latex_document

        return latex_document(self, lang)

    def to_markdown(self, lang: str = "en") -> str:
        """The derivation document as Markdown with $$ maths (GitHub, Jupyter)."""
        from symbackprop.document import markdown_document

        return markdown_document(self, lang)

    def to_numpy(self) -> str:
        """The generated training module (Python source, NumPy only)."""
        from symbackprop.codegen import numpy_module

        return numpy_module(self)

    def _repr_markdown_(self) -> str:
        """Jupyter: the whole document, maths rendered by MathJax."""
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        """Jupyter: the numbered error terms and gradients as one aligned display."""
        from symbackprop.document import summary_latex

        return summary_latex(self)
