"""Encoder–decoders for translation: three decoders over one encoder.

(The synced baselines, which have no decoder, are in `rnnlab.models.synced` and
`rnnlab.models.ctc`.)

- `Encoder` + `Decoder`: the encoder reads the whole input first; the decoder starts from a
  fixed-size summary (the context) and writes an output of any length, one token at a time, until
  ``<eos>``. ``feed_context=False`` is Sutskever et al.'s decoder (the context is only its first
  state), ``feed_context=True`` Cho et al.'s (the context is fed again at every step).
- `Encoder` + `AttentionDecoder`: at every output step the decoder looks back at all encoder outputs
  (`rnnlab.models.attention`), so long inputs no longer have to fit through one vector.

`Seq2Seq` joins an encoder and a decoder: ``forward`` for training (teacher forcing, or feeding back
its own predictions), `seq2seq_loss` for `rnnlab.fit`, and greedy/beam decoding through
`rnnlab.models.decoding`. A decoder offers ``run(tgt (B, T), state) -> (logits, state, weights)``
for a whole teacher-forced sequence at once (one fused GRU call: fast) and
``step(tokens (B,), state)`` for decoding; its state is a dict of tensors with the batch on dim 0,
as decoding.py expects.

The module runs past 400 lines on purpose: chapter 2's encoder, two decoders and their join are
read together, each with its runnable example.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..checks import (
    check_bool,
    check_int,
    check_number,
    check_positive,
    check_probability,
    check_tokens,
    embed_tokens,
)
from ..data.vocab import BOS, EOS, PAD
from ..modes import eval_mode
from ..sequences import check_lengths, masked_cross_entropy, prefix_mask, run_checked_rnn
from .attention import make_attention
from .decoding import DecoderBase, SequenceDecoder, State, beam_search, greedy_decode
from .settings import RecordsSettings

__all__ = ["AttentionDecoder", "Decoder", "Encoder", "Seq2Seq", "seq2seq_loss"]


class Encoder(RecordsSettings, nn.Module):
    """Embedding → (bidirectional) GRU over the real tokens only (`run_rnn`).

    ``forward(src (B, S), lengths)`` returns ``(memory (B, S, M), final (B, M))`` with
    ``M = hidden_size`` times the number of directions; padding positions of ``memory`` are 0,
    ``final`` joins the last state of each direction (the forward one after the last real token).

    Chapter 2 uses it in every encoder–decoder (`Seq2Seq.build`).

    >>> import torch
    >>> from rnnlab.models.encoder_decoder import Encoder
    >>> encoder = Encoder(vocab_size=9, embed_dim=4, hidden_size=8)  # two directions of 8
    >>> memory, final = encoder(torch.randint(1, 9, (2, 6)), [6, 3])
    >>> memory.shape, final.shape
    (torch.Size([2, 6, 16]), torch.Size([2, 16]))
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        *,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_positive(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size)
        check_bool("bidirectional", bidirectional)
        check_probability(dropout=dropout)
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, src: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, torch.Tensor]:
        src = check_tokens("src", src, self.vocab_size, ids=False)  # shape only: no read
        lengths = check_lengths(
            lengths, batch_size=src.shape[0], max_len=src.shape[1], name="src_lengths"
        )
        x = self.dropout(embed_tokens(self.embed, src, "src"))
        memory, final = run_checked_rnn(self.rnn, x, lengths)
        # final (directions, B, H) -> (B, directions*H): both directions' last states side by side
        return memory, final.transpose(0, 1).reshape(src.shape[0], -1)


def _check_sizes(
    vocab_size: int, embed_dim: int, hidden_size: int, memory_size: int, dropout: float
) -> None:
    check_positive(
        vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size, memory_size=memory_size
    )
    check_probability(dropout=dropout)


class Decoder(DecoderBase, RecordsSettings, nn.Module):
    """A GRU decoder that sees the source only through the encoder's final state (the context).

    The context sets the initial hidden state (Sutskever et al., 2014). With ``feed_context=True``
    (the default) it is also fed again at every step beside the previous token and to the output
    layer (Cho et al., 2014), so the decoder cannot forget it; with ``False`` the decoder must carry
    it in its own state. Either way that one vector is all the decoder ever sees of the source.

    Chapter 2 uses it as "first state only" and "context every step".

    >>> import torch
    >>> from rnnlab.models.encoder_decoder import Decoder
    >>> decoder = Decoder(vocab_size=7, embed_dim=4, hidden_size=8, memory_size=16)
    >>> mask = torch.ones(2, 6, dtype=torch.bool)  # six real source positions in each row
    >>> state = decoder.init_state(torch.randn(2, 6, 16), torch.randn(2, 16), mask)
    >>> logits, state = decoder.step(torch.tensor([1, 1]), state)  # one step from <bos>
    >>> logits.shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        memory_size: int,
        *,
        dropout: float = 0.0,
        feed_context: bool = True,
    ):
        super().__init__()
        _check_sizes(vocab_size, embed_dim, hidden_size, memory_size, dropout)
        self.vocab_size = vocab_size
        self.feed_context = check_bool("feed_context", feed_context)
        fed = memory_size if feed_context else 0
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.bridge = nn.Linear(memory_size, hidden_size)
        self.rnn = nn.GRU(embed_dim + fed, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size + fed, vocab_size)

    def init_state(self, memory: torch.Tensor, final: torch.Tensor, mask: torch.Tensor) -> State:
        hidden = torch.tanh(self.bridge(final))
        return {"hidden": hidden, "context": final} if self.feed_context else {"hidden": hidden}

    def run(self, tgt: torch.Tensor, state: State) -> tuple[torch.Tensor, State, None]:
        """Logits ``(B, T, V)`` for the input tokens ``tgt`` ``(B, T)``, the state after them, and
        no weights."""
        x = self.dropout(self.embed(tgt))
        if self.feed_context:
            context = state["context"].unsqueeze(1).expand(-1, tgt.shape[1], -1)  # (B, T, C)
            x = torch.cat([x, context], dim=-1)  # (B, T, E+C)
        # state (B, H) -> (1, B, H), the GRU's (layers, B, H)
        outputs, hidden = self.rnn(x, state["hidden"].unsqueeze(0).contiguous())
        if self.feed_context:
            outputs = torch.cat([outputs, context], dim=-1)
        return self.head(self.dropout(outputs)), {**state, "hidden": hidden.squeeze(0)}, None


class AttentionDecoder(DecoderBase, RecordsSettings, nn.Module):
    """A GRU decoder that attends over all encoder outputs at every step (Luong et al., 2015).

    ``s_t = GRU(embed(y_{t-1}), s_{t-1})``; ``c_t = attention(s_t, memory)``;
    ``logits = W_o tanh(W_c [s_t; c_t])``. Because the attention comes after the recurrence, a
    teacher-forced sequence runs as one GRU call plus one batched attention.

    Chapter 2 uses it as "attention".

    >>> import torch
    >>> from rnnlab.models.encoder_decoder import AttentionDecoder
    >>> decoder = AttentionDecoder(vocab_size=7, embed_dim=4, hidden_size=8, memory_size=16)
    >>> mask = torch.ones(2, 6, dtype=torch.bool)  # six real source positions in each row
    >>> state = decoder.init_state(torch.randn(2, 6, 16), torch.randn(2, 16), mask)
    >>> logits, state, weights = decoder.run(torch.randint(1, 7, (2, 3)), state)  # teacher forcing
    >>> logits.shape, weights.shape
    (torch.Size([2, 3, 7]), torch.Size([2, 3, 6]))
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        memory_size: int,
        *,
        attention: str = "multiplicative",
        dropout: float = 0.0,
    ):
        super().__init__()
        _check_sizes(vocab_size, embed_dim, hidden_size, memory_size, dropout)
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.bridge = nn.Linear(memory_size, hidden_size)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.attention = make_attention(attention, hidden_size, memory_size)
        self.combine = nn.Linear(hidden_size + memory_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def init_state(self, memory: torch.Tensor, final: torch.Tensor, mask: torch.Tensor) -> State:
        return {
            "hidden": torch.tanh(self.bridge(final)),
            "memory": memory,
            "keys": self.attention.prepare(memory),
            "mask": mask,
        }

    def run(self, tgt: torch.Tensor, state: State) -> tuple[torch.Tensor, State, torch.Tensor]:
        """Logits ``(B, T, V)``, the state after ``tgt`` ``(B, T)``, and attention weights
        ``(B, T, S)``."""
        # state (B, H) -> (1, B, H), the GRU's (layers, B, H)
        outputs, hidden = self.rnn(
            self.dropout(self.embed(tgt)), state["hidden"].unsqueeze(0).contiguous()
        )
        context, weights = self.attention(
            outputs, state["memory"], state["mask"], keys=state["keys"]
        )
        logits = self.head(
            self.dropout(torch.tanh(self.combine(torch.cat([outputs, context], dim=-1))))
        )
        return logits, {**state, "hidden": hidden.squeeze(0)}, weights


class Seq2Seq(RecordsSettings, nn.Module):
    """An encoder and a decoder, trained with teacher forcing, decoded greedily or by beam.

    The encoder is any module ``encoder(src (B, S), src_lengths) -> (memory (B, S, M), final (B,
    M))`` (rnnlab's `Encoder`); the decoder any `SequenceDecoder` (``init_state``, ``run``,
    ``step``, ``vocab_size``: rnnlab's `Decoder` or `AttentionDecoder`, or one of your own).

    Chapter 2 (dates, copying, English→French) and chapter 5 use it.

    >>> import torch
    >>> from rnnlab.models.encoder_decoder import Seq2Seq
    >>> model = Seq2Seq.build(src_vocab_size=9, tgt_vocab_size=7, embed_dim=4, hidden_size=8)
    >>> src, src_lengths = torch.randint(3, 9, (2, 6)), [6, 3]
    >>> model(src, src_lengths, torch.randint(3, 7, (2, 4))).shape  # teacher-forced logits
    torch.Size([2, 4, 7])
    >>> tokens, lengths = model.greedy(src, src_lengths, max_len=5)
    >>> tokens.shape[0], bool((lengths <= 5).all())
    (2, True)
    """

    def __init__(self, encoder: nn.Module, decoder: SequenceDecoder):
        super().__init__()
        if not callable(encoder):
            raise TypeError(
                "encoder must be a module encoder(src, src_lengths) -> (memory, final), got "
                f"{type(encoder).__name__}"
            )
        if not isinstance(decoder, SequenceDecoder):
            missing = [
                n for n in ("init_state", "run", "step", "vocab_size") if not hasattr(decoder, n)
            ]
            raise TypeError(
                f"decoder must offer init_state, run, step and vocab_size (a SequenceDecoder); "
                f"a {type(decoder).__name__} lacks {', '.join(missing)}"
            )
        self.encoder = encoder
        self.decoder = decoder

    @classmethod
    def build(
        cls,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        embed_dim: int = 64,
        hidden_size: int = 128,
        attention: str | None = "multiplicative",
        dropout: float = 0.0,
        feed_context: bool = True,
    ) -> Seq2Seq:
        """A bidirectional GRU encoder (``hidden_size // 2`` per direction) with a plain
        (``attention=None``) or attention decoder.

        ``feed_context`` applies to the plain decoder only (see `Decoder`).
        """
        if check_int("hidden_size", hidden_size, minimum=2) % 2:
            raise ValueError(
                f"hidden_size must be even (half of it per encoder direction), got {hidden_size!r}"
            )
        if attention is not None and feed_context is not True:
            raise ValueError(
                "feed_context is an option of the plain decoder; pass attention=None with it"
            )
        encoder = Encoder(src_vocab_size, embed_dim, hidden_size // 2, dropout=dropout)
        if attention is None:
            decoder: Decoder | AttentionDecoder = Decoder(
                tgt_vocab_size,
                embed_dim,
                hidden_size,
                encoder.output_size,
                dropout=dropout,
                feed_context=feed_context,
            )
        else:
            decoder = AttentionDecoder(
                tgt_vocab_size,
                embed_dim,
                hidden_size,
                encoder.output_size,
                attention=attention,
                dropout=dropout,
            )
        return cls(encoder, decoder)

    @property
    def has_attention(self) -> bool:
        """Whether the decoder attends (has an ``attention`` part whose weights ``run`` returns)."""
        return getattr(self.decoder, "attention", None) is not None

    def encode(self, src: torch.Tensor, src_lengths: Any) -> State:
        """The decoder's initial state for a batch of sources ``(B, S)``."""
        memory, final = self.encoder(src, src_lengths)  # checks src and src_lengths
        mask = prefix_mask(torch.as_tensor(src_lengths).to(src.device), src.shape[1])
        return self.decoder.init_state(memory, final, mask)

    def _check_target(self, tgt_in: Any, batch: int) -> torch.Tensor:
        tgt_in = check_tokens("tgt_in", tgt_in, self.decoder.vocab_size, ids=False)
        if tgt_in.shape[0] != batch:
            raise ValueError(f"tgt_in has {tgt_in.shape[0]} sequences but src has {batch}")
        return tgt_in

    def forward(
        self,
        src: torch.Tensor,
        src_lengths: Any,
        tgt_in: torch.Tensor,
        teacher_forcing: float = 1.0,
    ) -> torch.Tensor:
        """Logits ``(B, T, V)`` for the next token at each position of ``tgt_in`` (``<bos>`` +
        target).

        ``teacher_forcing`` is the probability, per sequence and step, of feeding the true previous
        token; otherwise the model's own previous prediction (its argmax) is fed back. 1.0 (pure
        teacher forcing) runs the whole target in one pass; anything less runs step by step.
        """
        check_number("teacher_forcing", teacher_forcing, minimum=0, maximum=1)
        state = self.encode(src, src_lengths)
        tgt_in = self._check_target(tgt_in, src.shape[0])
        if teacher_forcing == 1.0:
            try:
                return self.decoder.run(tgt_in, state)[0]
            except IndexError:  # an embedding refused an id: name it (no read before that)
                check_tokens("tgt_in", tgt_in, self.decoder.vocab_size)
                raise
        check_tokens("tgt_in", tgt_in, self.decoder.vocab_size)  # step by step: slow anyway
        logits = []
        tokens = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            step_logits, state = self.decoder.step(tokens, state)
            logits.append(step_logits)
            if t + 1 < tgt_in.shape[1]:
                use_truth = torch.rand(tokens.shape[0], device=tokens.device) < teacher_forcing
                tokens = torch.where(use_truth, tgt_in[:, t + 1], step_logits.argmax(dim=-1))
        return torch.stack(logits, dim=1)

    def batch_loss(self, batch: Any) -> torch.Tensor:
        """The training loss of a `pair_loader` batch: `seq2seq_loss`."""
        return seq2seq_loss(self, batch)

    def attention_weights(
        self, src: torch.Tensor, src_lengths: Any, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Attention weights ``(B, T, S)`` while reading ``tgt_in`` teacher-forced (for heat
        maps)."""
        if not self.has_attention:
            raise ValueError("this model has no attention (it was built with attention=None)")
        tgt_in = self._check_target(tgt_in, src.shape[0])
        with torch.no_grad():
            return self.decoder.run(tgt_in, self.encode(src, src_lengths))[2]

    def greedy(
        self, src: torch.Tensor, src_lengths: Any, *, max_len: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: ``(tokens (B, L), lengths (B,))`` as in
        `rnnlab.models.decoding.greedy_decode`."""
        with eval_mode(self), torch.no_grad():
            return greedy_decode(
                self.decoder.step, self.encode(src, src_lengths), bos=BOS, eos=EOS, max_len=max_len
            )

    def beam(
        self,
        src: torch.Tensor,
        src_lengths: Any,
        *,
        max_len: int,
        beam_width: int,
        length_penalty: float = 1.0,
    ) -> list[list[tuple[torch.Tensor, float]]]:
        """Beam search: per source, ``(tokens, score)`` candidates, best first (see
        `beam_search`)."""
        with eval_mode(self), torch.no_grad():
            state = self.encode(src, src_lengths)
            return beam_search(
                self.decoder.step,
                state,
                bos=BOS,
                eos=EOS,
                max_len=max_len,
                beam_width=beam_width,
                length_penalty=length_penalty,
            )


def seq2seq_loss(model: Seq2Seq, batch: Any, teacher_forcing: float = 1.0) -> torch.Tensor:
    """Masked cross-entropy of a batch ``(src, src_lengths, tgt_in, tgt_out, tgt_lengths)``:
    ``fit(batch_loss=seq2seq_loss)``."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 5:
        raise TypeError(
            "batch must be (src, src_lengths, tgt_in, tgt_out, tgt_lengths), as made by "
            "rnnlab.data.parallel.pair_loader"
        )
    src, src_lengths, tgt_in, tgt_out, tgt_lengths = batch
    return masked_cross_entropy(
        model(src, src_lengths, tgt_in, teacher_forcing=teacher_forcing), tgt_out, tgt_lengths
    )
