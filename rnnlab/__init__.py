"""rnnlab: the helper package of a hands-on course on recurrent neural networks in PyTorch.

The notebooks in ``chapters/`` show and explain; this package computes. The names most chapters
need are re-exported here.

One vocabulary, in every model, chapter and test:

- ``embed``: the embedding layer (token ids → vectors); ``embed_dim`` its width.
- ``rnn``: the recurrent module itself (an ``nn.GRU``, ``nn.LSTM`` or ``nn.RNN``);
  ``hidden_size`` its width. A model built around another model names that part by what it is
  (``frame_rnn``, ``encoder``).
- ``dropout``: the dropout layer (``word_dropout`` drops whole words).
- ``head``: the output layer that turns states into scores.
- ``lengths``: the real length of each row of a padded batch (a CPU ``LongTensor``, shape ``(B,)``);
  ``src_lengths`` and ``tgt_lengths`` for the source and target of an encoder–decoder.
- The three decoders of chapter 2: ``Decoder(feed_context=False)`` reads the encoder's summary as
  its first state only ("first state only"); ``Decoder(feed_context=True)`` also reads it at every
  step (Cho et al., 2014: "context at every step"); ``AttentionDecoder`` reads a new weighted
  summary of the source at every step ("attention").
"""

from .cache import train_cached
from .checkpoint import load_checkpoint, save_checkpoint
from .claims import claims, expect
from .config import budget, is_quick, pick_device, seed_everything
from .history import History
from .modes import eval_mode
from .train import fit

__version__ = "0.1.0"

__all__ = [
    "History",
    "budget",
    "claims",
    "eval_mode",
    "expect",
    "fit",
    "is_quick",
    "load_checkpoint",
    "pick_device",
    "save_checkpoint",
    "seed_everything",
    "train_cached",
]
