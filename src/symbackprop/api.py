"""The public entry points: :func:`derive` and what a derivation turns into.

Thin on purpose: :class:`Derivation` wraps a derivation of the calculus layer and calls the
layers below for the rest — :func:`~symbackprop.analysis.analyse` once for the document,
:func:`~symbackprop.backends.codegen.generate` once per code target, the renderers for text.

>>> from symbackprop import derive, load_spec
>>> d = derive(load_spec("fc-3-2-2"))
>>> d.deltas["net_4"]
y_4*(1 - y_4)*(delta_6*w_64 + delta_7*w_74)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property

import sympy

from symbackprop.analysis import Analysis, analyse
from symbackprop.analysis.consistency import Consistency, check_sequential
from symbackprop.analysis.gradcheck import import_source
from symbackprop.backends.codegen import GeneratedModule, generate
from symbackprop.backends.document import (
    MarkdownDocument,
    latex_document,
    markdown_document,
    markdown_with_figures,
    summary_latex,
)
from symbackprop.backends.notebook import notebook_json
from symbackprop.calculus.derive import GraphDerivation, derive_graph
from symbackprop.calculus.equations import Equation
from symbackprop.calculus.layered import LayeredDerivation
from symbackprop.calculus.sequential import SequentialDerivation
from symbackprop.core.network import GraphNetwork, LayeredNetwork
from symbackprop.core.sequential import SequentialNetwork, small_instance


class Derivation:
    """Error terms, gradients and updates of a network, and the documents and code made from them.

    ``deltas``, ``gradients`` and ``updates`` are per unit (SymPy expressions by node or leaf
    name); ``equations`` the numbered equations of the document; ``expanded(name)`` a delta,
    gradient or update in inputs and parameters only. ``inner`` is the calculus-layer derivation.
    """

    def __init__(self, inner: GraphDerivation | LayeredDerivation | SequentialDerivation):
        self.inner = inner

    @property
    def network(self) -> GraphNetwork | LayeredNetwork | SequentialNetwork:
        return self.inner.network

    @property
    def deltas(self) -> Mapping[str, sympy.Expr]:
        return self.inner.deltas

    @property
    def gradients(self) -> Mapping[str, sympy.Expr]:
        return self.inner.gradients

    @property
    def updates(self) -> Mapping[str, sympy.Expr]:
        return self.inner.updates

    @property
    def equations(self) -> list[Equation]:
        return self.inner.equations

    def expanded(self, name: str) -> sympy.Expr:
        return self.inner.expanded(name)

    @cached_property
    def analysis(self) -> Analysis:
        if isinstance(self.inner, SequentialDerivation):
            return analyse(self.inner, layers_consistency(self.inner, self.module("numpy").text))
        return analyse(self.inner)

    def module(self, target: str = "numpy") -> GeneratedModule:
        """The generated training module and its equation -> line map."""
        if target not in self._modules:
            self._modules[target] = generate(self.inner, target)
        return self._modules[target]

    @cached_property
    def _modules(self) -> dict[str, GeneratedModule]:
        return {}

    def to_numpy(self, target: str = "numpy") -> str:
        """The generated training module (Python source for the array API; NumPy by default)."""
        return self.module(target).text

    def to_latex(self, lang: str = "en", target: str = "numpy") -> str:
        """The derivation document (LaTeX source); its appendix points into train.py of ``target``."""
        return latex_document(self.analysis, self.module(target).locations, lang)

    def to_markdown(self, lang: str = "en", target: str = "numpy") -> str:
        """The derivation document as Markdown with $$ maths (GitHub, Jupyter)."""
        return markdown_document(self.analysis, self.module(target).locations, lang)

    def to_markdown_document(
        self, lang: str = "en", target: str = "numpy", stem: str = "derivation"
    ) -> MarkdownDocument:
        """The Markdown document and its pictures (TikZ), which it links to as ``<stem>.fig<k>.svg``."""
        return markdown_with_figures(self.analysis, self.module(target).locations, lang, stem)

    def to_notebook(
        self, lang: str = "en", target: str = "numpy", figures: bool = False, linked: str | None = None
    ) -> str:
        """A Jupyter notebook (nbformat 4 JSON): the derivation, train.py in cells, a gradient check.
        ``figures``: the pictures too, as SVG attachments (compiled with TeX Live and pdftocairo);
        ``linked``: instead, links to the SVG files ``<linked>.fig<k>.svg`` beside the notebook
        (those of :meth:`to_markdown_document` with that stem; the caller writes them)."""
        if linked is not None:
            markdown = self.to_markdown_document(lang, target, stem=linked)
            return notebook_json(markdown.text, self.to_numpy(target), lang)
        if not figures:
            return notebook_json(self.to_markdown(lang, target), self.to_numpy(target), lang)
        from symbackprop.backends.svg import tikz_to_svg

        markdown = self.to_markdown_document(lang, target, stem="attachment:derivation")
        svgs = tikz_to_svg(list(markdown.figures.values()), lang)
        attachments = {name.removeprefix("attachment:"): svg for name, svg in zip(markdown.figures, svgs)}
        return notebook_json(markdown.text, self.to_numpy(target), lang, attachments)

    def _repr_markdown_(self) -> str:
        """Jupyter: the whole document, maths rendered by MathJax."""
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        """Jupyter: the numbered error terms and gradients as one aligned display."""
        return summary_latex(self.analysis)


def layers_consistency(derivation: SequentialDerivation, source: str | None = None) -> Consistency:
    """Check a network of layers' tensor equations against its per-unit derivation, on the
    network or, if it is large, on a smaller instance of it (``small_instance``), through the
    train.py generated from those equations (see :func:`check_sequential`). ``source``: the
    network's own train.py, if the caller has it already."""
    small = small_instance(derivation.network)
    if small is derivation.network:
        instance, text = derivation, source or generate(derivation, "numpy").text
    else:
        instance = SequentialDerivation(small)
        text = generate(instance, "numpy").text
    module = import_source(text, name="symbackprop_layers_check")
    result = check_sequential(instance, module)
    return replace(result, shortened=small is not derivation.network)


def derive(network: GraphNetwork | LayeredNetwork | SequentialNetwork, brief: bool = False) -> Derivation:
    """Derive error terms, gradients and updates of a network (see :mod:`symbackprop.calculus`).
    ``brief``: a layered network's documents write one representative unit per layer in index
    form (beside the matrix form, the lemmas and the worked example) instead of every unit."""
    if isinstance(network, LayeredNetwork):
        return Derivation(LayeredDerivation(network, brief=brief))
    if isinstance(network, SequentialNetwork):
        return Derivation(SequentialDerivation(network))
    return Derivation(derive_graph(network))


def document_name(lang: str, suffix: str) -> str:
    """derivation.tex / derivation.zh.tex and so on: English keeps the plain name."""
    return f"derivation.{suffix}" if lang == "en" else f"derivation.{lang}.{suffix}"


def render_outputs(
    derivation,
    langs=("en",),
    formats=("tex",),
    pdf: bool = False,
    target: str = "numpy",
    figures: bool = True,
    linked_notebook: bool = False,
) -> dict[str, bytes]:
    """Every file of a derivation, rendered in memory (nothing is written here). The Markdown
    document links to its pictures as SVG files beside it, the notebook holds them as attachments
    (``linked_notebook``: links to the Markdown's SVG files instead, whether written or not);
    ``figures=False`` leaves them out (no TeX needed)."""
    files = {"train.py": derivation.to_numpy(target).encode()}
    for lang in langs:
        stem = document_name(lang, "md").removesuffix(".md")
        if "tex" in formats:
            tex = derivation.to_latex(lang, target)
            files[document_name(lang, "tex")] = tex.encode()
            if pdf:
                from symbackprop.backends.pdf import compile_pdf

                files[document_name(lang, "pdf")] = compile_pdf(tex, lang).pdf
        if "md" in formats:
            markdown = derivation.to_markdown_document(lang, target, stem)
            files[document_name(lang, "md")] = markdown.text.encode()
            if figures:
                from symbackprop.backends.svg import tikz_to_svg

                files.update(zip(markdown.figures, tikz_to_svg(list(markdown.figures.values()), lang)))
        if "ipynb" in formats:
            notebook = (
                derivation.to_notebook(lang, target, linked=stem)
                if linked_notebook
                else derivation.to_notebook(lang, target, figures=figures)
            )
            files[document_name(lang, "ipynb")] = notebook.encode()
    return files
