"""Scalpel: an offline desktop assistant running small GGUF models locally."""

__version__ = "0.1.0"
