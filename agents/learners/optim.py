"""Adam, gradient clipping and Polyak averaging for our small torch learners, with few calls per step.

Why not ``torch.optim.Adam``: on CPU it runs its single-tensor loop (a dozen Python-dispatched ops per
parameter tensor), and its ``step``, ``zero_grad`` and ``add_param_group`` import ``torch._dynamo`` (about 1.5 s
on top of ``import torch``, only to mark them as not compilable). Here every update is a handful of
``torch._foreach_*`` calls over all parameters at once, the same operations in the same order as torch's
single-tensor Adam (``torch/optim/adam.py``, ``_single_tensor_adam`` without amsgrad, weight decay or
capturable), so the parameters come out equal. ``state_dict`` has torch's Adam layout (``state`` per parameter
index with ``step``, ``exp_avg``, ``exp_avg_sq``; ``param_groups`` with torch's keys), so checkpoints load with
either optimizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

_GROUP_DEFAULTS = {"weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                   "differentiable": False, "fused": None, "decoupled_weight_decay": False}
"""The other keys of a ``torch.optim.Adam`` parameter group (torch 2.x), written so torch's Adam loads our state."""


class Adam:
    """Adam (Kingma and Ba 2015) over one parameter group: ``step``, ``zero_grad``, ``state_dict`` as torch's.

    ``param_groups[0]["lr"]`` may be changed between steps (learning-rate schedules), as with torch's.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("Adam: no parameters to optimize")
        self.param_groups = [{"lr": float(lr), "betas": (float(betas[0]), float(betas[1])), "eps": float(eps),
                              **_GROUP_DEFAULTS, "params": self.params}]
        self.steps = 0
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self) -> None:
        """Drop the gradients (``set_to_none``, torch's default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on the parameters' ``.grad`` (every parameter must have one)."""
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        grads = [p.grad for p in self.params]
        self.steps += 1
        step = float(self.steps)
        torch._foreach_lerp_(self.exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sqs, beta2)
        torch._foreach_addcmul_(self.exp_avg_sqs, grads, grads, value=1 - beta2)
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = torch._foreach_sqrt(self.exp_avg_sqs)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(self.params, self.exp_avgs, denom, value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        """torch's ``Adam.state_dict`` layout (no state before the first step)."""
        state = {} if self.steps == 0 else {
            i: {"step": torch.tensor(float(self.steps)), "exp_avg": m, "exp_avg_sq": v}
            for i, (m, v) in enumerate(zip(self.exp_avgs, self.exp_avg_sqs))
        }
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {"state": state, "param_groups": [{**group, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict`` (ours or ``torch.optim.Adam``'s); sizes that differ raise ``ValueError``."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"optimizer state has {[len(g['params']) for g in groups]} parameters per group, "
                             f"this model has [{len(self.params)}]")
        if groups[0].get("amsgrad") or groups[0].get("weight_decay"):
            raise ValueError("optimizer state uses amsgrad or weight decay, which this Adam does not")
        state = state_dict["state"]
        steps = {int(float(s["step"])) for s in state.values()}
        if len(steps) > 1 or (state and len(state) != len(self.params)):
            raise ValueError("optimizer state: the parameters have different step counts or some have no state")
        exp_avgs, exp_avg_sqs = [], []
        for i, p in enumerate(self.params):
            entry = state.get(i, state.get(str(i)))
            m = entry["exp_avg"] if entry else torch.zeros_like(p)
            v = entry["exp_avg_sq"] if entry else torch.zeros_like(p)
            if m.shape != p.shape or v.shape != p.shape:
                raise ValueError(f"optimizer state of parameter {i} has shape {tuple(m.shape)}, the parameter "
                                 f"{tuple(p.shape)}")
            exp_avgs.append(m.to(dtype=p.dtype, device=p.device).clone())
            exp_avg_sqs.append(v.to(dtype=p.dtype, device=p.device).clone())
        self.exp_avgs, self.exp_avg_sqs = exp_avgs, exp_avg_sqs
        self.steps = steps.pop() if steps else 0
        group = groups[0]
        self.param_groups[0].update(lr=float(group["lr"]), betas=tuple(float(b) for b in group["betas"]),
                                    eps=float(group["eps"]))


@torch.no_grad()
def clip_grad_norm_(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` (2-norm) in three calls: the same norms and the same scaling."""
    grads = [p.grad for p in params]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


@torch.no_grad()
def polyak_(target: list[torch.Tensor], source: list[torch.Tensor], tau: float) -> None:
    """``target <- (1 - tau) * target + tau * source``, in that order of operations (as the old per-tensor loop)."""
    torch._foreach_mul_(target, 1.0 - tau)
    torch._foreach_add_(target, source, alpha=tau)
