"""A small causal LM made from scratch the way a user's model is, for tests and benchmarks that
cannot download one: a byte-level BPE tokenizer trained with ``tokenizers`` (with a chat
template), a ``LlamaForCausalLM`` built from a config, both saved with ``save_pretrained`` into
a folder that loads back by path like any hub model (``student_options={"model": folder}``)."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<s>{{ message['role'] }}: {{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)
CORPUS = [
    "You write training problems for a student. Reply with JSON only.",
    '{"problems": [{"question": "12+7", "answer": "19"}, {"question": "40-13", "answer": "27"}]}',
    "add_no_carry add_carry sub_borrow mul_1digit div_exact compare two-digit addition subtraction",
    "The skills of the task, with the student's accuracy on each: accuracy examples trained on",
    "def f(x):\n    return x + 1\n",
] * 20


def save_tiny_llama(folder: str | Path, seed: int = 0, hidden_size: int = 32, layers: int = 2, heads: int = 2,
                    vocab_size: int = 400, corpus: list[str] | None = None) -> Path:
    """Train the tokenizer on ``corpus`` (a default one about arithmetic and code), build the
    model with random weights from ``seed``, save both into ``folder``; returns ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus or CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=8192,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    model = LlamaForCausalLM(config)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
