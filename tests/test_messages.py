"""The message catalogue: no key written twice (a dict literal keeps the last silently), every
message in both languages, and the same {fields} in both."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from symbackprop.backends import messages

SOURCE = Path(messages.__file__).read_text(encoding="utf-8")


def _catalogue_keys() -> list[str]:
    for node in ast.walk(ast.parse(SOURCE)):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_MESSAGES":
            return [k.value for k in node.value.keys]
    raise AssertionError("no _MESSAGES literal in messages.py")


def test_no_message_key_is_written_twice():
    keys = _catalogue_keys()
    assert len(keys) > 50
    twice = sorted({k for k in keys if keys.count(k) > 1})
    assert not twice, f"written twice (the first is lost): {twice}"


def test_every_message_has_the_same_fields_in_both_languages():
    field = re.compile(r"(?<![\\A-Za-z_^{])\{([a-z_]+)\}(?!\})")  # not \mathrm{net}, not {{escaped}}
    for key, (en, zh) in messages._MESSAGES.items():
        assert en and zh, key
        assert sorted(field.findall(en)) == sorted(field.findall(zh)), key
