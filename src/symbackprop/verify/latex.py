"""Students' LaTeX (or plain text) -> a small syntax tree; nothing is ever evaluated here.

How it works:

1. **Tokens.** A scanner accepts ASCII letters, digits, a fixed set of punctuation and a
   whitelist of LaTeX commands; ``\\input``, ``\\def``, ``\\write18``, ``\\csname`` and every other
   command are refused by name. Spacing commands are dropped; whether whitespace preceded a
   token is kept, because ``w x`` and ``wx`` are different things.
2. **Tree.** Recursive descent with an explicit depth count builds :class:`Node` tuples:
   numbers, names (a base with subscript, superscript and primes, resolved later against the
   network, since ``net_4`` or ``w_{k4}`` only mean something there; ``x^{(i)}``, ``a^{(2)(i)}``
   wrap the name in an ``example`` node: the quantity of example i of a batch, which the
   resolver tells from a power by the sum over the batch that binds i), operators (implicit
   multiplication included), ``\\frac``, derivatives ``\\partial E / \\partial net_k``, sums
   with a range or a set, function calls, transposes and relation chains ``a = b = c``.
3. Limits: 10,000 characters, nesting depth 100, numbers of at most 30 digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from symbackprop.core.latex_names import GREEK_COMMANDS
from symbackprop.registry import ACTIVATIONS
from symbackprop.registry import FUNCTIONS as MATH_FUNCTIONS

MAX_LENGTH = 10_000
MAX_DEPTH = 100
MAX_DIGITS = 30

GREEK = GREEK_COMMANDS  # a letter written as a command: \delta_6, \lambda
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
TENSOR_OPERATORS = {"conv", "rot180"}  # \\operatorname{conv}(a, W) and the like: see verify/tensor_form.py
WRAPPERS = {
    "mathrm",
    "operatorname",
    "mathit",
    "mathbf",
    "boldsymbol",
    "bm",
    "mathnormal",
    "text",
    "textrm",
    "vec",
    "overrightarrow",
}
OPERATORS = {"cdot": "*", "times": "*", "odot": "odot", "circ": "odot", "bullet": "odot", "ast": "*", "div": "/"}
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
    "|",
    "nabla",
    "begin",
    "end",
    "hat",
    "widehat",
    "ell",
    "lfloor",
    "rfloor",
}
ALLOWED = GREEK | FUNCTIONS | IGNORED | WRAPPERS | set(OPERATORS) | set(RELATIONS) | OTHER
# The sets a sum may range over, in English and Chinese (simplified and traditional), to the
# layer they name.
SETS = {
    "outputs": "outputs",
    "output": "outputs",
    "hidden": "hidden",
    "inputs": "inputs",
    "input": "inputs",
    "输出层": "outputs",
    "輸出層": "outputs",
    "隐藏层": "hidden",
    "隱藏層": "hidden",
    "隐层": "hidden",
    "隱層": "hidden",
    "输入层": "inputs",
    "輸入層": "inputs",
}
MATRICES = {"bmatrix", "pmatrix", "matrix", "vmatrix"}  # written as [ ] or ( ) around rows


def short(text: object, limit: int = 40) -> str:
    """Student text echoed in a message: one line, printable, at most ``limit`` characters."""
    line = "".join(c if c.isprintable() else " " for c in " ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."


class ParseError(ValueError):
    """Unreadable or unsafe answer text; the message says where and how to write it instead."""


@dataclass(frozen=True)
class Token:
    kind: str  # "cmd", "letter", "num", "sym", "cjk", "end"
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
_SYMBOLS = set("+-*/^_'=()[]{},&|<>:.;")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


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
        if _CJK.match(ch):  # a Chinese set name: k \in 输出层
            run = _CJK.match(text, pos).group()
            tokens.append(Token("cjk", run, pos, space))
            pos, space = pos + len(run), False
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
        if (self.at("sym", ".") or self.at("sym", ",")) and self.peek(1).kind == "end":
            self.take()  # the full stop or comma that ends a displayed equation
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
                right = self.juxtaposition()
                derivative = _slashed_derivative(node, right) if tok.text == "/" else None
                node = derivative or Node("mul" if tok.text == "*" else "div", (node, right))
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
            factor = self.power()
            if node.kind == "dop":  # \\frac{d}{dx} applies to the factor after it
                node = Node("dapply", (node.parts[0], factor))
            elif node.kind == "mul" and node.parts[1].kind == "dop":
                node = Node("mul", (node.parts[0], Node("dapply", (node.parts[1].parts[0], factor))), node.extra)
            else:
                node = Node("mul", (node, factor), {"implicit": True})
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
            and tok.text not in ("top", "in", "rVert", "Vert", "|", "end")
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
            return Node("num", (self._one_digit(tok),))
        if tok.kind == "letter":
            return Node("name", (tok.text, None, None, 0))
        if tok.kind == "cmd" and tok.text in GREEK:
            return Node("name", (tok.text, None, None, 0))
        if tok.kind == "sym" and tok.text == "-":
            return Node("neg", (self.group_or_atom(),))
        raise ParseError(f"unexpected '{tok.text or 'end'}' at position {tok.pos}")

    def _one_digit(self, tok: Token) -> str:
        """TeX reads one character as an argument: \\frac12 is 1/2, x^23 is x^2 3. The rest of
        the number goes back to the token stream."""
        if tok.text[0] == ".":
            raise ParseError(f"'.' cannot be an argument (position {tok.pos}); write {{0.5}} or {{.5}}")
        if len(tok.text) > 1:
            rest = Token("num", tok.text[1:], tok.pos + 1)
            self.tokens.insert(self.i, rest)
        return tok.text[0]

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
            if tok.text == "[" and (self.at("sym", ">") or self.at("sym", "<")):  # Iverson bracket [a > b]
                greater = self.take().text == ">"
                other = self.expression()
                node = Node("step", (node, other) if greater else (other, node))
            elif tok.text == "[" and self.at("sym", "="):  # Iverson bracket [i = j]: 1 if the indices agree
                self.take()
                node = Node("equal", (node, self.expression()))
            self.expect("sym", closing)
            if tok.text == "{" and node.kind == "name" and node.parts[1] is None and self.at("sym", "_"):
                self.take()  # {y}_{i}, as SymPy prints an indexed name
                base, _, layer, primes = node.parts
                node = Node("name", (base, self.subscript(), layer, primes))
            return node
        if tok.kind == "cmd" and tok.text in ("lVert", "Vert", "|"):
            return self.norm()
        if tok.kind == "cmd":
            return self.command()
        if tok.kind == "letter":
            return self.name()
        if tok.kind == "end":
            raise ParseError("the answer ends too early")
        raise ParseError(f"unexpected '{tok.text}' at position {tok.pos}")

    def norm(self) -> Node:
        """\\lVert W \\rVert_F^2 or \\|W\\|_F^2: the squared Frobenius norm of a weight matrix;
        without the square, the norm itself."""
        self.take()
        inner = self.expression()
        if not (self.at("cmd", "rVert") or self.at("cmd", "Vert") or self.at("cmd", "|")):
            raise ParseError("a norm \\lVert ... needs its closing \\rVert")
        self.take()
        if self.at("sym", "_"):
            self.take()
            if self.subscript() not in ("F", "2"):
                raise ParseError("the norm of a weight matrix is the Frobenius norm: \\lVert W \\rVert_F")
        if not self.at("sym", "^"):
            return Node("norm", (inner,))
        self.take()
        exponent = self.group_or_atom()
        if exponent != Node("num", ("2",)):
            raise ParseError("only the norm and the squared norm \\lVert W \\rVert_F^2 are supported")
        return Node("norm2", (inner,))

    def command(self) -> Node:
        tok = self.take()
        name = tok.text
        if name in ("frac", "dfrac", "tfrac"):
            return self.fraction()
        if name == "partial":  # \\partial E / \\partial net_6: see term()
            self.i -= 1
            return self.differential()
        if name == "nabla":
            return self.gradient()
        if name == "begin":
            return self.matrix()
        if name == "sum":
            return self.summation()
        if name == "operatorname" and self._tensor_operator() is not None:
            return self.tensor_operator()
        if name in WRAPPERS:
            return self.name(wrapped=self.word_in_braces())
        if name in ("hat", "widehat"):  # d2l's \hat{y}, the network's output: the name yhat
            return self.name(wrapped=self.word_in_braces() + "hat")
        if name == "ell":  # \ell^{(i)}: the loss of example i, as d2l's l^{(i)}
            return self.name(base="l")
        if name in GREEK:
            return self.name(base=name)
        if name in FUNCTIONS:
            return self.function(name)
        raise ParseError(f"\\{name} cannot stand here (position {tok.pos})")

    def _tensor_operator(self) -> str | None:
        """The name after \\operatorname if it is a tensor-form operator (conv, rot180)."""
        if not self.at("sym", "{"):
            return None
        k, word = 1, ""
        while self.peek(k).kind in ("letter", "num") and len(word) < 12:
            word += self.peek(k).text
            k += 1
        return word if self.peek(k).text == "}" and word in TENSOR_OPERATORS else None

    def tensor_operator(self) -> Node:
        """\\operatorname{conv}(a, W), \\operatorname{conv}_{\\mathrm{full}}(\\delta, \\operatorname{rot180}(W)):
        a network of layers' tensor-form operators, as its documents print them (see
        verify/tensor_form.py, which writes such an equation entry by entry)."""
        word = self._tensor_operator()
        while not self.at("sym", "}"):
            self.take()
        self.take()
        if self.at("sym", "_"):  # conv_{full}, conv_{\mathrm{full}}
            self.take()
            self.expect("sym", "{")
            letters, depth = [], 1
            while depth:
                tok = self.take()
                if tok.kind == "end" or len(letters) > 12:
                    raise ParseError("missing '}' after an operator's subscript")
                depth += {"{": 1, "}": -1}.get(tok.text, 0) if tok.kind == "sym" else 0
                if tok.kind == "letter":
                    letters.append(tok.text)
            word += "_" + "".join(letters)
        return Node("tensorop", (word, tuple(self.arguments())))

    def word_in_braces(self) -> str:
        """{net}, {\\delta} (in \\vec{\\delta}), {输出层} (in \\text{}): one word."""
        self.expect("sym", "{")
        letters = []
        if self.at("cmd") and self.peek().text in GREEK or self.at("cjk"):
            letters.append(self.take().text)
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
        """\\sum_{k=6}^{7}, \\sum_k, \\sum_{k \\in outputs} (or a Chinese set name), \\sum_{i=1}^{m},
        \\sum_{j=1}^{s_{l+1}}: the upper end may be a number or an expression read later;
        \\sum_{i,j} over several indices, each over the values where every symbol exists."""
        if not self.at("sym", "_"):
            raise ParseError("a sum needs its index: \\sum_{k=6}^{7}, \\sum_k or \\sum_{k \\in outputs}")
        self.take()
        braced = self.at("sym", "{")
        if braced:
            self.take()
        index_tok = self.take()
        if index_tok.kind != "letter":
            raise ParseError(f"a sum's index must be a letter (position {index_tok.pos})")
        if braced and self.at("sym", ","):  # \sum_{i,j}: a sum over i of a sum over j, each range inferred
            letters = [index_tok.text]
            while self.at("sym", ","):
                self.take()
                tok = self.take()
                if tok.kind != "letter":
                    raise ParseError(f"a sum's index must be a letter (position {tok.pos})")
                letters.append(tok.text)
            self.expect("sym", "}")
            if self.at("sym", "^"):
                raise ParseError("a sum over several indices has no range: \\sum_{i,j}, or one sum per index")
            body = self.term()
            for letter in reversed(letters):
                body = Node("sum", (letter, None, None, None, body))
            return body
        low = high = domain = None
        if self.at("sym", "="):
            self.take()
            low = self.integer()
        elif self.at("cmd", "in"):
            self.take()
            word = self.set_name()
            if word not in SETS:
                raise ParseError(f"unknown set '{short(word)}' in a sum; use one of: outputs, hidden, inputs")
            domain = SETS[word]
        if braced:
            self.expect("sym", "}")
        if self.at("sym", "^"):
            self.take()
            if self.at("sym", "{"):
                self.take()
                high = self.expression()
                self.expect("sym", "}")
            else:
                high = self.group_or_atom()
            if high.kind == "num" and re.fullmatch(r"\d+", high.parts[0]):
                high = int(high.parts[0])
        if (low is None) != (high is None):
            raise ParseError("give both ends of a sum's range: \\sum_{k=6}^{7}")
        body = self.term()
        return Node("sum", (index_tok.text, low, high, domain, body))

    def set_name(self) -> str:
        """outputs, {outputs}, \\text{hidden}, 输出层, {輸出層}: the word after \\in."""
        if self.at("cmd") and self.peek().text in WRAPPERS:
            self.take()
            return self.word_in_braces()
        if self.at("sym", "{"):
            return self.word_in_braces()
        if self.at("cjk"):
            return self.take().text
        n = 0
        while self.peek(n).kind == "letter" and (n == 0 or not self.peek(n).space):
            n += 1
        if n == 0:
            raise ParseError("expected a set name after \\in")
        return "".join(self.take().text for _ in range(n))

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
        """A base (letter, run of letters, Greek, \\mathrm{word}) with _sub, ^{(l)} and primes.

        Also: w0 (a graph's node name, digits without an underscore), \\Delta W (a weight's change
        or UFLDL's batch accumulator), w^{new} / w^{+} / w^{(t+1)} (the value after an update),
        \\sigma^2(z) (a power of a function's value) and J(W,b;x,y) (a cost with its arguments)."""
        if wrapped is not None:
            base = wrapped
        elif base is None:
            base = self.letters()
        if base == "Delta" and self._starts_name(self.peek()):
            return Node("change", (self.primary(),))
        subscript = superscript = example = None
        primes = 0
        updated = transposed = False
        if self.at("num") and not self.peek().space and wrapped is None and "." not in self.peek().text:
            subscript = self.take().text  # w0, x1: a graph's node names
        while True:
            if self.at("sym", "_") and subscript is None:
                self.take()
                subscript = self.subscript()
            elif self.at("sym", "^") and superscript is None and self._layer_superscript():
                self.take()
                superscript = self.layer_index()
            elif self.at("sym", "^") and superscript is None and (found := self._example_superscript()):
                superscript, example, transposed = found
            elif self.at("sym", "^") and not updated and self._update_marker():
                updated = True
            elif self.at("sym", "'"):
                self.take()
                primes += 1
            else:
                break
        node = Node("name", (base, subscript, superscript, primes))
        if example is not None:  # x^{(i)}, a^{(2)(i)}: example i's, or a power; the resolver decides
            node = Node("example", (node, example))
            return Node("transpose", (node,)) if transposed else node
        if updated:
            return Node("next", (node,))
        if base in COSTS and self.at("sym", "(") and not subscript and not primes:
            return self.cost(node)
        if base in APPLIED and self.at("sym", "^") and not primes:
            mark = self.i
            self.take()
            exponent = self.group_or_atom()
            if self.at("sym", "("):  # \\sigma^2(z): the square of sigma(z)
                return Node("pow", (Node("apply", (node, tuple(self.arguments()))), exponent))
            self.i = mark
        if self._call_follows(base, primes):
            return Node("apply", (node, tuple(self.arguments())))
        return node

    def _starts_name(self, tok: Token) -> bool:
        return tok.kind == "letter" or (tok.kind == "cmd" and (tok.text in WRAPPERS or tok.text in GREEK))

    def _update_marker(self) -> bool:
        """^{new}, ^{+}, ^+, ^{(t+1)}, ^{\\text{new}}: the value after the update (consumed)."""
        texts, k = [], 1
        if self.peek(1).text == "{":
            k = 2
            while self.peek(k).kind != "end" and self.peek(k).text != "}" and k < 12:
                if self.peek(k).kind != "cmd" or self.peek(k).text not in WRAPPERS:
                    texts.append(self.peek(k).text)
                k += 1
            if self.peek(k).text != "}":
                return False
            k += 1
        else:
            texts.append(self.peek(1).text)
            k = 2
        word = "".join(t for t in texts if t not in ("{", "}"))
        if word not in UPDATE_MARKERS:
            return False
        self.i += k
        return True

    def cost(self, node: Node) -> Node:
        """J(W,b;x,y) is UFLDL's cost of one example, without weight decay; J(W,b) or E(w) the
        cost itself. The arguments are read as a list of names and not otherwise used."""
        self.expect("sym", "(")
        example, depth = False, 1
        while depth:
            tok = self.take()
            if tok.kind == "end":
                raise ParseError(f"missing ')' after {node.parts[0]}(")
            depth += {"(": 1, ")": -1}.get(tok.text, 0)
            example |= tok.text == ";" and depth == 1
        return Node("cost", (node, example))

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
        """Index text: {4,1}, {41}, {k4}, {l+1}, 41, k (no braces: a run of letters and digits)."""
        if self.at("sym", "{"):
            self.take()
            parts = []
            while not self.at("sym", "}"):
                tok = self.take()
                if tok.kind == "end":
                    raise ParseError("missing '}' after a subscript")
                if tok.kind in ("letter", "num") or tok.text in (",", "+", "-"):
                    parts.append(tok.text)
                elif tok.kind == "cmd" and tok.text == "lfloor":
                    parts.append(self._floor())
                elif tok.kind == "cmd" and tok.text in GREEK:
                    parts.append(tok.text)
                elif tok.text not in ("{", "}", "(", ")"):
                    raise ParseError(f"unexpected '{tok.text}' in a subscript (position {tok.pos})")
            self.take()
            if not parts:
                raise ParseError(f"an empty subscript _{{}} (position {self.peek().pos})")
            return "".join(parts)
        text = ""
        while (self.at("letter") or self.at("num")) and (not text or not self.peek().space):
            text += self.take().text
        if not text:
            raise ParseError(f"a subscript is missing (position {self.peek().pos})")
        return text

    def _floor(self) -> str:
        """An index \\lfloor i/2 \\rfloor (or \\lfloor \\frac{i}{2} \\rfloor), after its \\lfloor:
        max pooling's window of an entry, as index text: ⌊i/2⌋ (no letters of its own)."""
        parts = []
        while not self.at("cmd", "rfloor"):
            tok = self.take()
            if tok.kind == "end" or len(parts) > 40:
                raise ParseError("missing \\rfloor after \\lfloor in a subscript")
            if tok.kind == "cmd" and tok.text in ("frac", "dfrac", "tfrac"):
                parts.append("(" + self.subscript() + ")/(" + self.subscript() + ")")
            elif tok.kind in ("letter", "num") or tok.text in ("+", "-", "/", "(", ")"):
                parts.append(tok.text)
            elif tok.text not in ("{", "}"):
                raise ParseError(f"unexpected '{tok.text}' in \\lfloor ... \\rfloor (position {tok.pos})")
        self.take()
        return "⌊" + "".join(parts) + "⌋"

    def _layer_superscript(self) -> bool:
        """^{(2)}, ^{(l)}, ^{(l+1)}, ^{(n_l)}, ^{(L)}: a layer index, not a power."""
        if self.peek(1).text != "{" or self.peek(2).text != "(":
            return False
        k, text = 3, ""
        while k < 12 and self.peek(k).text != ")" and self.peek(k).kind != "end":
            text += self.peek(k).text
            k += 1
        return self.peek(k).text == ")" and self.peek(k + 1).text == "}" and bool(LAYER.fullmatch(text))

    def _example_superscript(self) -> tuple[int | str | None, str, bool] | None:
        """^{(i)}, ^{(2)(i)}, ^{(l+1)(i)} (and Ng's ^{(i)T}): the index of an example of a batch,
        after a layer if there is one; consumed. None (nothing consumed) for anything else."""
        if self.peek(1).text != "{" or self.peek(2).text != "(":
            return None
        j, groups = 2, []
        while self.peek(j).kind == "sym" and self.peek(j).text == "(" and len(groups) < 2:
            j += 1
            text = ""
            while self.peek(j).kind != "end" and self.peek(j).text != ")" and len(text) < 12:
                text += self.peek(j).text
                j += 1
            if self.peek(j).text != ")":
                return None
            groups.append(text.replace("{", "").replace("}", ""))
            j += 1
        transposed = self.peek(j).text in ("T", "top", "intercal")
        j += transposed
        if self.peek(j).text != "}" or not groups:
            return None
        *layer, letter = groups
        if (
            not re.fullmatch(r"[A-Za-z]", letter)
            or LAYER.fullmatch(letter)
            or (layer and not LAYER.fullmatch(layer[0]))
        ):
            return None
        self.i += j + 1
        value = (int(layer[0]) if layer[0].isdigit() else layer[0]) if layer else None
        return value, letter, transposed

    def layer_index(self) -> int | str:
        """The layer: a number, or an expression in l, n_l or L kept as text (l+1, n_l)."""
        self.expect("sym", "{")
        self.expect("sym", "(")
        text = ""
        while not self.at("sym", ")"):
            text += self.take().text
        self.expect("sym", ")")
        self.expect("sym", "}")
        text = text.replace("{", "").replace("}", "")
        return int(text) if text.isdigit() else text

    def gradient(self) -> Node:
        """\\nabla_{W^{(l)}} J: the gradient of the cost with respect to a parameter."""
        if not self.at("sym", "_"):
            raise ParseError("write the gradient as \\nabla_{W^{(1)}} J")
        self.take()
        variable = self.group_or_atom() if not self.at("cmd") else self.primary()
        return Node("derivative", (self.power(), variable))

    def matrix(self) -> Node:
        """\\begin{bmatrix} a & b \\\\ c & d \\end{bmatrix}: rows of entries."""
        kind = self.word_in_braces()
        if kind not in MATRICES:
            raise ParseError(f"\\begin{{{short(kind)}}} cannot stand inside an equation; use bmatrix for a matrix")
        rows, row = [], [self.expression()]
        while True:
            if self.at("sym", "&"):
                self.take()
                row.append(self.expression())
            elif self.at("sym", "\\\\"):
                self.take()
                rows.append(tuple(row))
                if self.at("cmd", "end"):
                    row = []
                    break
                row = [self.expression()]
            elif self.at("cmd", "end"):
                break
            else:
                tok = self.peek()
                raise ParseError(f"unexpected '{tok.text or 'end'}' in a matrix (position {tok.pos})")
        if row:
            rows.append(tuple(row))
        self.expect("cmd", "end")
        if self.word_in_braces() != kind:
            raise ParseError(f"\\begin{{{kind}}} ends with another environment")
        if len({len(r) for r in rows}) != 1:
            raise ParseError("every row of a matrix needs the same number of entries")
        return Node("matrix", tuple(rows))


COSTS = {"J", "E"}
UPDATE_MARKERS = {"new", "+", "t+1", "(t+1)", "k+1", "(k+1)", "next"}
LAYER = re.compile(r"\d+(?:,\d+)?|[lL](?:[+-]\d+)?|n_\{?l\}?(?:[+-]\d+)?")  # (1,2): a residual block's layer


def _derivative(numerator: Node, denominator: Node) -> Node | None:
    if numerator.kind == "differential" and denominator.kind == "differential":
        if numerator.parts[1] is not None or denominator.parts[1] is not None or denominator.parts[0].kind == "pow":
            raise ParseError(
                "a second derivative is not a quantity of the network; write first derivatives such as "
                "\\frac{\\partial E}{\\partial net_k}"
            )
        return Node("derivative", (numerator.parts[0], denominator.parts[0]))
    if numerator.kind == "differential" or denominator.kind == "differential":
        raise ParseError(
            "write a derivative as \\frac{\\partial E}{\\partial net_k}, with a differential above and below"
        )
    return None


def _slashed_derivative(left: Node, right: Node) -> Node | None:
    """\\partial E / \\partial net_6 and the plain text dE/dw_75: a derivative written inline."""
    if left.kind == "differential" or right.kind == "differential":
        return _derivative(left, right)
    if left.kind == right.kind == "name" and all(_d_word(n) for n in (left, right)):
        strip = lambda n: Node("name", (n.parts[0][1:], *n.parts[1:]))  # noqa: E731
        return Node("derivative", (strip(left), strip(right)))
    return None


def _d_word(node: Node) -> bool:
    """dE, dJ, dnet, dw, dy: a plain-text differential (d then a name, no primes)."""
    base = node.parts[0]
    return len(base) > 1 and base[0] == "d" and base[1:] in PLAIN_DIFFERENTIALS and not node.parts[3]


PLAIN_DIFFERENTIALS = {"E", "J", "L", "net", "w", "W", "y", "z", "a", "b", "x", "t", "f", "g", "q", "p", "e"}


def parse_line(text: str) -> Node:
    """One line: a relation chain (or a bare expression), and the condition after it: "\\quad
    \\text{for } j \\in hidden" restricts j to the hidden units (kept as ``extra["ranges"]``)."""
    ranges = {}
    m = _CONDITION.search(text) if isinstance(text, str) else None
    if m:
        for var, word in _RANGE.findall(m.group()):
            word = word.strip("{} ")
            if word not in SETS:
                raise ParseError(f"unknown set '{short(word)}' in the condition; use one of: outputs, hidden, inputs")
            ranges[var] = SETS[word]
        text = text[: m.start()]
    chain = Parser(text).relation_chain()
    return Node("chain", chain.parts, {"ranges": ranges}) if ranges else chain


_ENVIRONMENT = re.compile(r"\\begin\{(align\*?|equation\*?|gather\*?|aligned|eqnarray\*?)\}(.*?)\\end\{\1\}", re.S)
_DISPLAY = re.compile(r"\$\$(.*?)\$\$|(?<!\\)\\\[(.*?)(?<!\\)\\\]", re.S)  # not the \\[0.6em] of a row
_NOISE = re.compile(
    r"\\(label|tag\*?|eqref|ref|reason)\{(?:[^{}]|\{[^{}]*\})*\}|\\(nonumber|notag)"
    r"|\\(begin|end)\{(aligned|split|gathered)\}"
)
_PRAGMA = re.compile(r"^[ \t]*%[ \t]*verify:[ \t]*lemma\b[ \t]*(?:where[ \t]+(?P<assume>[^\n]*))?", re.M)
_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_ROWS = re.compile(r"\\begin\{([bpv]?matrix)\}|\\end\{([bpv]?matrix)\}|\\\\(?:\[[^\]]*\])?")
# "for every j", "where ...": a condition after an equation, not part of it
_CONDITION = re.compile(
    r"[,;]?\s*(?:\\q?quad\s*|\\[,;:! ]\s*)*(?:\\(?:text|mathrm|textrm)\{\s*(?:for|where|if|with|对于|对|其中)[^}]*\}|\\forall\b).*$",
    re.S,
)


_RANGE = re.compile(r"([a-z])\s*\\in\s*(?:\\(?:text|mathrm|textrm)\s*)?(\{?[A-Za-z\u3400-\u9fff]+\}?)")


@dataclass(frozen=True)
class MathLine:
    """One line of a document's display maths: where it is, its text, and, in a lemma block,
    the block's assumption ("" when it has none; None outside lemma blocks)."""

    number: int
    text: str
    lemma: str | None = None
    block: int = 0  # which display it belongs to


def _rows(body: str) -> list[tuple[int, str]]:
    """A display's rows: split at \\\\ outside matrices, with each row's offset."""
    rows, depth, start = [], 0, 0
    for m in _ROWS.finditer(body):
        if m.group(1):
            depth += 1
        elif m.group(2):
            depth = max(0, depth - 1)
        elif depth == 0:
            rows.append((start, body[start : m.start()]))
            start = m.end()
    rows.append((start, body[start:]))
    return rows


def math_blocks(document: str) -> list[MathLine]:
    """The lines of every display-maths environment of a document (or, with none, of the
    document itself), with their line numbers and whether a lemma block holds them."""
    if len(document) > 20 * MAX_LENGTH:
        raise ParseError(f"document longer than {20 * MAX_LENGTH} characters")
    pragmas = [(m.start(), m.group("assume") or "") for m in _PRAGMA.finditer(document)]
    text = _COMMENT.sub(lambda m: " " * len(m.group()), document)  # same offsets, no comments
    blocks = [(m.start(2), m.group(2)) for m in _ENVIRONMENT.finditer(text)]
    blocks += [
        (m.start(1) if m.group(1) is not None else m.start(2), m.group(1) or m.group(2))
        for m in _DISPLAY.finditer(text)
    ]
    if not blocks:  # a plain file: every line (and every row of a line) is an equation
        blocks = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+", text)]
    lines, previous_end = [], 0
    for index, (start, body) in enumerate(sorted(blocks)):
        lemma = None
        for at, assumption in pragmas:
            if previous_end <= at < start:
                lemma = assumption
        for offset, piece in _rows(body):
            row = _NOISE.sub("", piece).strip()
            if row:
                lead = len(piece) - len(piece.lstrip())
                lines.append(MathLine(text.count("\n", 0, start + offset + lead) + 1, row, lemma, index))
        previous_end = start + len(body)
    return lines


def math_lines(document: str) -> list[tuple[int, str]]:
    """The lines of every display-maths environment of a document, with their line numbers."""
    return [(line.number, line.text) for line in math_blocks(document)]
