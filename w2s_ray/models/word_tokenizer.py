"""A word-level tokenizer in which every number 0..999 is one token.

Why: character-level tiny models never learned to copy numbers out of a word problem; with one
token per number a 0.2M-parameter model reached 81% at level 1 in three minutes (platform notes).

Text is split into words (with their leading space), numbers of up to three digits, newlines,
single symbols and single whitespace characters; each piece is spelled in GPT-2's byte alphabet
(ByteLevel) and looked up whole in a closed vocabulary. The ByteLevel decoder makes
decode(encode(text)) == text exactly for every text whose pieces are in the vocabulary; any other
piece becomes <unk>. The result is a standard fast tokenizer (tokenizer.json + tokenizer_config.json)
that transformers and vLLM load from a directory offline.
"""
from __future__ import annotations

import string
from collections.abc import Iterable, Sequence

from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from w2s_ray.text.prompts import completion_text, zero_shot

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
MAX_NUMBER = 999
MAX_LENGTH = 512
# Numbers are cut into runs of at most three digits, so a larger number still round-trips (as
# several tokens) instead of becoming <unk>. A whitespace character that does not start a word is
# a piece of its own, so odd spacing round-trips too.
_SPACE = "\u0120"  # how ByteLevel spells a space
SPLIT_PATTERN = r" ?[A-Za-z]+| ?[0-9]{1,3}|\n| ?[^\sA-Za-z0-9]|\s"


def word_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def _base_texts() -> list[str]:
    """Texts every vocabulary needs: the prompt frame, all numbers, ASCII symbols and whitespace."""
    numbers = [f"{n} {n}" for n in range(MAX_NUMBER + 1)]
    symbols = [f"{c} {c}" for c in string.punctuation]
    frame = zero_shot("x") + completion_text("x") + "\n\n"
    return [frame, " \t\r", *numbers, *symbols]


def build_word_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary is every piece of `texts`, plus the base texts above.

    Token ids are stable for a given set of pieces: specials first, then pieces sorted.
    """
    pre = word_pre_tokenizer()
    pieces: set[str] = set()
    for text in [*_base_texts(), *texts]:
        pieces.update(piece for piece, _ in pre.pre_tokenize_str(text))
    # A word that opens a text or a line here may follow a space elsewhere, and the reverse.
    words = {p.removeprefix(_SPACE) for p in pieces if p.removeprefix(_SPACE).isalnum()}
    pieces |= words | {_SPACE + w for w in words}
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for piece in sorted(pieces - set(SPECIAL_TOKENS)):
        vocab[piece] = len(vocab)
    backend = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre
    backend.decoder = decoders.ByteLevel()
    # Settings that matter for generation are passed here: set later they are not saved
    # (transformers 5). BOS starts every encoded text, in training and at inference alike, so
    # HF generate and vLLM (which both encode with special tokens) feed the model what it saw.
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        add_bos_token=True,
        add_eos_token=False,
        padding_side="left",
        model_max_length=MAX_LENGTH,
        clean_up_tokenization_spaces=False,
    )


def build_world_tokenizer(capabilities: Sequence[str] = ()) -> PreTrainedTokenizerFast:
    """The tokenizer for the demo world and the strong student's pretraining corpus (one vocabulary,
    so weak teachers and student can be compared token by token), every number 0..999 one token.
    `capabilities` (data/capabilities) adds the words of those beyond arithmetic; without them the
    vocabulary, and every built model's key, is what it always was."""
    from w2s_ray.data import pretrain_corpus, world

    texts = [*world.vocabulary_texts(), *pretrain_corpus.vocabulary_texts()]
    if any(name != "arithmetic" for name in capabilities):
        from w2s_ray.data.capabilities import vocabulary_texts

        texts += vocabulary_texts(capabilities)
    return build_word_tokenizer(texts)


def vocabulary_sha256(tokenizer) -> str:
    """The tokenizer's vocabulary as a hash: part of a built model's cache key (a word added to the
    world or the corpus shifts every id, and with it the seeded initialisation)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()


def number_token_values(tokenizer) -> dict[int, int]:
    """Token id -> value for every token that spells a number (with or without its leading space)."""
    values = {}
    for token, token_id in tokenizer.get_vocab().items():
        text = token.removeprefix(_SPACE)
        if text.isdigit() and text.isascii():
            values[token_id] = int(text)
    return values
