"""IDQN's gradient step for a plain ReLU MLP on the CPU, written out: torch's matrix products, NumPy's elementwise.

Why: at batch 256 and 64x64 hidden units a double-DQN step has about 0.3 ms of arithmetic, and through
autograd it took 2.1-2.5 ms on one core of the machine in ``docs/benchmarks.md`` (1.55 ms this way): each of
its ~40 small operations pays torch's dispatch (5-20 us there), and autograd builds and walks a graph. An MLP's
backward pass is a few matrix products, so this step runs them, and the forward passes, with
``torch.addmm``/``torch.mm`` (the same BLAS and thread setting as the autograd step), the ReLU gradients and bias
sums with torch's own kernels, and everything else (targets, masks, the loss gradient, clipping, Adam, Polyak) in
NumPy on arrays that share memory with the torch parameters, gradients and Adam moments (``Tensor.numpy()``
views: nothing is copied back). The online network scores the batch and the next observations in one forward;
only the batch's rows go backward.

Same maths as ``IDQN.update_autograd`` (double DQN, masked argmax, Huber loss with beta 1, clipping by the total
2-norm, Adam as ``agents.learners.optim.Adam``, Polyak averaging), equal to float rounding: the summation order
of a gradient or a norm may differ. ``tests/test_learn_step.py`` compares the two over many steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agents.learners.optim import Adam


def supports(net: nn.Module, device: str | torch.device) -> bool:
    """True for an ``nn.Sequential`` of ``Linear`` layers with ReLU between them, on the CPU."""
    if torch.device(device).type != "cpu" or not isinstance(net, nn.Sequential) or len(net) % 2 != 1:
        return False
    return all(type(m) is (nn.Linear if i % 2 == 0 else nn.ReLU) for i, m in enumerate(net)) and \
        all(m.bias is not None for m in net[::2])


class MLPQStep:
    """One double-DQN gradient step on ``q`` (online), ``target`` and the flat ``Adam``; see the module docstring."""

    def __init__(self, q: nn.Sequential, target: nn.Sequential, optim: Adam, target_flat: torch.Tensor):
        self.q_layers = [m for m in q if isinstance(m, nn.Linear)]
        self.target_layers = [m for m in target if isinstance(m, nn.Linear)]
        self.optim = optim
        self.target_flat = target_flat
        # the gradient views, in the parameters' order (weight, bias per layer), of the optimizer's flat buffer
        grads = optim.views(optim.grad)
        self.grad_w = grads[0::2]
        self.grad_b = grads[1::2]

    @torch.no_grad()
    def step(self, batch: Any, hp: Any) -> float:
        """One step on ``batch`` (a ``replay.Batch``) with IDQN hyperparameters ``hp``; returns the loss."""
        n = len(batch.actions)
        rows = np.arange(n)
        obs = np.concatenate((batch.obs, batch.next_obs)) if hp.double_q else batch.obs
        out, inputs = _forward(self.q_layers, torch.from_numpy(obs), keep=n)
        target_q, _ = _forward(self.target_layers, torch.from_numpy(batch.next_obs), keep=0)
        q_all = out[:n]
        chooser = out[n:] if hp.double_q else target_q
        if hp.mask_actions:
            chooser = np.where(batch.next_mask, chooser, -np.inf)
        best = chooser.argmax(axis=1)
        y = batch.rewards * hp.reward_scale + batch.discount * target_q[rows, best]
        diff = q_all[rows, batch.actions] - y
        loss = np.abs(diff)
        loss = np.where(loss < 1.0, 0.5 * diff * diff, loss - 0.5).mean(dtype=np.float32)
        grad = np.zeros_like(q_all)
        grad[rows, batch.actions] = np.clip(diff, -1.0, 1.0) / np.float32(n)  # d mean(Huber) / dq
        self._backward(grad, inputs)
        self._clip(hp.max_grad_norm)
        self._adam()
        flat = self.target_flat.numpy()
        flat *= np.float32(1.0 - hp.tau)
        flat += np.float32(hp.tau) * self.optim.data.numpy()
        return float(loss)

    def _backward(self, grad: np.ndarray, inputs: list[torch.Tensor]) -> None:
        """Weight and bias gradients of every layer into the optimizer's flat gradient buffer."""
        g = torch.from_numpy(grad)
        for i in range(len(self.q_layers) - 1, -1, -1):
            torch.mm(g.t(), inputs[i], out=self.grad_w[i])
            torch.sum(g, dim=0, out=self.grad_b[i])
            if i == 0:
                break
            # ReLU: no gradient where its output was 0 (autograd's own ReLU backward; a boolean-mask assignment in
            # NumPy took 0.3 ms at 256x128)
            g = torch.ops.aten.threshold_backward(torch.mm(g, self.q_layers[i].weight.detach()), inputs[i], 0.0)

    def _clip(self, max_norm: float) -> None:
        """Scale the gradients to a total 2-norm of at most ``max_norm`` (``torch.nn.utils.clip_grad_norm_``)."""
        flat = self.optim.grad.numpy()
        total = float(np.sqrt(np.square(flat).sum(dtype=np.float64)))  # no BLAS call: no BLAS threads
        coef = max_norm / (total + 1e-6)
        if coef < 1.0:
            flat *= np.float32(coef)

    def _adam(self) -> None:
        """``Adam.step``'s operations, in its order, on NumPy views of its buffers."""
        opt = self.optim
        group = opt.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        opt.steps += 1
        step = float(opt.steps)
        grad, m, v, data = opt.grad.numpy(), opt.exp_avg.numpy(), opt.exp_avg_sq.numpy(), opt.data.numpy()
        m += np.float32(1 - beta1) * (grad - m)  # lerp with a weight below 0.5: m + w (g - m)
        v *= np.float32(beta2)
        v += np.float32(1 - beta2) * grad * grad
        denom = np.sqrt(v) / np.float32((1 - beta2**step) ** 0.5)
        denom += np.float32(eps)
        data += np.float32(-lr / (1 - beta1**step)) * (m / denom)


def _forward(layers: list[nn.Linear], x: torch.Tensor, keep: int) -> tuple[np.ndarray, list[torch.Tensor]]:
    """Output [B, A] (NumPy) and, for ``keep`` > 0, every layer's input over the first ``keep`` rows."""
    inputs = []
    h = x
    for i, layer in enumerate(layers):
        if keep:
            inputs.append(h[:keep])
        h = torch.addmm(layer.bias.detach(), h, layer.weight.detach().t())
        if i < len(layers) - 1:
            np.maximum(h.numpy(), 0.0, out=h.numpy())
    return h.numpy(), inputs
