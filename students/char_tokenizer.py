"""A character tokenizer: one id per character of an alphabet, ``DEFAULT_ALPHABET`` first.

The default student builds its alphabet from the task it is taught (``alphabet_for``):
``DEFAULT_ALPHABET`` (arithmetic's characters and lower-case letters) followed by the task's
other characters in code-point order, so a task with capitals, quotes or newlines is learnable
and arithmetic's ids never move.
"""

from __future__ import annotations

from typing import Sequence

from datagym.errors import ConfigError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
DEFAULT_ALPHABET = "0123456789+-*/%?()<>= .,abcdefghijklmnopqrstuvwxyz"


def alphabet_for(characters: str, base: str = DEFAULT_ALPHABET) -> str:
    """``base``, then the characters of ``characters`` it lacks, sorted by code point: a fixed
    order, so the same task always gets the same ids (and a task within ``base`` gets ``base``)."""
    known = set(base)
    return base + "".join(sorted(set(characters) - known))


class CharTokenizer:
    """Maps characters to ids; a question is encoded as ``BOS question =`` and the answer
    that follows ends with ``EOS``. Characters outside the alphabet become ``UNK``
    (``unknown(text)`` lists them)."""

    def __init__(self, alphabet: str = DEFAULT_ALPHABET) -> None:
        if len(set(alphabet)) != len(alphabet):
            raise ConfigError(f"Expected an alphabet without repeated characters, got {alphabet!r}.")
        if "=" not in alphabet:
            raise ConfigError(f"Expected an alphabet containing '=' (it ends every prompt), got {alphabet!r}.")
        self.alphabet = alphabet
        self._ids = {ch: i + 4 for i, ch in enumerate(alphabet)}
        self._chars = {i: ch for ch, i in self._ids.items()}

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 4

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` outside the alphabet, sorted by code point."""
        return sorted(set(text) - self._ids.keys())

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(ch, UNK) for ch in text]

    def encode_prompt(self, question: str) -> list[int]:
        return [BOS, *self.encode(question), self._ids["="]]

    def decode(self, ids: Sequence[int]) -> str:
        out = []
        for i in ids:
            if i == EOS:
                break
            out.append(self._chars.get(int(i), ""))
        return "".join(out)
