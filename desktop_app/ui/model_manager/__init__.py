"""The Model manager window: the curated catalog, installed models, "Add from Hugging Face",
import, and downloads."""

from .dialog import ModelManagerDialog

__all__ = ["ModelManagerDialog"]
