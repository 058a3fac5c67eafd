"""Measurements behind chapters 4–6; each module ``NAME`` here is ``python -m rnnlab bench NAME``.

A bench module exposes ``main(argv) -> int`` (accepting ``--json``) and a function the notebook
calls.
"""
