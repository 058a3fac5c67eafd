"""Turning a step-by-step model into output sequences: greedy, sampled and beam-search decoding.

Any autoregressive model can be decoded here if it offers one function,

    step(tokens: LongTensor (B,), state) -> (logits: (B, V), new_state)

which reads the previous output token of each sequence and returns scores for the next one. The
``state`` is whatever the model carries between steps (hidden state, encoder outputs, a source mask)
as a tensor or a nested tuple/list/dict of tensors, every tensor with the batch on dim 0. That one
convention lets beam search copy and reorder any model's state with ``index_select`` on dim 0.

Outputs exclude ``<bos>``, include ``<eos>`` when it is produced, and hold ``PAD`` (0) after it; a
finished sequence stays finished, and decoding stops as soon as every sequence has finished.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from ..checks import check_int, check_number, check_positive
from ..data.vocab import PAD
from ..nested import map_tensors

State = Any
StepFn = Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]

__all__ = [
    "DecoderBase",
    "SequenceDecoder",
    "beam_search",
    "greedy_decode",
    "map_state",
    "sample_decode",
    "select_state",
    "state_batch",
]


@runtime_checkable
class SequenceDecoder(Protocol):
    """What `rnnlab.models.encoder_decoder.Seq2Seq` asks of a decoder: any object with these
    (rnnlab's `Decoder` and `AttentionDecoder`, or a learner's Transformer decoder) will do.

    - ``init_state(memory (B, S, M), final (B, M), mask (B, S))``: the state before the first token;
    - ``run(tgt (B, T), state) -> (logits (B, T, V), state, weights (B, T, S) or None)``: a whole
      teacher-forced sequence at once;
    - ``step(tokens (B,), state) -> (logits (B, V), state)``: one decoding step (see above);
    - ``vocab_size``: the number of output token ids.
    """

    vocab_size: int

    def init_state(
        self, memory: torch.Tensor, final: torch.Tensor, mask: torch.Tensor
    ) -> State: ...

    def run(self, tgt: torch.Tensor, state: State) -> tuple[torch.Tensor, State, Any]: ...

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


class DecoderBase:
    """The one ``step`` every rnnlab decoder shares: a decoding step is a `run` over one token.

    A decoder that can read a whole teacher-forced sequence (``run``) decodes one step by reading a
    sequence of length 1, so training and decoding go through the same code.
    """

    def run(self, tgt: torch.Tensor, state: State) -> tuple[torch.Tensor, State, Any]:
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One decoding step: previous tokens ``(B,)`` → logits ``(B, V)`` and the next state."""
        logits, state, _ = self.run(tokens.unsqueeze(1), state)  # (B,) -> (B, 1): one step
        return logits.squeeze(1), state


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """Apply ``fn`` to every tensor in a (nested tuple/list/dict) state, keeping the structure."""

    def only_tensors(leaf: Any) -> None:
        if leaf is not None:
            raise TypeError(
                "state must be a tensor or a nested tuple/list/dict of tensors, found a "
                f"{type(leaf).__name__}"
            )

    return map_tensors(state, fn, other=only_tensors)


def select_state(state: State, index: torch.Tensor) -> State:
    """Rows ``index`` of every tensor in ``state`` (batch on dim 0): reorders, copies or drops
    sequences."""
    return map_state(state, lambda t: t.index_select(0, index.to(t.device)))


def state_batch(state: State) -> tuple[int, torch.device]:
    """Batch size and device of a state; every tensor in it must agree on dim 0."""
    sizes: list[int] = []
    devices: list[torch.device] = []

    def visit(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0:
            raise ValueError(
                "state holds a 0-d tensor; every state tensor needs the batch on dim 0"
            )
        sizes.append(t.shape[0])
        devices.append(t.device)
        return t

    map_state(state, visit)
    if not sizes:
        raise ValueError(
            "state holds no tensor, so the batch size is unknown; pass e.g. the initial hidden "
            "state (B, H)"
        )
    if len(set(sizes)) != 1:
        raise ValueError(f"state tensors disagree on the batch size (dim 0): {sorted(set(sizes))}")
    if sizes[0] == 0:
        raise ValueError("state has batch size 0: nothing to decode")
    return sizes[0], devices[0]


def _check_args(step: Any, bos: Any, eos: Any, max_len: Any) -> None:
    if not callable(step):
        raise TypeError(
            "step must be a function step(tokens, state) -> (logits, state), got "
            f"{type(step).__name__}"
        )
    check_int("bos", bos, minimum=0)
    check_int("eos", eos, minimum=0)
    check_positive(max_len=max_len)


def _call_step(
    step: StepFn, tokens: torch.Tensor, state: State, eos: int
) -> tuple[torch.Tensor, State]:
    out = step(tokens, state)
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError("step must return a pair (logits, new_state)")
    logits, new_state = out
    batch = tokens.shape[0]
    if (
        not isinstance(logits, torch.Tensor)
        or not logits.is_floating_point()
        or logits.dim() != 2
        or logits.shape[0] != batch
    ):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"step must return logits of shape (B, V) = ({batch}, V) as floats, got {shape}"
        )
    if eos >= logits.shape[1]:
        raise ValueError(
            f"eos = {eos} is not a token id of this model's vocabulary of {logits.shape[1]}"
        )
    return logits, new_state


def _decode(
    step: StepFn,
    state: State,
    bos: int,
    eos: int,
    max_len: int,
    choose: Callable[[torch.Tensor], torch.Tensor],
):
    batch, device = state_batch(state)
    tokens = torch.full((batch,), bos, dtype=torch.int64, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, dtype=torch.int64, device=device)
    out = []
    for _ in range(max_len):
        logits, state = _call_step(step, tokens, state, eos)
        tokens = choose(logits).masked_fill(finished, PAD)
        out.append(tokens)
        lengths += (~finished).long()
        finished = finished | (tokens == eos)
        if bool(finished.all()):
            break
    return torch.stack(out, dim=1), lengths


def greedy_decode(
    step: StepFn, state: State, *, bos: int, eos: int, max_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick the most likely token at every step.

    Returns ``(tokens, lengths)``: ``tokens`` is ``(B, L)`` (``L ≤ max_len``) without ``<bos>``,
    with the ``<eos>`` when produced and ``PAD`` after it; ``lengths`` ``(B,)`` counts each row's
    tokens up to and including its ``<eos>``.
    """
    _check_args(step, bos, eos, max_len)
    with torch.no_grad():
        return _decode(step, state, bos, eos, max_len, lambda logits: logits.argmax(dim=-1))


def sample_decode(
    step: StepFn,
    state: State,
    *,
    bos: int,
    eos: int,
    max_len: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw each token from ``softmax(logits / temperature)``; same outputs as `greedy_decode`.

    Low temperatures approach greedy decoding, high ones approach uniform sampling. Pass a seeded
    ``torch.Generator`` (on the model's device) for repeatable samples.
    """
    _check_args(step, bos, eos, max_len)
    temperature = check_number("temperature", temperature, above=0)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )

    def choose(logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    with torch.no_grad():
        return _decode(step, state, bos, eos, max_len, choose)


def beam_search(
    step: StepFn,
    state: State,
    *,
    bos: int,
    eos: int,
    max_len: int,
    beam_width: int,
    length_penalty: float = 1.0,
) -> list[list[tuple[torch.Tensor, float]]]:
    """Keep the ``beam_width`` most likely partial outputs of each example at every step.

    Beams are ranked by their total log-probability while decoding; a beam that produced ``<eos>``
    keeps its slot and its score unchanged (it stays finished), and the search stops when every beam
    of every example has finished or after ``max_len`` steps. The finished candidates are then
    ranked by ``log p / length ** length_penalty``: 0 keeps the raw total (which favours short
    outputs), 1 (the default) averages per token. With ``beam_width=1`` this is exactly
    `greedy_decode`.

    Returns, per example, a list of up to ``beam_width`` ``(tokens, score)`` pairs, best first,
    where ``tokens`` is a 1-D LongTensor without ``<bos>``, ending in ``<eos>`` unless ``max_len``
    cut it off.
    """
    _check_args(step, bos, eos, max_len)
    check_positive(beam_width=beam_width)
    length_penalty = check_number("length_penalty", length_penalty, minimum=0)
    batch, device = state_batch(state)
    k = beam_width
    with torch.no_grad():
        state = select_state(state, torch.arange(batch, device=device).repeat_interleave(k))
        scores = torch.full((batch, k), -math.inf, device=device)
        scores[:, 0] = 0.0  # all beams start identical: expand only the first
        finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
        lengths = torch.zeros(batch, k, dtype=torch.int64, device=device)
        history = torch.empty(batch, k, 0, dtype=torch.int64, device=device)
        tokens = torch.full((batch * k,), bos, dtype=torch.int64, device=device)
        for _ in range(max_len):
            logits, state = _call_step(step, tokens, state, eos)
            vocab = logits.shape[1]
            # (B*k, V) -> (B, k, V)
            logp = F.log_softmax(logits.float(), dim=-1).view(batch, k, vocab)
            # A finished beam can only continue with PAD, at no cost, so it keeps its score.
            stay = torch.full((vocab,), -math.inf, device=device)
            stay[PAD] = 0.0
            logp = torch.where(finished.unsqueeze(-1), stay, logp)
            # (B, k, 1) + (B, k, V) -> (B, k*V): the score of every beam's every next token
            total = (scores.unsqueeze(-1) + logp).view(batch, k * vocab)
            scores, flat = total.topk(k, dim=1)  # (B, k) each
            parent = flat // vocab  # (B, k): the beam each new one extends
            tokens2d = flat % vocab  # (B, k): the token it adds
            finished = finished.gather(1, parent)
            lengths = lengths.gather(1, parent)
            lengths += (~finished).long()
            finished = finished | (tokens2d == eos)
            # (B, k, t) -> (B, k, t+1): each parent's tokens, then the new one
            history = torch.cat(
                [
                    history.gather(1, parent.unsqueeze(-1).expand_as(history)),
                    tokens2d.unsqueeze(-1),
                ],
                dim=2,
            )
            # (B, 1) * k + (B, k) -> (B*k,): the row of each parent in the flat state
            rows = (torch.arange(batch, device=device).unsqueeze(1) * k + parent).view(-1)
            state = select_state(state, rows)
            tokens = tokens2d.view(-1)  # (B, k) -> (B*k,)
            if bool((finished | torch.isinf(scores)).all()):
                break
        normalised = scores / lengths.clamp(min=1).float() ** length_penalty
        results = []
        for b in range(batch):
            order = normalised[b].argsort(descending=True, stable=True)
            results.append(
                [
                    (history[b, i, : lengths[b, i]].clone(), float(normalised[b, i]))
                    for i in order.tolist()
                    if math.isfinite(float(scores[b, i]))
                ]
            )
    return results
