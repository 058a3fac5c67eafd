"""Synced sequence models: one output distribution per input frame, no decoder.

A synced model runs one RNN over a row of *frames* and reads an output token off some of them. What
it can do depends on which frames it reads from and on which way its RNN runs:

- ``SyncedTagger(delay=False)`` writes output token *t* at input frame *t*, while it reads (inputs
  shorter than the output get blank frames appended so every output has a frame). A one-way RNN
  must then write the first output before it has read the rest of the input.
- ``SyncedTagger(delay=True)`` reads the whole input, then ``out_len`` blank frames during which it
  writes: the synced model that "outputs silence until it is sure". A one-way RNN must carry the
  whole input in its state until the blanks, as an encoder does.
- ``bidirectional=True`` gives every frame a view of the whole input (a backward GRU reads it from
  the end), at the price of streaming: nothing can be written before the input has ended.

A blank frame is the ``<pad>`` id inside the sequence's length: its embedding is zero, "nothing to
read". Real padding after the frames never reaches a real frame's output (`run_rnn`), so an output
does not depend on what else is in the batch. `rnnlab.models.ctc` builds its model on the same
`FrameRNN`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..checks import check_bool, check_positive, check_tokens
from ..data.vocab import PAD
from ..modes import eval_mode
from ..sequences import check_lengths, masked_cross_entropy, run_rnn
from .settings import RecordsSettings

__all__ = ["FrameRNN", "SyncedTagger", "tagger_loss"]


class FrameRNN(RecordsSettings, nn.Module):
    """Embedding → GRU (one- or two-way, ``num_layers`` deep, over the real frames only,
    `rnnlab.sequences.run_rnn`) → a linear layer on every frame.

    ``forward(frames (B, F), lengths (B,))`` returns logits ``(B, F, V)``; frames past a row's
    length are never read and their logits are those of a zero state (callers ignore them).

    Chapter 2 uses it inside `SyncedTagger` and `CTCTagger`.

    >>> import torch
    >>> from rnnlab.models.synced import FrameRNN
    >>> model = FrameRNN(src_vocab_size=9, tgt_vocab_size=5, embed_dim=4, hidden_size=8)
    >>> model(torch.randint(1, 9, (2, 6)), [6, 3]).shape  # a score per frame and output token
    torch.Size([2, 6, 5])
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
    ):
        super().__init__()
        check_positive(
            src_vocab_size=src_vocab_size,
            tgt_vocab_size=tgt_vocab_size,
            embed_dim=embed_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        self.src_vocab_size = src_vocab_size
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.embed = nn.Embedding(src_vocab_size, embed_dim, padding_idx=PAD)
        self.rnn = nn.GRU(
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
        )
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), tgt_vocab_size)

    def forward(self, frames: torch.Tensor, lengths: Any) -> torch.Tensor:
        frames = check_tokens("frames", frames, self.src_vocab_size)
        lengths = check_lengths(
            lengths, batch_size=frames.shape[0], max_len=frames.shape[1], name="frame_lengths"
        )
        outputs, _ = run_rnn(self.rnn, self.embed(frames), lengths)
        return self.head(outputs)


class SyncedTagger(RecordsSettings, nn.Module):
    """A synced seq2seq model: output token *t* is read off one frame of a single RNN (see the
    module docstring).

    ``delay=False`` reads it at input frame *t* (write while reading); ``delay=True`` at frame
    ``len(input) + t``, after the whole input (read, then write during blank frames). Either way the
    output is exactly ``out_len`` tokens, each predicted from the frames alone, not from the tokens
    written before it.

    Chapter 2 (the synced baseline for dates) uses it.

    >>> import torch
    >>> from rnnlab.models.synced import SyncedTagger
    >>> model = SyncedTagger(src_vocab_size=9, tgt_vocab_size=5, embed_dim=4, hidden_size=8)
    >>> model(torch.randint(1, 9, (2, 6)), [6, 3], out_len=10).shape
    torch.Size([2, 10, 5])
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
        delay: bool = False,
    ):
        super().__init__()
        self.delay = check_bool("delay", delay)
        self.frame_rnn = FrameRNN(
            src_vocab_size,
            tgt_vocab_size,
            embed_dim=embed_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
        )

    def frames(
        self, src: torch.Tensor, src_lengths: Any, out_len: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(frames (B, F), frame_lengths (B,), positions (B, out_len))``: the row the RNN reads
        and where each output is read off.

        Without delay a row is its input, followed by blank frames up to ``out_len`` if it is
        shorter; with delay it is its input followed by ``out_len`` blank frames.
        """
        src = check_tokens("src", src, self.frame_rnn.src_vocab_size)
        lengths = check_lengths(
            src_lengths, batch_size=src.shape[0], max_len=src.shape[1], name="src_lengths"
        ).to(src.device)
        check_positive(out_len=out_len)
        steps = torch.arange(out_len, device=src.device)
        if self.delay:
            frame_lengths = lengths + out_len  # (B,)
            positions = lengths.unsqueeze(1) + steps  # (B, 1) + (out_len,) -> (B, out_len)
        else:
            frame_lengths = lengths.clamp(min=out_len)  # (B,)
            positions = steps.expand(src.shape[0], -1)  # (out_len,) -> (B, out_len)
        width = int(frame_lengths.max())
        frames = torch.cat(
            [src, src.new_full((src.shape[0], max(0, width - src.shape[1])), PAD)], dim=1
        )[:, :width]
        # (F,) < (B, 1) -> (B, F): input frames; the rest are blanks
        real = torch.arange(width, device=src.device) < lengths.unsqueeze(1)
        return frames.masked_fill(~real, PAD), frame_lengths, positions

    def forward(self, src: torch.Tensor, src_lengths: Any, out_len: int) -> torch.Tensor:
        """Logits ``(B, out_len, V)`` of the ``out_len`` output tokens for sources ``src``
        ``(B, S)``."""
        frames, frame_lengths, positions = self.frames(src, src_lengths, out_len)
        logits = self.frame_rnn(frames, frame_lengths)  # (B, F, V)
        index = positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1])  # (B, out_len, V)
        return logits.gather(1, index)  # (B, out_len, V)

    def batch_loss(self, batch: Any) -> torch.Tensor:
        """The training loss of a `synced_loader` batch: `tagger_loss`."""
        return tagger_loss(self, batch)

    def greedy(self, src: torch.Tensor, src_lengths: Any, out_len: int) -> torch.Tensor:
        """The most likely token at each of the ``out_len`` output positions: ``(B, out_len)``."""
        with eval_mode(self), torch.no_grad():
            return self(src, src_lengths, out_len).argmax(dim=-1)


def tagger_loss(model: SyncedTagger, batch: Any) -> torch.Tensor:
    """Masked cross-entropy of a batch ``(src, src_lengths, tgt, tgt_lengths)`` from
    `rnnlab.data.parallel.synced_loader`."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 4:
        raise TypeError(
            "batch must be (src, src_lengths, tgt, tgt_lengths), as made by "
            "rnnlab.data.parallel.synced_loader"
        )
    src, src_lengths, tgt, tgt_lengths = batch
    return masked_cross_entropy(model(src, src_lengths, tgt.shape[1]), tgt, tgt_lengths)
