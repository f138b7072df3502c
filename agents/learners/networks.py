"""Torch building blocks shared by the custom learners (MLPs, masking)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MASKED_LOGIT = -1e8
"""Logit of a masked action (its probability underflows to exactly 0)."""
MASKED_SCORE = -1e9
"""Preference score a learner reports for a masked action (finite, so shields can sort it)."""


_ACTIVATIONS = {nn.ReLU: torch.relu, nn.Tanh: torch.tanh}


class MLP(nn.Sequential):
    """``nn.Sequential`` of ``Linear`` and activation layers whose forward calls the layers' functions directly.

    The same operations as ``nn.Sequential.forward`` (``F.linear``, ``torch.relu``/``torch.tanh``), without a module
    call per layer (hooks on the inner layers are not run); parameters and ``state_dict`` keys are
    ``nn.Sequential``'s, so checkpoints are unchanged and ``net[i].weight`` reaches layer i's weights."""

    sequential_maths = True
    """Its forward computes what ``nn.Sequential.forward`` does (``agents.common.export`` reads it as one)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            kind = type(layer)
            if kind is nn.Linear:
                x = F.linear(x, layer.weight, layer.bias)
            elif kind in _ACTIVATIONS:
                x = _ACTIVATIONS[kind](x)
            else:
                x = layer(x)
        return x


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU,
        out_gain: float | None = None) -> nn.Sequential:
    """``in_dim -> hidden... -> out_dim``; orthogonal init (gain sqrt 2, last layer ``out_gain``) when given."""
    layers: list[nn.Module] = []
    last = in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), activation()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    net = MLP(*layers)
    if out_gain is not None:
        linears = [m for m in net if isinstance(m, nn.Linear)]
        for i, layer in enumerate(linears):
            nn.init.orthogonal_(layer.weight, gain=out_gain if i == len(linears) - 1 else float(np.sqrt(2)))
            nn.init.zeros_(layer.bias)
    return net


class DuelingQ(nn.Module):
    """Dueling Q-network (Wang et al. 2016): Q = V + A - mean(A), over a shared trunk; [B, D] -> [B, A].

    Separating the state value from the action advantages helps where actions differ by little compared
    with how much the state is worth (here: where one task goes vs. everything else the agent's jobs do).
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], n_actions: int):
        super().__init__()
        self.trunk = mlp(in_dim, hidden[:-1], hidden[-1]) if len(hidden) > 1 else nn.Identity()
        width = hidden[-1] if len(hidden) > 1 else in_dim
        self.value = nn.Sequential(nn.ReLU(), nn.Linear(width, 1)) if len(hidden) > 1 else nn.Linear(width, 1)
        self.advantage = nn.Sequential(nn.ReLU(), nn.Linear(width, n_actions)) if len(hidden) > 1 \
            else nn.Linear(width, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.trunk(obs)
        adv = self.advantage(h)
        return self.value(h) + adv - adv.mean(dim=-1, keepdim=True)


def mask_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``logits`` [B, A] with entries where ``mask`` [B, A] is 0 replaced by ``MASKED_LOGIT``."""
    if mask is None:
        return logits
    return torch.where(mask.bool(), logits, torch.full_like(logits, MASKED_LOGIT))


def as_tensor(x: np.ndarray, device: str | torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)
