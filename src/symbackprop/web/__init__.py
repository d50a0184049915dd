"""The classroom's web pages: ``symbackprop serve`` (see :mod:`symbackprop.web.app`).

A layer between the API and the command line: it uses the API (derivations and their
documents), the checker (symbackprop.verify, whose worker processes judge every answer) and the
backends (the message catalogue, the HTML templates), and nothing below imports it. Importing
this package imports nothing else, so the worker processes, which run
:func:`symbackprop.web.checker.check`, load no web framework.
"""
