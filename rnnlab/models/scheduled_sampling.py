"""Teacher forcing, scheduled sampling, and measuring exposure bias.

Trained with teacher forcing, a decoder always reads the *true* previous token; generating, it reads
its *own*. It was never exposed to its own mistakes during training: exposure bias. Its usual
symptom is a gap between the accuracy with true prefixes and the accuracy when the model runs free,
where one early slip can derail the rest of the output. Scored position by position, that gap also
counts a right word one place off as wrong; `edit_distance` (the word error rate) does not.
Scheduled sampling (Bengio et al., 2015) closes the gap from the training side: each step feeds the
true token with probability ``ratio`` and the model's own prediction otherwise, and ``ratio``
decays from 1 over training.

Use with `rnnlab.fit`::

    tf = TeacherForcing(inverse_sigmoid(k=4))
    fit(model, loader, epochs=10, batch_loss=tf.batch_loss, on_epoch_start=tf.on_epoch_start)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import torch

from ..checks import check_number
from ..data.vocab import EOS, PAD
from ..modes import eval_mode
from .encoder_decoder import Seq2Seq, seq2seq_loss

__all__ = ["TeacherForcing", "edit_distance", "exposure_bias", "inverse_sigmoid"]


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """The fewest insertions, deletions and substitutions that turn ``a`` into ``b``
    (Levenshtein).

    Divided by the reference's length it is the word error rate (WER). Unlike a position-by-position
    comparison, one missing word costs 1, not one error for every word after it.
    """
    previous = list(range(len(b) + 1))  # distances from a[:0] to each prefix of b
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def inverse_sigmoid(k: float) -> Callable[[int], float]:
    """The schedule ``ratio(epoch) = k / (k + exp((epoch - 1) / k))``: near 1 at first, then
    decaying to 0.

    Larger ``k`` decays later and more slowly (Bengio et al., 2015, with epochs counted from 1 as
    `rnnlab.fit` does); ``k = 4`` gives 0.80, 0.65, 0.47, 0.30 at epochs 1, 4, 7, 10.
    """
    k = check_number("k", k, minimum=1)

    def ratio(epoch: int) -> float:
        return k / (k + math.exp((epoch - 1) / k))

    return ratio


class TeacherForcing:
    """The teacher-forcing ratio in force, updated at the start of each epoch from a ``schedule``.

    ``schedule`` is a fixed ratio in ``[0, 1]`` (1.0: pure teacher forcing) or a function of the
    epoch (e.g. `inverse_sigmoid`). ``batch_loss`` trains with the current ratio and always
    evaluates with pure teacher forcing, so validation losses of differently trained models stay
    comparable; ``ratios`` records the ratio used in each epoch.
    """

    def __init__(self, schedule: float | Callable[[int], float] = 1.0):
        if not callable(schedule):
            check_number("schedule", schedule, minimum=0, maximum=1)  # a teacher-forcing ratio
        self.schedule = schedule
        self.ratio = 1.0
        self.ratios: list[float] = []

    def on_epoch_start(self, epoch: int) -> None:
        """Set the ratio for ``epoch`` (pass as ``fit(on_epoch_start=...)``)."""
        value = self.schedule(epoch) if callable(self.schedule) else self.schedule
        self.ratio = check_number(f"schedule({epoch})", value, minimum=0, maximum=1)
        self.ratios.append(self.ratio)

    def batch_loss(self, model: Seq2Seq, batch: Any) -> torch.Tensor:
        """Masked cross-entropy of a ``(src, src_lengths, tgt_in, tgt_out, tgt_lengths)`` batch
        (``fit(batch_loss=...)``)."""
        return seq2seq_loss(model, batch, teacher_forcing=self.ratio if model.training else 1.0)


def exposure_bias(model: Seq2Seq, loader: Iterable[Any], *, max_len: int) -> dict[str, Any]:
    """Accuracy with true prefixes against accuracy running free (greedy, until ``<eos>``), on
    ``loader``'s batches.

    Returns ``teacher_forced`` and ``free_running`` (token accuracy over the target's real
    positions, ``<eos>`` included), ``exact`` (share of outputs right to the last token and stopping
    in the right place), ``right_length`` (share of outputs that end with ``<eos>`` after as many
    words as the target has, right or wrong), ``ended`` (share that produced ``<eos>`` within
    ``max_len``), ``wer`` (running free: the word error rate, `edit_distance` between output and
    target words summed over outputs and divided by the target words, ``<eos>`` left out),
    ``output_lengths`` (each output's length, ``<eos>`` included) and ``by_position``:
    per output position, ``(teacher_forced, free_running)`` accuracy; running free, early mistakes
    compound, so accuracy falls with position.
    """
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"model must be an rnnlab Seq2Seq, got {type(model).__name__}")
    tf_right: list[torch.Tensor] = []
    free_right: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    right_length: list[torch.Tensor] = []
    ended: list[torch.Tensor] = []
    edits, words = 0, 0
    out_lengths: list[torch.Tensor] = []
    with eval_mode(model), torch.no_grad():
        for batch in loader:
            src, src_lengths, tgt_in, tgt_out, tgt_lengths = batch
            device = next(model.parameters()).device
            src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
            steps = torch.arange(tgt_out.shape[1], device=device)
            mask = steps < tgt_lengths.to(device).unsqueeze(1)  # (T,) < (B, 1) -> (B, T)
            tf_right.append((model(src, src_lengths, tgt_in).argmax(-1) == tgt_out) & mask)
            tokens, lengths = model.greedy(src, src_lengths, max_len=max_len)
            last = (lengths - 1).clamp(min=0).unsqueeze(1)  # (B, 1)
            stopped = tokens.gather(1, last).squeeze(1) == EOS  # (B,)
            right_length.append((stopped & (lengths == tgt_lengths.to(device))).cpu())
            ended.append(stopped.cpu())
            out_lengths.append(lengths.cpu())
            for row, target, n in zip(
                tokens.tolist(), tgt_out.tolist(), tgt_lengths.tolist(), strict=True
            ):
                output = [t for t in row if t != EOS and t != PAD]
                edits += edit_distance(output, target[: n - 1])  # the target without its <eos>
                words += n - 1
            width = tgt_out.shape[1]
            tokens = torch.nn.functional.pad(
                tokens[:, :width], (0, max(0, width - tokens.shape[1])), value=-1
            )
            free_right.append((tokens == tgt_out) & mask)
            masks.append(mask)
    if not masks:
        raise ValueError("loader yielded no batches")
    width = max(m.shape[1] for m in masks)
    tf, free, mask = (
        torch.cat([torch.nn.functional.pad(t, (0, width - t.shape[1])) for t in ts]).cpu()
        for ts in (tf_right, free_right, masks)
    )
    counts = mask.sum(0).clamp(min=1)
    return {
        "teacher_forced": float(tf.sum() / mask.sum()),
        "free_running": float(free.sum() / mask.sum()),
        "exact": float((free | ~mask).all(1).float().mean()),
        "right_length": float(torch.cat(right_length).float().mean()),
        "wer": edits / max(1, words),
        "ended": float(torch.cat(ended).float().mean()),
        "output_lengths": torch.cat(out_lengths).tolist(),
        "by_position": list(
            zip((tf.sum(0) / counts).tolist(), (free.sum(0) / counts).tolist(), strict=True)
        ),
    }
