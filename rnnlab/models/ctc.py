"""CTC: a synced model with blanks that learns its own alignment (Graves et al., 2006).

The model writes one symbol per input frame, where a symbol is an output token or a *blank* (the
``<pad>`` id, 0, which never occurs in a target). The output is read off by collapsing runs of the
same symbol and then dropping the blanks: ``2 2 - 0 0 - 0`` (``-`` a blank) reads ``200``; the blank
is what lets the same token be written twice in a row. Training (`ctc_loss`, which
wraps ``nn.CTCLoss``) sums the probability of every frame-level path that reads as the target, so no
one has to say which frame writes which token. This is how speech and handwriting recognisers are
trained, where the alignment is unknown.

Limits that stay: the output can be no longer than the frames (each input token is repeated
``upsample`` times so that it fits, and a repeated target letter needs a blank between its copies),
and given the input every frame's symbol is predicted independently of the others; a one-way RNN
still writes as it reads. `ctc_greedy` takes the best symbol per frame; `ctc_beam_search` keeps the
``beam_width`` most likely *collapsed* prefixes (prefix beam search), which sums the paths that read
the same and can find a likelier output than greedy.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int, check_positive, check_probability, check_tokens
from ..data.vocab import PAD
from ..modes import eval_mode
from ..sequences import check_lengths
from .settings import RecordsSettings
from .synced import FrameRNN

BLANK = PAD

__all__ = [
    "BLANK",
    "CTCTagger",
    "ctc_beam_search",
    "ctc_greedy",
    "ctc_loss",
    "frames_needed",
    "upsample",
]


def upsample(src: torch.Tensor, src_lengths: Any, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat every input token ``factor`` times: ``(frames (B, S·factor), frame_lengths (B,))``;
    padding stays at the end."""
    if not isinstance(src, torch.Tensor) or src.dim() != 2:
        raise TypeError(
            f"src must be a 2-D tensor of token ids (B, S), got {type(src).__name__} "
            f"{tuple(getattr(src, 'shape', ()))}"
        )
    check_positive(factor=factor)
    lengths = check_lengths(
        src_lengths, batch_size=src.shape[0], max_len=src.shape[1], name="src_lengths"
    )
    return src.repeat_interleave(factor, dim=1), lengths * factor


def frames_needed(tgt: torch.Tensor, tgt_lengths: Any) -> torch.Tensor:
    """The fewest frames that can write each target ``(B,)``: its length plus one blank between
    equal neighbours."""
    lengths = check_lengths(
        tgt_lengths, batch_size=tgt.shape[0], max_len=tgt.shape[1], name="tgt_lengths"
    ).to(tgt.device)
    # (B, T-1): both tokens real
    real_pairs = torch.arange(1, tgt.shape[1], device=tgt.device) < lengths.unsqueeze(1)
    return lengths + ((tgt[:, 1:] == tgt[:, :-1]) & real_pairs).sum(dim=1)


class CTCTagger(RecordsSettings, nn.Module):
    """Input tokens repeated ``upsample`` times → `FrameRNN` → per-frame log-probabilities over the
    output tokens and the blank.

    Chapter 2 (CTC on dates) uses it.

    >>> import torch
    >>> from rnnlab.models.ctc import CTCTagger
    >>> model = CTCTagger(src_vocab_size=9, tgt_vocab_size=5, embed_dim=4, hidden_size=8)
    >>> log_probs, lengths = model(torch.randint(1, 9, (2, 6)), [6, 3])
    >>> log_probs.shape, lengths.tolist()  # each input frame repeated upsample=3 times
    (torch.Size([2, 18, 5]), [18, 9])
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        embed_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        upsample: int = 3,
    ):
        super().__init__()
        self.upsample = check_int("upsample", upsample, minimum=1)
        self.frame_rnn = FrameRNN(
            src_vocab_size,
            tgt_vocab_size,
            embed_dim=embed_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
        )

    def forward(self, src: torch.Tensor, src_lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_probs (B, F, V), frame_lengths (B,))`` for sources ``src`` ``(B, S)``,
        ``F = S · upsample``."""
        src = check_tokens("src", src, self.frame_rnn.src_vocab_size)
        frames, frame_lengths = upsample(src, src_lengths, self.upsample)
        return F.log_softmax(self.frame_rnn(frames, frame_lengths), dim=-1), frame_lengths

    def batch_loss(self, batch: Any) -> torch.Tensor:
        """The training loss of a `synced_loader` batch: `ctc_loss`."""
        return ctc_loss(self, batch)

    def decode(
        self, src: torch.Tensor, src_lengths: Any, *, beam_width: int = 1
    ) -> list[list[int]]:
        """Output token ids of each source: greedy (``beam_width=1``) or prefix beam search."""
        check_positive(beam_width=beam_width)
        with eval_mode(self), torch.no_grad():
            log_probs, lengths = self(src, src_lengths)
        return (
            ctc_greedy(log_probs, lengths)
            if beam_width == 1
            else ctc_beam_search(log_probs, lengths, beam_width=beam_width)
        )


def ctc_loss(model: CTCTagger, batch: Any) -> torch.Tensor:
    """``nn.CTCLoss`` (blank = 0, mean over the batch of the loss per target token) of a batch
    ``(src, src_lengths, tgt, tgt_lengths)``.

    Raises ``ValueError`` when a target cannot fit its frames (raise the model's ``upsample``).
    """
    if not isinstance(batch, (tuple, list)) or len(batch) != 4:
        raise TypeError(
            "batch must be (src, src_lengths, tgt, tgt_lengths), as made by "
            "rnnlab.data.parallel.synced_loader"
        )
    src, src_lengths, tgt, tgt_lengths = batch
    tgt = check_tokens("tgt", tgt, model.frame_rnn.head.out_features)
    log_probs, frame_lengths = model(src, src_lengths)
    tgt_lengths = check_lengths(
        tgt_lengths, batch_size=tgt.shape[0], max_len=tgt.shape[1], name="tgt_lengths"
    )
    short = frames_needed(tgt, tgt_lengths).cpu() > frame_lengths.cpu()
    if bool(short.any()):
        row = int(short.nonzero()[0])
        raise ValueError(
            f"target {row} needs {int(frames_needed(tgt, tgt_lengths)[row])} frames but its input "
            f"gives {int(frame_lengths[row])}; build the CTCTagger with a larger upsample"
        )
    # ctc_loss wants time first: (B, F, V) -> (F, B, V)
    return F.ctc_loss(
        log_probs.transpose(0, 1), tgt, frame_lengths.cpu(), tgt_lengths.cpu(), blank=BLANK
    )


def _check_log_probs(log_probs: Any, lengths: Any) -> tuple[torch.Tensor, list[int]]:
    if not isinstance(log_probs, torch.Tensor) or not log_probs.is_floating_point():
        raise TypeError(
            "log_probs must be a float tensor (B, F, V), got "
            f"{getattr(log_probs, 'dtype', type(log_probs).__name__)}"
        )
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must have shape (B, F, V), got {tuple(log_probs.shape)}")
    lengths = check_lengths(
        lengths, batch_size=log_probs.shape[0], max_len=log_probs.shape[1], name="lengths"
    )
    return log_probs, lengths.tolist()


def ctc_greedy(log_probs: torch.Tensor, lengths: Any, *, blank: int = BLANK) -> list[list[int]]:
    """The best symbol of each frame, runs collapsed and blanks dropped: one id list per
    sequence."""
    log_probs, lengths = _check_log_probs(log_probs, lengths)
    out = []
    for best, n in zip(log_probs.argmax(dim=-1).tolist(), lengths, strict=True):
        out.append(
            [s for i, s in enumerate(best[:n]) if s != blank and (i == 0 or s != best[i - 1])]
        )
    return out


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    top = max(a, b)
    return top + math.log1p(math.exp(-abs(a - b)))


def _add(
    beams: dict[tuple[int, ...], tuple[float, float]],
    prefix: tuple[int, ...],
    in_blank: float,
    in_token: float,
) -> None:
    old_blank, old_token = beams.get(prefix, (-math.inf, -math.inf))
    beams[prefix] = (_logsumexp(old_blank, in_blank), _logsumexp(old_token, in_token))


def ctc_beam_search(
    log_probs: torch.Tensor,
    lengths: Any,
    *,
    beam_width: int,
    blank: int = BLANK,
    prune: float = 1e-4,
) -> list[list[int]]:
    """Prefix beam search: the likeliest output of each sequence among ``beam_width`` collapsed
    prefixes per frame.

    Each prefix keeps two log-probabilities, of the paths that read as it and end in a blank or in
    its last token, because only a blank lets the same token be written twice. Symbols whose
    probability at a frame is below ``prune`` are not tried there (0 tries them all).
    """
    log_probs, lengths = _check_log_probs(log_probs, lengths)
    check_positive(beam_width=beam_width)
    check_probability(prune=prune)
    floor = math.log(prune) if prune > 0 else -math.inf
    out = []
    for rows, n in zip(log_probs.tolist(), lengths, strict=True):
        # prefix -> (ends in blank, ends in token)
        beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
        for row in rows[:n]:
            grown: dict[tuple[int, ...], tuple[float, float]] = {}
            symbols = [s for s, lp in enumerate(row) if s != blank and lp >= floor]
            for prefix, (p_blank, p_token) in beams.items():
                p_any = _logsumexp(p_blank, p_token)
                _add(grown, prefix, p_any + row[blank], -math.inf)
                if prefix:
                    # its last token again: the run goes on
                    _add(grown, prefix, -math.inf, p_token + row[prefix[-1]])
                for s in symbols:
                    # after a blank, the prefix's last token starts a new copy; any other token
                    # always does
                    _add(
                        grown,
                        prefix + (s,),
                        -math.inf,
                        (p_blank if prefix and s == prefix[-1] else p_any) + row[s],
                    )
            beams = dict(sorted(grown.items(), key=lambda kv: -_logsumexp(*kv[1]))[:beam_width])
        out.append(list(max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))[0]))
    return out
