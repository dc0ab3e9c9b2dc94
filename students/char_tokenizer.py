"""A character tokenizer for arithmetic-style questions and answers."""

from __future__ import annotations

from typing import Sequence

from datagym.errors import ConfigError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
DEFAULT_ALPHABET = "0123456789+-*/%?()<>= .,abcdefghijklmnopqrstuvwxyz"


class CharTokenizer:
    """Maps characters to ids; a question is encoded as ``BOS question =`` and the answer
    that follows ends with ``EOS``. Characters outside the alphabet become ``UNK``."""

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
