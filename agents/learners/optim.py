"""Adam, gradient clipping and Polyak averaging for our small torch learners, with few calls per step.

Why not ``torch.optim.Adam``: on CPU it runs its single-tensor loop (a dozen Python-dispatched ops per
parameter tensor), and its ``step``, ``zero_grad`` and ``add_param_group`` import ``torch._dynamo`` (about 1.5 s
on top of ``import torch``, only to mark them as not compilable). Here the parameters are views of one buffer
(``flatten_``), so a step is seven elementwise calls over all of them: the same operations in the same order as
torch's single-tensor Adam (``torch/optim/adam.py``, ``_single_tensor_adam`` without amsgrad, weight decay or
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


def flatten_(params: list[torch.nn.Parameter], with_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Re-seat ``params`` as views of one contiguous buffer (and, ``with_grad``, their ``.grad`` as views of another,
    zeroed): elementwise updates then run as one call over all of them. Returns ``(data, grad)``.

    Autograd adds a parameter's gradient into an existing ``.grad`` in place, so the views stay; ``load_state_dict``
    copies into the views, and ``state_dict`` returns them (saved as one storage, loaded as plain tensors)."""
    with torch.no_grad():
        data = torch.cat([p.detach().reshape(-1) for p in params])
        grad = torch.zeros_like(data) if with_grad else None
        offset = 0
        for p in params:
            n = p.numel()
            p.data = data[offset:offset + n].view_as(p)
            if grad is not None:
                p.grad = grad[offset:offset + n].view_as(p)
            offset += n
    return data, grad


class Adam:
    """Adam (Kingma and Ba 2015) over one parameter group: ``step``, ``zero_grad``, ``state_dict`` as torch's.

    The parameters (and their gradients) are views of one buffer (``flatten_``), so a step is seven elementwise
    calls over all of them. ``param_groups[0]["lr"]`` may be changed between steps (schedules), as with torch's.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("Adam: no parameters to optimize")
        self.param_groups = [{"lr": float(lr), "betas": (float(betas[0]), float(betas[1])), "eps": float(eps),
                              **_GROUP_DEFAULTS, "params": self.params}]
        self.data, self.grad = flatten_(self.params)
        self._grads = [p.grad for p in self.params]
        self.steps = 0
        self.exp_avg = torch.zeros_like(self.data)
        self.exp_avg_sq = torch.zeros_like(self.data)

    def zero_grad(self) -> None:
        """Zero the gradients in place (they stay views of the one gradient buffer)."""
        self._regather()
        self.grad.zero_()

    def _regather(self) -> None:
        """Re-attach the gradient views if something replaced a parameter's ``.grad`` (``module.zero_grad()``)."""
        if any(p.grad is not g for p, g in zip(self.params, self._grads)):
            with torch.no_grad():
                for p, g in zip(self.params, self._grads):
                    g.copy_(p.grad) if p.grad is not None else g.zero_()
                    p.grad = g

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on the parameters' gradients."""
        self._regather()
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        self.steps += 1
        step = float(self.steps)
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (self.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        self.data.addcdiv_(self.exp_avg, denom, value=-step_size)

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """``flat`` (one of this optimizer's flat buffers: data, grad, moments) as one view per parameter, in order."""
        out, offset = [], 0
        for p in self.params:
            out.append(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
        return out

    @property
    def exp_avgs(self) -> list[torch.Tensor]:
        """First moments per parameter (views)."""
        return self.views(self.exp_avg)

    def state_dict(self) -> dict[str, Any]:
        """torch's ``Adam.state_dict`` layout (no state before the first step)."""
        state = {} if self.steps == 0 else {
            i: {"step": torch.tensor(float(self.steps)), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
            for i, (m, v) in enumerate(zip(self.views(self.exp_avg), self.views(self.exp_avg_sq)))
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
        moments = []
        for i, p in enumerate(self.params):
            entry = state.get(i, state.get(str(i)))
            m = entry["exp_avg"] if entry else torch.zeros_like(p)
            v = entry["exp_avg_sq"] if entry else torch.zeros_like(p)
            if m.shape != p.shape or v.shape != p.shape:
                raise ValueError(f"optimizer state of parameter {i} has shape {tuple(m.shape)}, the parameter "
                                 f"{tuple(p.shape)}")
            moments.append((m, v))
        with torch.no_grad():
            for (m, v), m_view, v_view in zip(moments, self.views(self.exp_avg), self.views(self.exp_avg_sq)):
                m_view.copy_(m)
                v_view.copy_(v)
        self.steps = steps.pop() if steps else 0
        group = groups[0]
        self.param_groups[0].update(lr=float(group["lr"]), betas=tuple(float(b) for b in group["betas"]),
                                    eps=float(group["eps"]))


@torch.no_grad()
def clip_grad_norm_(params: list[torch.nn.Parameter], max_norm: float, flat_grad: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` (2-norm): the same per-tensor norms and their norm, the same scaling
    (one call over ``flat_grad`` when the gradients are its views, e.g. ``Adam.grad``)."""
    grads = [p.grad for p in params]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    if flat_grad is not None:
        flat_grad.mul_(coef)
    else:
        torch._foreach_mul_(grads, coef)
    return total


@torch.no_grad()
def polyak_(target: torch.Tensor | list[torch.Tensor], source: torch.Tensor | list[torch.Tensor], tau: float) -> None:
    """``target <- (1 - tau) * target + tau * source``, in that order of operations (as the old per-tensor loop);
    one call each when both are flat buffers (``flatten_``), else ``torch._foreach_*`` over the lists."""
    if isinstance(target, torch.Tensor):
        target.mul_(1.0 - tau).add_(source, alpha=tau)
    else:
        torch._foreach_mul_(target, 1.0 - tau)
        torch._foreach_add_(target, source, alpha=tau)
