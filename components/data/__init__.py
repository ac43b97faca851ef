"""Dataset components: load a source and split it into train, validation and test."""

from components.data.load_dataset import load_dataset

__all__ = ["load_dataset"]
