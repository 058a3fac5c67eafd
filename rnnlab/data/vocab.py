"""Token vocabularies: strings ↔ integer ids, with the special tokens every sequence model needs.

Ids 0–3 are always ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>`` so padding is 0 everywhere in the
course (``pad_sequences`` pads with 0 by default) and models can share the constants below.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from ..checks import check_int, check_positive

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def check_writer_vocab(vocab_size: int) -> None:
    """A model that writes tokens until ``<eos>`` needs the special ids 0–EOS in its vocabulary."""
    if vocab_size <= EOS:
        raise ValueError(
            f"vocab_size must include the special tokens (ids 0–{EOS}), got {vocab_size}"
        )


SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")

_WORD = re.compile(r"[\w']+|[^\w\s]")


def char_tokens(text: str) -> list[str]:
    """Split text into characters (for character-level models such as date translation)."""
    return list(text)


def word_tokens(text: str) -> list[str]:
    """Lower-case words and punctuation marks: ``"Don't go!" -> ["don't", "go", "!"]``."""
    return _WORD.findall(text.lower())


class Vocab:
    """A fixed mapping between tokens and ids; unknown tokens map to ``<unk>``."""

    def __init__(self, tokens: Iterable[str]):
        self.itos: list[str] = list(SPECIALS)
        for token in tokens:
            if token not in SPECIALS:
                self.itos.append(token)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("tokens must not repeat")

    @classmethod
    def build(
        cls, texts: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Vocabulary of the tokens seen at least ``min_freq`` times in ``texts`` (token lists),
        most frequent first."""
        check_positive(min_freq=min_freq)
        check_int("max_size", max_size, minimum=1, optional=True)
        counts = Counter(token for tokens in texts for token in tokens)
        kept = [
            t for t, c in sorted(counts.items(), key=lambda tc: (-tc[1], tc[0])) if c >= min_freq
        ]
        return cls(kept[:max_size] if max_size is not None else kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(
        self, tokens: Sequence[str], *, bos: bool = False, eos: bool = False
    ) -> torch.Tensor:
        """Ids of ``tokens`` as an int64 tensor, optionally framed by ``<bos>`` / ``<eos>``."""
        if isinstance(tokens, str):
            raise TypeError(
                "tokens must be a list of tokens, not a string; tokenize first (char_tokens / "
                "word_tokens)"
            )
        ids = [self.stoi.get(token, UNK) for token in tokens]
        return torch.tensor(
            ([BOS] if bos else []) + ids + ([EOS] if eos else []), dtype=torch.int64
        )

    def decode(self, ids: Iterable[int], *, stop_at_eos: bool = True) -> list[str]:
        """Tokens of ``ids``, dropping ``<pad>``/``<bos>`` and stopping at the first ``<eos>``."""
        out = []
        for i in (int(i) for i in ids):
            if not 0 <= i < len(self.itos):
                raise ValueError(
                    f"ids holds {i}, outside this vocabulary of {len(self.itos)} tokens"
                )
            if i == EOS and stop_at_eos:
                break
            if i not in (PAD, BOS):
                out.append(self.itos[i])
        return out

    def state_dict(self) -> dict[str, list[str]]:
        """Plain data for checkpoints (``Vocab.from_state_dict`` reads it back)."""
        return {"itos": self.itos}

    @classmethod
    def from_state_dict(cls, state: dict[str, list[str]]) -> Vocab:
        itos = state["itos"]
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError("state is not a saved rnnlab Vocab (special tokens missing)")
        return cls(itos[len(SPECIALS) :])
