"""Backends: what a derivation turns into. Printers (LaTeX, array-API code), the generated
training module (:mod:`.codegen`), the documents (:mod:`.document`, :mod:`.diagram`,
:mod:`.pdf`) and the template environment. They print and arrange; they compute nothing."""
