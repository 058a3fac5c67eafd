"""The embedded Reber grammar (Hochreiter & Schmidhuber, 1997): strings, a validator and
near-misses.

A Reber string walks a small automaton from ``B`` to ``E`` (``BTSSXXTVVE``, ``BPVVE``, ...). An
embedded Reber string wraps one in ``BT…TE`` or ``BP…PE``: to accept it, a model must remember the
second symbol until the second-to-last one, across the whole inner string. A *near-miss* is one edit
away from a valid embedded string and invalid: either the closing symbol disagrees with the opening
one (the long-range trap) or one inner symbol is replaced so that the automaton cannot follow it.

Everything is drawn from a seed (``random.Random``), so a data set is the same on every machine.
"""

from __future__ import annotations

import random

from ..checks import check_int, check_number, check_positive, check_str

ALPHABET = "BTPSXVE"
# state -> [(symbol, next state)]; state 0 follows the initial B, state 5 can only emit E (-1 =
# done).
_GRAPH: dict[int, list[tuple[str, int]]] = {
    0: [("T", 1), ("P", 2)],
    1: [("S", 1), ("X", 3)],
    2: [("T", 2), ("V", 4)],
    3: [("X", 2), ("S", 5)],
    4: [("P", 3), ("V", 5)],
    5: [("E", -1)],
}


def _check_rng(rng: random.Random) -> random.Random:
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    return rng


def reber_string(rng: random.Random) -> str:
    """One string of the Reber grammar, e.g. ``BTSXSE``: a random walk with fair coin flips."""
    rng = _check_rng(rng)
    out, state = ["B"], 0
    while state != -1:
        symbol, state = rng.choice(_GRAPH[state])
        out.append(symbol)
    return "".join(out)


def embedded_reber_string(rng: random.Random) -> str:
    """One embedded Reber string: ``B`` + ``T`` or ``P`` + a Reber string + the same ``T``/``P`` +
    ``E``."""
    rng = _check_rng(rng)
    wrap = rng.choice("TP")
    return f"B{wrap}{reber_string(rng)}{wrap}E"


def is_reber(s: str) -> bool:
    """True when ``s`` is a string of the Reber grammar."""
    check_str("s", s)
    if len(s) < 2 or s[0] != "B":
        return False
    state = 0
    for symbol in s[1:]:
        following = dict(_GRAPH[state]) if state != -1 else {}
        if symbol not in following:
            return False
        state = following[symbol]
    return state == -1


def is_embedded_reber(s: str) -> bool:
    """True when ``s`` is an embedded Reber string (matching ``T``/``P`` around a Reber string)."""
    check_str("s", s)
    return (
        len(s) >= 9
        and s[0] == "B"
        and s[-1] == "E"
        and s[1] in "TP"
        and s[-2] == s[1]
        and is_reber(s[2:-2])
    )


def near_miss(rng: random.Random) -> str:
    """An invalid string one symbol away from a valid embedded Reber string.

    Half of them swap the closing ``T``/``P`` (only a model that remembers the start can tell); the
    rest replace one symbol of the inner string with another letter that the grammar does not allow
    there.
    """
    rng = _check_rng(rng)
    valid = embedded_reber_string(rng)
    if rng.random() < 0.5:
        return valid[:-2] + ("P" if valid[-2] == "T" else "T") + "E"
    while True:
        # inside the inner string, after its B and before its E
        i = rng.randrange(3, len(valid) - 3)
        candidate = valid[:i] + rng.choice([c for c in "TPSXV" if c != valid[i]]) + valid[i + 1 :]
        if not is_embedded_reber(candidate):
            return candidate


def reber_dataset(n: int, seed: int, valid_fraction: float = 0.5) -> tuple[list[str], list[bool]]:
    """``n`` strings and labels (True = embedded Reber), about ``valid_fraction`` of them valid,
    from ``seed``."""
    check_positive(n=n)
    check_int("seed", seed)
    check_number("valid_fraction", valid_fraction, minimum=0, maximum=1)
    rng = random.Random(seed)
    labels = [rng.random() < valid_fraction for _ in range(n)]
    return [embedded_reber_string(rng) if ok else near_miss(rng) for ok in labels], labels
