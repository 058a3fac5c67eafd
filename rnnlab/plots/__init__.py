"""Matplotlib figures used by the chapters, one module per chapter topic."""
