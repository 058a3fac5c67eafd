"""rnnlab: the helper package of a hands-on course on recurrent neural networks in PyTorch.

The notebooks in ``chapters/`` show and explain; this package computes. The names most chapters
need are re-exported here.
"""

from .cache import train_cached
from .config import budget, claims, expect, is_quick, pick_device, seed_everything
from .modes import eval_mode
from .train import History, fit, load_checkpoint, save_checkpoint

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
