"""Dataset components: load a source and split it into train, validation and test."""

import os

__all__ = ["load_dataset"]

# A running component (kfp sets _KFP_RUNTIME=true) has no `dsl.component`, and its body imports
# `components.data.splitting`, which runs this file: only define the component outside runtime.
if os.environ.get("_KFP_RUNTIME", "false") != "true":
    from components.data.load_dataset import load_dataset
