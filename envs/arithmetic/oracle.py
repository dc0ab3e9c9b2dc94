"""The arithmetic oracle: parses and labels any well-formed arithmetic question.

It is independent of the generators (it never sees their operands), so it can verify what a
generator, an agent or an LLM wrote. Grammar, whitespace ignored::

    question   := expr | expr '?' expr            (comparison: answer '<', '=' or '>')
    expr       := term (('+' | '-') term)*
    term       := unary (('*' | '/' | '%') unary)*
    unary      := '-' unary | atom
    atom       := INTEGER | '(' expr ')'

``/`` is exact integer division (a question whose division leaves a remainder has no integer
answer and is rejected); ``%`` is the non-negative remainder by a positive divisor. An answer
is the canonical decimal integer (``-7``, ``0``, ``120``) of at most ``MAX_ANSWER_DIGITS``
digits (a question with a longer answer is rejected) or a comparison sign.
"""

from __future__ import annotations

from dataclasses import dataclass

from datagym.errors import OracleError

MAX_QUESTION_CHARS = 64
MAX_INTEGER_DIGITS = 12
#: the longest answer the oracle gives and ``normalize_answer`` reads (a product of two integers)
MAX_ANSWER_DIGITS = 2 * MAX_INTEGER_DIGITS + 1
_OPERATORS = "+-*/%?()"


@dataclass(frozen=True)
class Number:
    value: int


@dataclass(frozen=True)
class Negate:
    operand: "Node"


@dataclass(frozen=True)
class BinaryOp:
    op: str
    left: "Node"
    right: "Node"


Node = Number | Negate | BinaryOp


def _tokenize(question: str) -> list[str]:
    if not isinstance(question, str):
        raise OracleError(f"Expected a question as a string, got {type(question).__name__}.")
    text = "".join(question.split())
    if not text:
        raise OracleError("Expected an arithmetic question such as '12+7', got an empty string.")
    if len(text) > MAX_QUESTION_CHARS:
        raise OracleError(
            f"Expected a question of at most {MAX_QUESTION_CHARS} characters, got {len(text)}."
        )
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() and ch.isascii():
            j = i
            while j < len(text) and text[j].isdigit() and text[j].isascii():
                j += 1
            if j - i > MAX_INTEGER_DIGITS:
                raise OracleError(
                    f"Expected integers of at most {MAX_INTEGER_DIGITS} digits, got {text[i:j]!r}."
                )
            tokens.append(text[i:j])
            i = j
        elif ch in _OPERATORS:
            tokens.append(ch)
            i += 1
        else:
            raise OracleError(
                f"Expected only digits and the operators + - * / % ? ( ), got {ch!r} in {question!r}."
            )
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], question: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.question = question

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise OracleError(f"Question {self.question!r} ends early: expected a number or '('.")
        self.pos += 1
        return tok

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = BinaryOp(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            node = BinaryOp(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Negate(self.unary())
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok.isdigit():
            return Number(int(tok))
        if tok == "(":
            node = self.expr()
            if self.take() != ")":
                raise OracleError(f"Question {self.question!r} has an unclosed '('.")
            return node
        raise OracleError(f"Question {self.question!r}: expected a number or '(', got {tok!r}.")


def parse(question: str) -> tuple[Node, Node | None]:
    """Parse a question into (left, right); ``right`` is None unless it is a comparison."""
    parser = _Parser(_tokenize(question), question)
    left = parser.expr()
    right = None
    if parser.peek() == "?":
        parser.take()
        right = parser.expr()
    if parser.peek() is not None:
        raise OracleError(
            f"Question {question!r} has unexpected {parser.peek()!r} after a complete expression."
        )
    return left, right


def evaluate(node: Node) -> int:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Negate):
        return -evaluate(node.operand)
    a, b = evaluate(node.left), evaluate(node.right)
    if node.op == "+":
        return a + b
    if node.op == "-":
        return a - b
    if node.op == "*":
        return a * b
    if b == 0:
        raise OracleError(f"Division by zero in {node!r}.")
    if node.op == "/":
        if a % b:
            raise OracleError(f"{a}/{b} has no integer answer; use exact division or '%'.")
        return a // b
    if b < 0:
        raise OracleError(f"'%' needs a positive divisor, got {b}.")
    return a % b


def label(question: str) -> str:
    """The canonical answer to ``question``; raises OracleError if it has none."""
    left, right = parse(question)
    a = evaluate(left)
    if right is None:
        if len(str(abs(a))) > MAX_ANSWER_DIGITS:
            raise OracleError(
                f"Expected a question whose answer has at most {MAX_ANSWER_DIGITS} digits, got "
                f"{question!r}, whose answer has {len(str(abs(a)))}."
            )
        return str(a)
    b = evaluate(right)
    return "<" if a < b else ">" if a > b else "="


#: signs people and LLMs write for the oracle's operators: multiplication (times, dot,
#: asterisk operator, middle dot), division (division sign, division slash, fraction slash) and
#: minus (minus sign, hyphen, non-breaking hyphen, figure dash, en dash)
_TYPOGRAPHIC_SIGNS = str.maketrans({
    "\u00d7": "*", "\u22c5": "*", "\u2217": "*", "\u00b7": "*",
    "\u00f7": "/", "\u2215": "/", "\u2044": "/",
    "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
})


def canonical_question(question: str) -> str:
    """``question`` as the generators write it: no whitespace, ASCII operator signs
    (``"12 × 7"`` -> ``"12*7"``, ``"9 − 4"`` -> ``"9-4"``). Anything else is left as it is."""
    return "".join(str(question).split()).translate(_TYPOGRAPHIC_SIGNS)


def normalize_answer(answer: str) -> str | None:
    """Canonical form of a written answer, or None if it is not an answer at all."""
    text = "".join(str(answer).split()).translate(_TYPOGRAPHIC_SIGNS)
    if text in ("<", "=", ">"):
        return text
    sign = ""
    if text.startswith(("-", "+")):
        sign, text = ("-" if text[0] == "-" else ""), text[1:]
    if not text.isdigit() or not text.isascii() or len(text) > MAX_ANSWER_DIGITS:
        return None
    value = int(sign + text)
    return str(value)
