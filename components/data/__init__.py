"""Dataset components: load a source and split it into train, validation and test."""

from vtp.components.data.load_dataset import load_dataset

__all__ = ["load_dataset"]
