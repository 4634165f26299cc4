"""Distributed training (placeholder: the torch backend's `torch_ddp` only)."""

from keras_trt.distribute import torch_ddp

__all__ = ["torch_ddp", "is_chief"]


def is_chief():
    """Whether this process writes files and logs (rank 0, or not distributed)."""
    return torch_ddp.rank() == 0
