"""Students' LaTeX (or plain text) -> a small syntax tree; nothing is ever evaluated here.

How it works:

1. **Tokens.** A scanner accepts ASCII letters, digits, a fixed set of punctuation and a
   whitelist of LaTeX commands; ``\\input``, ``\\def``, ``\\write18``, ``\\csname`` and every other
   command are refused by name. Spacing commands are dropped; whether whitespace preceded a
   token is kept, because ``w x`` and ``wx`` are different things.
2. **Tree.** Recursive descent with an explicit depth count builds :class:`Node` tuples:
   numbers, names (a base with subscript, superscript and primes, resolved later against the
   network, since ``net_4`` or ``w_{k4}`` only mean something there), operators (implicit
   multiplication included), ``\\frac``, derivatives ``\\partial E / \\partial net_k``, sums
   with a range or a set, function calls, transposes and relation chains ``a = b = c``.
3. Limits: 10,000 characters, nesting depth 100, numbers of at most 30 digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from symbackprop.registry import ACTIVATIONS
from symbackprop.registry import FUNCTIONS as MATH_FUNCTIONS

MAX_LENGTH = 10_000
MAX_DEPTH = 100
MAX_DIGITS = 30

GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Delta",
    "Sigma",
    "Phi",
    "Omega",
    "Lambda",
    "Theta",
    "Gamma",
}
# LaTeX's own function commands a student may write: those the registry's entries are printed
# with (\tanh) or declare (\exp, \ln); what each means comes from the registry, not from here.
_SPELLINGS = {s for f in (*ACTIVATIONS.values(), *MATH_FUNCTIONS.values()) for s in f.spellings}
FUNCTIONS = {c for f in MATH_FUNCTIONS.values() for c in f.commands} | {
    a.latex[1:]
    for a in ACTIVATIONS.values()
    if re.fullmatch(r"\\[a-z]+", a.latex) and a.latex[1:] in a.spellings and a.latex[1:] not in GREEK
}
# Names a student applies to an argument: the registry's activations, and f, g, phi for "the
# network's own activation".
APPLIED = _SPELLINGS | {"f", "g", "phi", "H"}  # H: the step the documents print, H(0) = 1/2
IGNORED = {
    ",",
    ";",
    "!",
    ":",
    " ",
    "quad",
    "qquad",
    "left",
    "right",
    "big",
    "Big",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "nonumber",
    "notag",
    "displaystyle",
    "limits",
}
WRAPPERS = {"mathrm", "operatorname", "mathit", "mathbf", "boldsymbol", "bm", "mathnormal", "text", "textrm"}
OPERATORS = {"cdot": "*", "times": "*", "odot": "odot", "circ": "odot", "ast": "*", "div": "/"}
RELATIONS = {"leftarrow": "<-", "gets": "<-", "coloneqq": ":=", "approx": "=", "equiv": "="}
OTHER = {
    "frac",
    "dfrac",
    "tfrac",
    "partial",
    "sum",
    "top",
    "intercal",
    "prime",
    "in",
    "infty",
    "ldots",
    "dots",
    "cdots",
    "lVert",
    "rVert",
    "Vert",
}
ALLOWED = GREEK | FUNCTIONS | IGNORED | WRAPPERS | set(OPERATORS) | set(RELATIONS) | OTHER
SETS = {"outputs", "output", "hidden", "inputs", "input"}


def short(text: object, limit: int = 40) -> str:
    """Student text echoed in a message: one line, printable, at most ``limit`` characters."""
    line = "".join(c if c.isprintable() else " " for c in " ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."


class ParseError(ValueError):
    """Unreadable or unsafe answer text; the message says where and how to write it instead."""


@dataclass(frozen=True)
class Token:
    kind: str  # "cmd", "letter", "num", "sym", "end"
    text: str
    pos: int
    space: bool = False  # whitespace before it


@dataclass(frozen=True)
class Node:
    """A syntax-tree node: ``kind`` and its parts (other nodes, strings or numbers)."""

    kind: str
    parts: tuple = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)


_TOKEN = re.compile(r"\\([A-Za-z]+|.)|([A-Za-z])|(\d+(?:\.\d+)?|\.\d+)|(\S)", re.S)
_SYMBOLS = set("+-*/^_'=()[]{},&|<>:.")


def tokenize(text: str) -> list[Token]:
    if not isinstance(text, str):
        raise ParseError("the answer must be text")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"answer longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ParseError("empty answer")
    tokens: list[Token] = []
    pos, space = 0, False
    while pos < len(text):
        ch = text[pos]
        if ch in " \t\r\n":
            pos, space = pos + 1, True
            continue
        if not (ch.isascii() and ch.isprintable()):
            raise ParseError(f"unexpected character {ch!r} (U+{ord(ch):04X}) at position {pos}; use plain ASCII LaTeX")
        m = _TOKEN.match(text, pos)
        command, letter, number, symbol = m.groups()
        if command is not None:
            if command == "\\":
                tokens.append(Token("sym", "\\\\", pos, space))
            elif command not in ALLOWED:
                raise ParseError(f"\\{short(command)} is not allowed (position {pos})")
            elif command not in IGNORED:
                tokens.append(Token("cmd", command, pos, space))
        elif letter is not None:
            tokens.append(Token("letter", letter, pos, space))
        elif number is not None:
            if len(number.replace(".", "")) > MAX_DIGITS:
                raise ParseError(f"number too long at position {pos}")
            tokens.append(Token("num", number, pos, space))
        elif symbol in _SYMBOLS:
            tokens.append(Token("sym", symbol, pos, space))
        else:
            raise ParseError(f"unexpected character {symbol!r} at position {pos}")
        pos, space = m.end(), False
    tokens.append(Token("end", "", len(text)))
    return tokens


class Parser:
    """Recursive descent over the tokens; every nested rule counts depth explicitly."""

    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # --- helpers ------------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.i += tok.kind != "end"
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (text is None or tok.text == text)

    def expect(self, kind: str, text: str) -> Token:
        if not self.at(kind, text):
            tok = self.peek()
            found = tok.text or "the end"
            raise ParseError(f"expected '{text}' at position {tok.pos}, found '{found}'")
        return self.take()

    def nested(self):
        parser = self

        class _Depth:
            def __enter__(self):
                parser.depth += 1
                if parser.depth > MAX_DEPTH:
                    raise ParseError(f"answer nested deeper than {MAX_DEPTH}")

            def __exit__(self, *exc):
                parser.depth -= 1

        return _Depth()

    # --- relations ----------------------------------------------------------------------
    def relation_chain(self) -> Node:
        """``a = b = c`` or ``w <- w - eta g``: the sides and the relations between them."""
        sides, relations = [], []
        if self.at("sym", "&"):
            self.take()
        if self._relation() is not None:  # a continuation line: "= rhs"
            sides.append(None)
            relations.append(self._take_relation())
        sides.append(self.expression())
        while True:
            if self.at("sym", "&"):
                self.take()
            rel = self._relation()
            if rel is None:
                break
            relations.append(self._take_relation())
            if self.at("sym", "&"):
                self.take()
            sides.append(self.expression())
        if not self.at("end"):
            tok = self.peek()
            raise ParseError(f"unexpected '{tok.text}' at position {tok.pos}")
        return Node("chain", (tuple(sides), tuple(relations)))

    def _relation(self) -> str | None:
        tok = self.peek()
        if tok.kind == "sym" and tok.text == "=":
            return "="
        if tok.kind == "sym" and tok.text == ":" and self.peek(1).text == "=":
            return ":="
        if tok.kind == "sym" and tok.text == "<" and self.peek(1).text == "-":
            return "<-"
        if tok.kind == "cmd" and tok.text in RELATIONS:
            return RELATIONS[tok.text]
        return None

    def _take_relation(self) -> str:
        rel = self._relation()
        first = self.take()
        if first.kind == "sym" and rel in (":=", "<-"):  # written with two characters
            self.take()
        return rel

    # --- arithmetic ---------------------------------------------------------------------
    def expression(self) -> Node:
        with self.nested():
            node = self.term()
            while self.at("sym", "+") or self.at("sym", "-"):
                op = self.take().text
                node = Node("add" if op == "+" else "sub", (node, self.term()))
            return node

    def term(self) -> Node:
        """Explicit products and quotients (*, /, \\cdot, \\times, \\odot) of juxtapositions."""
        node = self.juxtaposition()
        while True:
            tok = self.peek()
            if tok.kind == "sym" and tok.text in ("*", "/"):
                self.take()
                node = Node("mul" if tok.text == "*" else "div", (node, self.juxtaposition()))
            elif tok.kind == "cmd" and tok.text in OPERATORS:
                self.take()
                kind = {"*": "mul", "/": "div", "odot": "odot"}[OPERATORS[tok.text]]
                node = Node(kind, (node, self.juxtaposition()))
            else:
                return node

    def juxtaposition(self) -> Node:
        """Implicit multiplication binds tighter than written operators: a \\odot W^T d."""
        node = self.unary()
        while self._starts_factor(self.peek()):
            node = Node("mul", (node, self.power()), {"implicit": True})
        return node

    def _starts_factor(self, tok: Token) -> bool:
        if tok.kind in ("letter", "num"):
            return True
        if tok.kind == "sym":
            return tok.text in ("(", "[", "{")
        return (
            tok.kind == "cmd"
            and tok.text not in OPERATORS
            and tok.text not in RELATIONS
            and tok.text not in ("top", "in", "rVert", "Vert")
        )

    def unary(self) -> Node:
        if self.at("sym", "-") or self.at("sym", "+"):
            sign = self.take().text
            with self.nested():  # each prefix sign is a level: ------x
                operand = self.unary()
            return Node("neg", (operand,)) if sign == "-" else operand
        return self.power()

    def power(self) -> Node:
        node = self.primary()
        if self.at("sym", "^"):
            self.take()
            sup = self.superscript()
            node = Node("transpose", (node,)) if sup == "T" else Node("pow", (node, sup))
        return node

    def superscript(self):
        """After ^: T / \\top (transpose) or an exponent."""
        if self.at("cmd", "top") or self.at("cmd", "intercal"):
            self.take()
            return "T"
        if self.at("letter", "T"):
            self.take()
            return "T"
        if self.at("sym", "{") and self.peek(1).text in ("T", "top", "intercal") and self.peek(2).text == "}":
            self.i += 3
            return "T"
        return self.group_or_atom()

    def group_or_atom(self) -> Node:
        """A braced group, or one token (TeX's rule for ^2, _k, \\frac12)."""
        if self.at("sym", "{"):
            self.take()
            node = self.expression()
            self.expect("sym", "}")
            return node
        tok = self.take()
        if tok.kind == "num":
            return Node("num", (tok.text,))
        if tok.kind == "letter":
            return Node("name", (tok.text, None, None, 0))
        if tok.kind == "cmd" and tok.text in GREEK:
            return Node("name", (tok.text, None, None, 0))
        if tok.kind == "sym" and tok.text == "-":
            return Node("neg", (self.group_or_atom(),))
        raise ParseError(f"unexpected '{tok.text or 'end'}' at position {tok.pos}")

    # --- primaries ------------------------------------------------------------------------
    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "num":
            self.take()
            return Node("num", (tok.text,))
        if tok.kind == "sym" and tok.text in ("(", "[", "{"):
            self.take()
            closing = {"(": ")", "[": "]", "{": "}"}[tok.text]
            node = self.expression()
            if tok.text == "[" and self.at("sym", ">"):  # Iverson bracket [net_4 > 0]: the step
                self.take()
                if self.take().text != "0":
                    raise ParseError("write the step as [x > 0]")
                node = Node("step", (node,))
            self.expect("sym", closing)
            return node
        if tok.kind == "cmd" and tok.text in ("lVert", "Vert"):
            return self.norm()
        if tok.kind == "cmd":
            return self.command()
        if tok.kind == "letter":
            return self.name()
        if tok.kind == "end":
            raise ParseError("the answer ends too early")
        raise ParseError(f"unexpected '{tok.text}' at position {tok.pos}")

    def norm(self) -> Node:
        """\\lVert W \\rVert_F^2: the squared Frobenius norm of a weight matrix."""
        self.take()
        inner = self.expression()
        if not (self.at("cmd", "rVert") or self.at("cmd", "Vert")):
            raise ParseError("a norm \\lVert ... needs its closing \\rVert")
        self.take()
        if self.at("sym", "_"):
            self.take()
            self.subscript()
        if not self.at("sym", "^"):
            raise ParseError("only the squared norm \\lVert W \\rVert_F^2 is supported")
        self.take()
        exponent = self.group_or_atom()
        if exponent != Node("num", ("2",)):
            raise ParseError("only the squared norm \\lVert W \\rVert_F^2 is supported")
        return Node("norm2", (inner,))

    def command(self) -> Node:
        tok = self.take()
        name = tok.text
        if name in ("frac", "dfrac", "tfrac"):
            return self.fraction()
        if name == "sum":
            return self.summation()
        if name in WRAPPERS:
            return self.name(wrapped=self.word_in_braces())
        if name in GREEK:
            return self.name(base=name)
        if name in FUNCTIONS:
            return self.function(name)
        raise ParseError(f"\\{name} cannot stand here (position {tok.pos})")

    def word_in_braces(self) -> str:
        self.expect("sym", "{")
        letters = []
        while self.at("letter"):
            letters.append(self.take().text)
        self.expect("sym", "}")
        if not letters:
            raise ParseError("an empty \\mathrm{} name")
        return "".join(letters)

    def function(self, name: str) -> Node:
        if self.at("sym", "_"):  # \log_2 and the like are not part of the vocabulary
            raise ParseError(f"\\{name} with a subscript is not supported")
        primes = 0
        while self.at("sym", "'"):
            self.take()
            primes += 1
        if primes:  # \tanh'(z): the derivative, resolved like sigma'(z)
            return Node("apply", (Node("name", (name, None, None, primes)), tuple(self.arguments())))
        if self.at("sym", "^"):
            self.take()
            exponent = self.group_or_atom()
            return Node("pow", (Node("call", (name, (self.argument(),))), exponent))
        return Node("call", (name, tuple(self.arguments())))

    def arguments(self) -> list[Node]:
        if self.at("sym", "(") or self.at("sym", "{") or self.at("sym", "["):
            opener = self.take().text
            closing = {"(": ")", "{": "}", "[": "]"}[opener]
            args = [self.expression()]
            while self.at("sym", ","):
                self.take()
                args.append(self.expression())
            self.expect("sym", closing)
            return args
        return [self.power()]

    def argument(self) -> Node:
        args = self.arguments()
        if len(args) != 1:
            raise ParseError("this function takes one argument")
        return args[0]

    def fraction(self) -> Node:
        if self._operator_numerator():  # \frac{d}{dx} f: the derivative operator
            self.i += 3
            self.expect("sym", "{")
            if not (self.at("cmd", "partial") or self.at("letter", "d")):
                raise ParseError("write the operator as \\frac{d}{dx}")
            self.take()
            variable = self.power()
            self.expect("sym", "}")
            return Node("dop", (variable,))
        numerator = self.braced_or_token()
        denominator = self.braced_or_token()
        derivative = _derivative(numerator, denominator)
        return derivative or Node("div", (numerator, denominator))

    def _operator_numerator(self) -> bool:
        first, second, third = self.peek(), self.peek(1), self.peek(2)
        return (
            first.text == "{"
            and (second.text == "partial" or (second.kind == "letter" and second.text == "d"))
            and third.text == "}"
        )

    def braced_or_token(self) -> Node:
        if self.at("sym", "{"):
            self.take()
            if self.at("cmd", "partial") or (self.at("letter", "d") and self._derivative_d()):
                node = self.differential()
            elif self.at("sym", "}"):
                raise ParseError("an empty group {}")
            else:
                node = self.expression()
            self.expect("sym", "}")
            return node
        return self.group_or_atom()

    def _derivative_d(self) -> bool:
        """Is this 'd' the start of dE, dnet_k, d y_4 (a differential) and not a variable d?"""
        nxt = self.peek(1)
        return nxt.kind in ("letter", "cmd") and not nxt.space or (nxt.kind == "cmd" and nxt.text in GREEK)

    def differential(self) -> Node:
        self.take()  # \partial or d
        power = None
        if self.at("sym", "^"):
            self.take()
            power = self.group_or_atom()
        target = self.power()
        return Node("differential", (target, power))

    def summation(self) -> Node:
        if not self.at("sym", "_"):
            raise ParseError("a sum needs its index: \\sum_{k=6}^{7}, \\sum_k or \\sum_{k \\in outputs}")
        self.take()
        braced = self.at("sym", "{")
        if braced:
            self.take()
        index_tok = self.take()
        if index_tok.kind != "letter":
            raise ParseError(f"a sum's index must be a letter (position {index_tok.pos})")
        low = high = domain = None
        if self.at("sym", "="):
            self.take()
            low = self.integer()
        elif self.at("cmd", "in"):
            self.take()
            domain = "".join(self.take().text for _ in range(self._word_length()))
            if domain not in SETS:
                raise ParseError(f"unknown set '{domain}' in a sum; use one of: {', '.join(sorted(SETS))}")
        if braced:
            self.expect("sym", "}")
        if self.at("sym", "^"):
            self.take()
            braced_high = self.at("sym", "{")
            if braced_high:
                self.take()
            high = self.take().text if self.at("letter") else self.integer()  # a number, or m for a batch
            if braced_high:
                self.expect("sym", "}")
        if (low is None) != (high is None):
            raise ParseError("give both ends of a sum's range: \\sum_{k=6}^{7}")
        body = self.term()
        return Node("sum", (index_tok.text, low, high, domain, body))

    def _word_length(self) -> int:
        n = 0
        while self.peek(n).kind == "letter" and (n == 0 or not self.peek(n).space):
            n += 1
        if n == 0:
            raise ParseError("expected a set name after \\in")
        return n

    def integer(self) -> int:
        negative = False
        if self.at("sym", "-"):
            self.take()
            negative = True
        tok = self.take()
        if tok.kind != "num" or "." in tok.text:
            raise ParseError(f"a sum's range needs whole numbers (position {tok.pos})")
        value = int(tok.text)
        return -value if negative else value

    # --- names ------------------------------------------------------------------------------
    def name(self, base: str | None = None, wrapped: str | None = None) -> Node:
        """A base (letter, run of letters, Greek, \\mathrm{word}) with _sub, ^{(l)} and primes."""
        if wrapped is not None:
            base = wrapped
        elif base is None:
            base = self.letters()
        subscript = superscript = None
        primes = 0
        while True:
            if self.at("sym", "_") and subscript is None:
                self.take()
                subscript = self.subscript()
            elif self.at("sym", "^") and superscript is None and self._layer_superscript():
                self.take()
                superscript = self.layer_index()
            elif self.at("sym", "'"):
                self.take()
                primes += 1
            else:
                break
        node = Node("name", (base, subscript, superscript, primes))
        if self._call_follows(base, primes):
            return Node("apply", (node, tuple(self.arguments())))
        return node

    def _call_follows(self, base: str, primes: int) -> bool:
        if not self.at("sym", "("):
            return False
        return primes > 0 or base in APPLIED

    def letters(self) -> str:
        """A run of letters with no space between them: one multi-letter word (net, relu)."""
        word = self.take().text
        while self.at("letter") and not self.peek().space:
            word += self.take().text
        return word

    def subscript(self) -> str:
        """Index text: {4,1}, {41}, {k4}, 41, k (no braces: a run of letters and digits)."""
        if self.at("sym", "{"):
            self.take()
            parts = []
            while not self.at("sym", "}"):
                tok = self.take()
                if tok.kind == "end":
                    raise ParseError("missing '}' after a subscript")
                if tok.kind not in ("letter", "num") and tok.text != "," and tok.text not in ("{", "}", "(", ")"):
                    if tok.kind == "cmd" and tok.text in GREEK:
                        parts.append(tok.text)
                        continue
                    raise ParseError(f"unexpected '{tok.text}' in a subscript (position {tok.pos})")
                parts.append(tok.text)
            self.take()
            return "".join(p for p in parts if p not in ("{", "}"))
        text = ""
        while (self.at("letter") or self.at("num")) and (not text or not self.peek().space):
            text += self.take().text
        if not text:
            raise ParseError(f"a subscript is missing (position {self.peek().pos})")
        return text

    def _layer_superscript(self) -> bool:
        """^{(2)} or ^{2} after W, b, z, a, delta, y: a layer index, not a power."""
        return (
            self.peek(1).text == "{"
            and self.peek(2).text == "("
            and self.peek(3).kind == "num"
            and self.peek(4).text == ")"
        )

    def layer_index(self) -> int:
        self.expect("sym", "{")
        self.expect("sym", "(")
        value = int(self.take().text)
        self.expect("sym", ")")
        self.expect("sym", "}")
        return value


def _derivative(numerator: Node, denominator: Node) -> Node | None:
    if numerator.kind == "differential" and denominator.kind == "differential":
        return Node("derivative", (numerator.parts[0], denominator.parts[0]))
    if numerator.kind == "differential" or denominator.kind == "differential":
        raise ParseError(
            "write a derivative as \\frac{\\partial E}{\\partial net_k}, with a differential above and below"
        )
    return None


def parse_line(text: str) -> Node:
    """One line: a relation chain (or a bare expression)."""
    return Parser(text).relation_chain()


_ENVIRONMENT = re.compile(r"\\begin\{(align\*?|equation\*?|gather\*?|aligned|eqnarray\*?)\}(.*?)\\end\{\1\}", re.S)
_DISPLAY = re.compile(r"\$\$(.*?)\$\$|\\\[(.*?)\\\]", re.S)
_NOISE = re.compile(r"\\(label|tag\*?|eqref|ref|reason|text)\{(?:[^{}]|\{[^{}]*\})*\}|\\(nonumber|notag)")


def math_lines(document: str) -> list[tuple[int, str]]:
    """The lines of every display-maths environment of a document, with their line numbers."""
    if len(document) > 20 * MAX_LENGTH:
        raise ParseError(f"document longer than {20 * MAX_LENGTH} characters")
    blocks = [(m.start(2), m.group(2)) for m in _ENVIRONMENT.finditer(document)]
    blocks += [
        (m.start(1) if m.group(1) is not None else m.start(2), m.group(1) or m.group(2))
        for m in _DISPLAY.finditer(document)
    ]
    if not blocks:
        blocks = [(0, document)]
    lines = []
    for start, body in sorted(blocks):
        offset = 0
        for piece in re.split(r"(\\\\(?:\[[^\]]*\])?)", body):
            text = _NOISE.sub("", piece).strip()
            if text and not piece.startswith("\\\\"):
                lead = len(piece) - len(piece.lstrip())
                lines.append((document.count("\n", 0, start + offset + lead) + 1, text))
            offset += len(piece)
    return lines
