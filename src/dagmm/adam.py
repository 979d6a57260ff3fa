"""Adam for the training loop: torch's kernel and numbers, without ``torch.optim``.

``torch.optim.Optimizer.__init__`` imports ``torch._dynamo`` on first use (some
1.3-1.6 s per process on the 2-core VMs of ``docs/performance.md``, longer than
a small fit), and ``Optimizer.step`` spends about 300 microseconds per call
grouping tensors around a kernel that takes 50. This optimizer keeps what the
training loop uses: one parameter group, the fused Adam kernel where torch has
it for the parameters' device and dtype (else the single-tensor formula of
``torch.optim.Adam``), and a ``state_dict`` in ``torch.optim.Adam``'s layout, so
checkpoints written before and after this module are interchangeable. Updates
equal ``torch.optim.Adam(fused=True)``'s bit for bit where the fused kernel
runs (``tests/test_adam.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["Adam"]

_STATE_KEYS = ("step", "exp_avg", "exp_avg_sq")


def _fused_kernel_applies(params: list[Tensor]) -> bool:
    fused = getattr(torch, "_fused_adam_", None)
    if fused is None or not params:
        return False
    device = params[0].device
    return (
        device.type in ("cpu", "cuda")
        and _has_kernel("aten::_fused_adam_", device.type)
        and all(p.device == device and p.dtype in (torch.float32, torch.float64) for p in params)
    )


def _has_kernel(operator: str, device_type: str) -> bool:
    """Whether torch has ``operator`` for ``device_type`` (torch 2.2 and 2.3 have fused Adam
    for CUDA only; calling it on the CPU raises NotImplementedError)."""
    has_kernel = getattr(torch._C, "_dispatch_has_kernel_for_dispatch_key", None)
    return has_kernel is None or bool(has_kernel(operator, device_type.upper()))


class Adam:
    """Adam (Kingma and Ba, 2015) with L2 weight decay, one parameter group.

    Parameters
    ----------
    params : iterable of Tensor
        Leaf tensors with ``requires_grad``.
    lr : float
    betas : (float, float)
    eps : float
    weight_decay : float
        Added to the gradient as ``weight_decay * param`` (``torch.optim.Adam``'s
        default, not AdamW's decoupled decay).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        if not math.isfinite(lr) or lr < 0.0:
            raise ValueError(f"learning rate must be finite and >= 0, got {lr}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if not eps >= 0.0 or not weight_decay >= 0.0:
            raise ValueError(f"eps and weight_decay must be >= 0, got {eps} and {weight_decay}")
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.fused = _fused_kernel_applies(self.params)
        # created at the first step, as torch.optim.Adam does (a state_dict
        # before it has no per-parameter state)
        self.steps: list[Tensor] = []
        self._step_counts: Tensor | None = None
        self.exp_avgs: list[Tensor] = []
        self.exp_avg_sqs: list[Tensor] = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero) every parameter's gradient."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _init_state(self) -> None:
        # The fused kernel keeps its step counters on the parameters' device, one
        # per parameter; as views of one tensor, stepping all of them is one addition.
        devices = {p.device if self.fused else torch.device("cpu") for p in self.params}
        if len(devices) == 1:
            self._step_counts = torch.zeros(
                len(self.params), dtype=torch.float32, device=devices.pop()
            )
            self.steps = list(self._step_counts.unbind(0))
        else:
            self._step_counts = None
            self.steps = [
                torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params
            ]
        self.exp_avgs = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        self.exp_avg_sqs = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a ``.grad`` (the others, and their state, stay)."""
        if not self.steps:
            self._init_state()
        active = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not active:
            return
        if len(active) == len(self.params):
            params, steps = self.params, self.steps
            exp_avgs, exp_avg_sqs = self.exp_avgs, self.exp_avg_sqs
        else:  # as torch.optim.Adam: a parameter without a gradient is skipped
            params, steps = [self.params[i] for i in active], [self.steps[i] for i in active]
            exp_avgs = [self.exp_avgs[i] for i in active]
            exp_avg_sqs = [self.exp_avg_sqs[i] for i in active]
        grads = [p.grad for p in params if p.grad is not None]  # all of them: see `active`
        beta1, beta2 = self.betas
        if self.fused:
            if self._step_counts is not None and len(active) == len(self.params):
                self._step_counts.add_(1)
            else:
                torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=self.lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=self.weight_decay,
                eps=self.eps,
                maximize=False,
            )
            return
        for param, grad, exp_avg, exp_avg_sq, step in zip(
            params, grads, exp_avgs, exp_avg_sqs, steps, strict=True
        ):
            step += 1
            if self.weight_decay:
                grad = grad.add(param, alpha=self.weight_decay)
            exp_avg.lerp_(grad, 1.0 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad.conj(), value=1.0 - beta2)
            count = float(step)
            bias_correction1 = 1.0 - beta1**count
            bias_correction2_sqrt = math.sqrt(1.0 - beta2**count)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-self.lr / bias_correction1)

    def state_dict(self) -> dict[str, Any]:
        """The state in ``torch.optim.Adam``'s layout (live tensors, not copies)."""
        state = {
            i: {"step": s, "exp_avg": m, "exp_avg_sq": v}
            for i, (s, m, v) in enumerate(
                zip(self.steps, self.exp_avgs, self.exp_avg_sqs, strict=True)
            )
        }
        group = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "amsgrad": False,
            "maximize": False,
            "foreach": None,
            "capturable": False,
            "differentiable": False,
            "fused": self.fused or None,
            "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` or ``torch.optim.Adam.state_dict()`` output.

        The hyperparameters stay this optimizer's; the per-parameter state is
        copied. An empty state means: not stepped yet; a parameter without an
        entry (never stepped, as ``torch.optim.Adam`` leaves it) starts afresh.
        """
        state = state_dict["state"]
        if not state:
            self.steps, self.exp_avgs, self.exp_avg_sqs = [], [], []
            self._step_counts = None
            return
        unknown = sorted(set(state) - set(range(len(self.params))))
        if unknown:
            raise ValueError(
                f"optimizer state has entries {unknown} beyond the {len(self.params)} parameters"
            )
        for i, entry in state.items():
            if set(entry) != set(_STATE_KEYS):
                raise ValueError(f"optimizer state {i} has keys {sorted(entry)}, not {_STATE_KEYS}")
            for key in _STATE_KEYS[1:]:
                if tuple(entry[key].shape) != tuple(self.params[i].shape):
                    raise ValueError(
                        f"optimizer state {i}.{key} has shape {tuple(entry[key].shape)}, "
                        f"the parameter {tuple(self.params[i].shape)}"
                    )
        self._init_state()
        for i, entry in state.items():
            self.steps[i].copy_(torch.as_tensor(entry["step"]))
            self.exp_avgs[i].copy_(entry["exp_avg"])
            self.exp_avg_sqs[i].copy_(entry["exp_avg_sq"])
