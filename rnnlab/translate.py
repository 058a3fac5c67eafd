"""A trained seq2seq model as a translation tool: text in, text out (and beam candidates, attention
maps).

`Translator` bundles a `Seq2Seq` model with its two vocabularies and the text ↔ token functions, so
``translator.translate("the 3rd of May 1999")`` or ``translator.translate(["i am cold .", …])`` just
works. Words the model never saw become ``<unk>``. An empty input raises ``ValueError``; an input
longer than ``max_input_tokens`` raises ``ValueError`` too, unless ``truncate=True``, which keeps
its first ``max_input_tokens`` tokens. `bleu` scores translations with sacrebleu.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import sacrebleu
import torch
from torch.utils.data import DataLoader

from .cache import train_cached
from .checks import check_number, check_positive, check_str
from .data.vocab import BOS, UNK, Vocab
from .history import History
from .models.ctc import CTCTagger
from .models.synced import SyncedTagger
from .sequences import pad_sequences

__all__ = [
    "Translator",
    "accuracy_by",
    "bleu",
    "bleu_by",
    "exact_match",
    "score_table",
    "synced_translate",
    "train_translation",
]


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu, default 13a tokenisation, one reference per sentence), 0–100."""
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("hypotheses and references must be lists of strings, not one string")
    if len(hypotheses) != len(references) or len(hypotheses) == 0:
        raise ValueError(
            f"need as many hypotheses as references (≥ 1), got {len(hypotheses)} and "
            f"{len(references)}"
        )
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Fraction of predictions exactly equal to their target."""
    if len(predictions) != len(targets) or len(predictions) == 0:
        raise ValueError(
            f"need as many predictions as targets (≥ 1), got {len(predictions)} and {len(targets)}"
        )
    return sum(p == t for p, t in zip(predictions, targets, strict=True)) / len(targets)


def accuracy_by(
    keys: Sequence[Hashable], correct: Sequence[bool]
) -> dict[Hashable, tuple[float, int]]:
    """Accuracy and count per key, in sorted key order:
    ``accuracy_by(lengths, hits) -> {length: (acc, n)}``."""
    if len(keys) != len(correct) or len(keys) == 0:
        raise ValueError(f"need as many keys as results (≥ 1), got {len(keys)} and {len(correct)}")
    groups: dict[Hashable, list[bool]] = {}
    for key, hit in zip(keys, correct, strict=True):
        groups.setdefault(key, []).append(bool(hit))
    return {
        key: (sum(groups[key]) / len(groups[key]), len(groups[key]))
        for key in sorted(groups, key=lambda k: (str(type(k)), k))
    }


def bleu_by(
    keys: Sequence[Hashable], hypotheses: Sequence[str], references: Sequence[str]
) -> dict[Hashable, tuple[float, int]]:
    """Corpus BLEU and sentence count per key, in sorted key order:
    ``bleu_by(length_buckets, outputs, refs) -> {bucket: (bleu, n)}``."""
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("hypotheses and references must be lists of strings, not one string")
    if not len(keys) == len(hypotheses) == len(references) or len(keys) == 0:
        raise ValueError(
            f"need as many keys, hypotheses and references (≥ 1), got {len(keys)}, "
            f"{len(hypotheses)} and {len(references)}"
        )
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return {
        key: (
            bleu([hypotheses[i] for i in groups[key]], [references[i] for i in groups[key]]),
            len(groups[key]),
        )
        for key in sorted(groups, key=lambda k: (str(type(k)), k))
    }


def score_table(
    scores: Mapping[str, Mapping[Hashable, tuple[float, int]]], *, key: str, digits: int = 3
) -> str:
    """A text table with one row per key and one column per model, plus the count of examples per
    key.

    ``scores`` is ``{model: {key: (score, n)}}`` as `accuracy_by` or `bleu_by` return it; every
    model must have been scored on the same examples (the same keys and counts).
    """
    if not scores:
        raise ValueError("scores is empty: pass {model name: {key: (score, n)}}")
    first = next(iter(scores.values()))
    for name, table in scores.items():
        if {k: n for k, (_, n) in table.items()} != {k: n for k, (_, n) in first.items()}:
            raise ValueError(
                f"scores[{name!r}] has other keys or counts than the first model: score every "
                "model on the same examples"
            )
    width = max(len(key), *(len(str(k)) for k in first))
    columns = [max(len(name), digits + 3) for name in scores]
    lines = [
        f"{key:<{width}}  "
        + "  ".join(f"{name:>{w}}" for name, w in zip(scores, columns, strict=True))
        + "      n"
    ]
    for k, (_, n) in first.items():
        cells = "  ".join(
            f"{table[k][0]:>{w}.{digits}f}"
            for table, w in zip(scores.values(), columns, strict=True)
        )
        lines.append(f"{str(k):<{width}}  {cells}  {n:>5}")
    return "\n".join(lines)


@runtime_checkable
class TranslationModel(Protocol):
    """What `Translator` asks of a model (rnnlab's `Seq2Seq`, or any model of yours with these):
    ``greedy`` and ``beam`` decoding and ``attention_weights`` with `Seq2Seq`'s signatures, and
    ``parameters()`` (to find its device)."""

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def greedy(
        self, src: torch.Tensor, src_lengths: Any, *, max_len: int
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def beam(
        self, src: torch.Tensor, src_lengths: Any, *, max_len: int, beam_width: int, **options: Any
    ) -> list[list[tuple[torch.Tensor, float]]]: ...

    def attention_weights(
        self, src: torch.Tensor, src_lengths: Any, tgt_in: torch.Tensor
    ) -> torch.Tensor: ...


class Translator:
    """A `TranslationModel` (e.g. `Seq2Seq`) with its vocabularies and tokenisers: text in, out."""

    def __init__(
        self,
        model: TranslationModel,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        *,
        tokenize: Callable[[str], list[str]],
        detokenize: Callable[[Sequence[str]], str],
        max_input_tokens: int,
        max_output_len: int,
        truncate: bool = False,
        batch_size: int = 256,
    ):
        if not isinstance(model, TranslationModel):
            raise TypeError(
                "model must offer greedy, beam, attention_weights and parameters (a "
                f"TranslationModel such as Seq2Seq), got {type(model).__name__}"
            )
        for name, vocab in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
            if not isinstance(vocab, Vocab):
                raise TypeError(f"{name} must be an rnnlab Vocab, got {type(vocab).__name__}")
        check_positive(
            max_input_tokens=max_input_tokens, max_output_len=max_output_len, batch_size=batch_size
        )
        self.model = model
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab
        self.tokenize = tokenize
        self.detokenize = detokenize
        self.max_input_tokens = max_input_tokens
        self.max_output_len = max_output_len
        self.truncate = truncate
        self.batch_size = batch_size

    def source_tokens(self, text: str) -> list[str]:
        """The tokens the model reads for ``text`` (after truncation, if on); raises ``ValueError``
        if empty or too long."""
        tokens = self.tokenize(check_str("text", text))
        if not tokens:
            raise ValueError(f"text {text[:40]!r} has nothing to translate (no tokens)")
        if len(tokens) > self.max_input_tokens:
            if not self.truncate:
                raise ValueError(
                    f"text has {len(tokens)} tokens, more than max_input_tokens = "
                    f"{self.max_input_tokens}; "
                    "shorten it or build the Translator with truncate=True"
                )
            tokens = tokens[: self.max_input_tokens]
        return tokens

    def unknown(self, text: str) -> list[str]:
        """The tokens of ``text`` that the model does not know (it reads them as ``<unk>``)."""
        return [t for t in self.source_tokens(text) if t not in self.src_vocab]

    def _batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.model.parameters()).device
        ids = []
        for i, text in enumerate(texts):
            try:
                ids.append(self.src_vocab.encode(self.source_tokens(text)))
            except (TypeError, ValueError) as err:
                raise type(err)(f"texts[{i}]: {err}") if len(texts) > 1 else err from None
        src, lengths = pad_sequences(ids)
        return src.to(device), lengths

    def _text(self, ids: Any) -> str:
        return self.detokenize(self.tgt_vocab.decode(ids))

    def translate(
        self, text: str | Sequence[str], *, beam_width: int = 1, length_penalty: float = 1.0
    ) -> str | list[str]:
        """Translate one string (returns a string) or a list of strings (returns a list), greedy or
        by beam."""
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            raise ValueError("text is an empty list: nothing to translate")
        out: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            src, lengths = self._batch(texts[start : start + self.batch_size])
            if beam_width == 1:
                tokens, _ = self.model.greedy(src, lengths, max_len=self.max_output_len)
                out.extend(self._text(row) for row in tokens.tolist())
            else:
                beams = self.model.beam(
                    src,
                    lengths,
                    max_len=self.max_output_len,
                    beam_width=beam_width,
                    length_penalty=length_penalty,
                )
                out.extend(self._text(candidates[0][0].tolist()) for candidates in beams)
        return out[0] if isinstance(text, str) else out

    def candidates(
        self,
        text: str,
        *,
        beam_width: int = 5,
        length_penalty: float = 1.0,
        as_tokens: bool = False,
    ) -> list[tuple[Any, float]]:
        """Beam-search candidates for one string: ``(translation, score)``, best first (token lists
        if ``as_tokens``)."""
        src, lengths = self._batch([text])
        beams = self.model.beam(
            src,
            lengths,
            max_len=self.max_output_len,
            beam_width=beam_width,
            length_penalty=length_penalty,
        )
        words = [(self.tgt_vocab.decode(tokens.tolist()), score) for tokens, score in beams[0]]
        return words if as_tokens else [(self.detokenize(w), score) for w, score in words]

    def attention(
        self, text: str, translation_tokens: Sequence[str] | None = None
    ) -> tuple[list[str], list[str], np.ndarray]:
        """``(source tokens, output tokens, weights (T, S))``: where the model looked while writing
        each output token.

        The output is the greedy translation unless ``translation_tokens`` is given; it ends with
        ``<eos>``.
        """
        src, lengths = self._batch([text])
        if translation_tokens is None:
            tokens, n = self.model.greedy(src, lengths, max_len=self.max_output_len)
            out_ids = tokens[0, : n[0]].cpu()
        else:
            out_ids = self.tgt_vocab.encode(list(translation_tokens), eos=True)
        # (T,) -> (1, T): a batch of one
        tgt_in = torch.cat([torch.tensor([BOS]), out_ids[:-1]]).unsqueeze(0).to(src.device)
        weights = self.model.attention_weights(src, lengths, tgt_in)[0].cpu().numpy()
        source = [
            t if t in self.src_vocab else self.src_vocab.itos[UNK] for t in self.source_tokens(text)
        ]
        return source, [self.tgt_vocab.itos[i] for i in out_ids.tolist()], weights


def train_translation(
    name: str,
    model: torch.nn.Module,
    loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    epochs: int,
    lr: float,
    seed: int,
    loss: Callable[[Any, Any], torch.Tensor] | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    lr_decay: float | None = None,
    progress: bool = True,
) -> History:
    """Train a translation model once, under one rule for every kind: Adam at ``lr``, gradients
    clipped to norm 1.

    With ``lr_decay`` the learning rate is multiplied by it after every epoch (large steps early,
    small ones to settle).

    ``loss(model, batch)`` is the training loss; by default the model's own ``batch_loss`` method:
    a `Seq2Seq` trains on `pair_loader` batches (`seq2seq_loss`: masked cross-entropy, teacher
    forcing), a `SyncedTagger` on `synced_loader` batches (`tagger_loss`), a `CTCTagger` on
    `synced_loader` batches (`ctc_loss`). Any other model trains with the ``loss`` passed. With
    ``val_loader`` and ``patience``, training stops after ``patience`` epochs without a lower
    held-out loss (lower by more than ``min_delta``) and the best weights are kept; ``epochs`` caps
    it. Each epoch reshuffles its bucketed batches (`fit`
    pins the sampler's epoch). The result is cached by `rnnlab.train_cached` under ``name``.
    """
    # the class's function, not a bound method: the cache key describes it by name, not by weights
    batch_loss = loss if loss is not None else getattr(type(model), "batch_loss", None)
    if not callable(batch_loss):
        raise TypeError(
            f"model ({type(model).__name__}) has no batch_loss method (Seq2Seq, SyncedTagger and "
            "CTCTagger have one): pass loss=fn(model, batch)"
        )
    for arg, value in (("loader", loader), ("val_loader", val_loader)):
        if not isinstance(value, DataLoader) and not (arg == "val_loader" and value is None):
            raise TypeError(
                f"{arg} must be a DataLoader from pair_loader / synced_loader, got "
                f"{type(value).__name__}"
            )
    check_number("lr_decay", lr_decay, above=0, maximum=1, optional=True)
    # fused: PyTorch's one-kernel Adam (the same update; on a CPU its step costs a third as much)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    scheduler = (
        None
        if lr_decay is None
        else torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=lr_decay)
    )
    return train_cached(
        name,
        model,
        loader,
        val_loader,
        data=list(loader.dataset),
        seed=seed,
        epochs=epochs,
        optimizer=optimizer,
        batch_loss=batch_loss,
        clip_grad=1.0,
        patience=patience,
        min_delta=min_delta,
        scheduler=scheduler,
        progress=progress,
    )


def synced_translate(
    model: SyncedTagger | CTCTagger,
    texts: Sequence[str],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    tokenize: Callable[[str], list[str]],
    detokenize: Callable[[Sequence[str]], str],
    out_len: int | None = None,
    beam_width: int = 1,
) -> list[str]:
    """What a synced model writes for each text: a `SyncedTagger` its ``out_len`` outputs, a
    `CTCTagger` its collapsed output (greedy, or prefix beam search with ``beam_width`` > 1)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings")
    if isinstance(model, SyncedTagger):
        if out_len is None or beam_width != 1:
            raise ValueError(
                "a SyncedTagger writes exactly out_len tokens, greedily: pass out_len and no "
                "beam_width"
            )
    elif isinstance(model, CTCTagger):
        if out_len is not None:
            raise ValueError("a CTCTagger decides its own output length: do not pass out_len")
    else:
        raise TypeError(f"model must be a SyncedTagger or a CTCTagger, got {type(model).__name__}")
    src, lengths = pad_sequences([src_vocab.encode(tokenize(t)) for t in texts])
    src = src.to(next(model.parameters()).device)
    rows = (
        model.greedy(src, lengths, out_len).tolist()
        if isinstance(model, SyncedTagger)
        else model.decode(src, lengths, beam_width=beam_width)
    )
    return [detokenize(tgt_vocab.decode(row, stop_at_eos=False)) for row in rows]
