"""The character tokenizer of the default student."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datagym.errors import ConfigError
from datagym.students.char_tokenizer import BOS, DEFAULT_ALPHABET, EOS, PAD, UNK, CharTokenizer


def test_special_ids_come_first_and_the_vocabulary_counts_them():
    tok = CharTokenizer()
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert tok.vocab_size == len(DEFAULT_ALPHABET) + 4
    ids = tok.encode(DEFAULT_ALPHABET)
    assert ids == list(range(4, tok.vocab_size))


@given(st.text(alphabet=DEFAULT_ALPHABET))
def test_round_trip_of_any_text_over_the_alphabet(text):
    tok = CharTokenizer()
    assert tok.decode(tok.encode(text)) == text


def test_arithmetic_questions_and_answers_round_trip():
    tok = CharTokenizer()
    for text in ("12+34", "-81", "7*(3+4)", "123<45?", "17%5", "yes", "no"):
        assert tok.decode(tok.encode(text)) == text


def test_a_prompt_is_bos_question_equals():
    tok = CharTokenizer()
    assert tok.encode_prompt("1+2") == [BOS, *tok.encode("1+2"), *tok.encode("=")]


def test_decode_stops_at_eos_and_drops_special_tokens():
    tok = CharTokenizer()
    ids = [BOS, *tok.encode("42"), PAD, EOS, *tok.encode("99")]
    assert tok.decode(ids) == "42"


def test_unknown_characters_become_unk_and_vanish_on_decode():
    # Documented: characters outside the alphabet map to UNK (no error); decoding drops them.
    tok = CharTokenizer()
    ids = tok.encode("A+1!")
    assert ids == [UNK, *tok.encode("+1"), UNK]
    assert tok.decode(ids) == "+1"


def test_a_custom_alphabet():
    tok = CharTokenizer("01+=")
    assert tok.vocab_size == 8
    assert tok.decode(tok.encode("10+1")) == "10+1"
    assert tok.encode("2") == [UNK]


def test_repeated_characters_are_rejected():
    with pytest.raises(ConfigError, match=r"Expected an alphabet without repeated characters, got '0120'\."):
        CharTokenizer("0120")


def test_an_alphabet_without_the_prompt_separator_is_rejected_when_built():
    # BUG: encode_prompt appends '=', so an alphabet without it builds fine and then
    # encode_prompt dies with a bare KeyError('=').
    with pytest.raises(ConfigError, match=r"'='"):
        CharTokenizer("0123456789+")
