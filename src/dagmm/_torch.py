"""What dagmm uses of torch that moved between the releases it supports (``torch>=2.2``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Whether ``torch.compile`` is tracing the caller. ``torch.compiler.is_compiling``
#: appeared in torch 2.4; before it, ``torch._utils.is_compiling`` is the function
#: that TorchDynamo reads as True while tracing (``torch._dynamo``'s own would import
#: the whole compiler stack on first use).
is_compiling: Callable[[], bool] = (
    getattr(torch.compiler, "is_compiling", None) or torch._utils.is_compiling
)
