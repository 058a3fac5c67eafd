"""The course's architectures, one module per idea."""
