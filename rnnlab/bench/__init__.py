"""Measurements behind chapters 2 and 4–6; each module named in `BENCHES` is ``python -m rnnlab
bench NAME``.

A bench module exposes ``main(argv) -> int`` (accepting ``--json``) and a function the notebook
calls. `batch_parser` holds the options of the benches that time a sample of an epoch's batches.
The other modules hold what the benches share: ``measure`` (time, work and peak memory of a
training step), ``memory`` (chapter 4's memory strategies) and ``truncation`` (what truncated BPTT
costs a forecaster).
"""

from __future__ import annotations

import argparse

from ..config import budget

BENCHES = ("ddp", "packing", "padding", "unroll")


def batch_parser(
    name: str, description: str, *, sequences: int, quick_sequences: int
) -> argparse.ArgumentParser:
    """The command line of a bench that times batches: ``--json``, ``--sequences`` (by default
    ``sequences``, ``quick_sequences`` in quick mode), ``--batch-size``, ``--timed-batches``,
    ``--device``."""
    parser = argparse.ArgumentParser(prog=f"python -m rnnlab bench {name}", description=description)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    parser.add_argument(
        "--sequences", type=int, default=budget(full=sequences, quick=quick_sequences)
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--timed-batches", type=int, default=budget(full=12, quick=3))
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 … (default: pick_device())"
    )
    return parser
