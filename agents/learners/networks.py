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
_IN_PLACE = {nn.ReLU: torch.relu_, nn.Tanh: torch.tanh_}
"""The same functions in place: used without autograd, on a linear layer's fresh output (no allocation)."""


class MLP(nn.Sequential):
    """``nn.Sequential`` of ``Linear`` and activation layers whose forward calls the layers' functions directly.

    The same operations as ``nn.Sequential.forward`` (``F.linear``, ``torch.relu``/``torch.tanh``), without a module
    call per layer (hooks on the inner layers are not run); parameters and ``state_dict`` keys are
    ``nn.Sequential``'s, so checkpoints are unchanged and ``net[i].weight`` reaches layer i's weights."""

    sequential_maths = True
    """Its forward computes what ``nn.Sequential.forward`` does (``agents.common.export`` reads it as one)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activations = _ACTIVATIONS if torch.is_grad_enabled() else _IN_PLACE
        fresh = False  # x is a linear layer's own output (safe to overwrite)
        for layer in self:
            kind = type(layer)
            if kind is nn.Linear:
                x = F.linear(x, layer.weight, layer.bias)
                fresh = True
                continue
            if kind in _ACTIVATIONS:
                x = (activations if fresh else _ACTIVATIONS)[kind](x)
            else:
                x = layer(x)
            fresh = False
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


FORWARD_BLOCK_ROWS = 2048
"""Rows per block of ``forward_rows``: a block's activations stay in the cache (128 units x 2048 rows = 1 MiB)."""


def forward_rows(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``net(x)`` for a plain MLP in nearly equal blocks of at most ``FORWARD_BLOCK_ROWS`` rows when ``x`` has more
    than twice that many, else one call.

    Why: a round's forward for every agent at N = 100,000 has [N, 128] activations of 51 MB, far outside the
    cache, and the call costs 2-3x per row what a block does. The result is the one-call result bit for bit
    (``tests/test_eval_batched.py``): each row of a linear layer is its own dot products, and the blocks are large
    enough for the BLAS to take the same kernel. Networks with a reduction across a row (the dueling head's
    mean) can round differently in blocks, so they always get one call.
    """
    n = len(x)
    if n <= 2 * FORWARD_BLOCK_ROWS or not getattr(net, "sequential_maths", False):
        return net(x)
    return torch.cat([net(part) for part in torch.tensor_split(x, -(-n // FORWARD_BLOCK_ROWS))])


def as_tensor(x: np.ndarray, device: str | torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)
