"""IDQN's gradient step for a plain ReLU MLP on the CPU, written out: torch's matrix products, NumPy's elementwise.

Why: at batch 256 and 64x64 hidden units a double-DQN step has about 0.3 ms of arithmetic, and through
autograd it took 2.1-2.5 ms on one core of the machine in ``docs/benchmarks.md`` (1.55 ms this way): each of
its ~40 small operations pays torch's dispatch (5-20 us there), and autograd builds and walks a graph. An MLP's
backward pass is a few matrix products, so this step runs them, and the forward passes, with
``torch.addmm``/``torch.mm`` (the same BLAS and thread setting as the autograd step), the ReLUs, their gradients
and the bias sums with torch's own kernels, and everything else (targets, masks, the loss gradient, clipping,
Adam, Polyak) in NumPy on arrays that share memory with the torch parameters, gradients and Adam moments
(``Tensor.numpy()`` views: nothing is copied back). The online network scores the batch and the next
observations in one forward; only the batch's rows go backward.

Every array a step needs (the sampled rows, each layer's activations and gradients, the optimizer's temporaries)
is allocated once per batch size and reused: ``sample_step`` gathers the batch straight into them from the
replay buffer, so a step allocates almost nothing. The loss gradient has one nonzero entry per row (the taken
action's), so the output layer's input gradient is that entry times the action's weight row (a gather: the
matrix product's only nonzero term, the same float).

Same maths as ``IDQN.update_autograd`` (double DQN, masked argmax, Huber loss with beta 1, clipping by the total
2-norm, Adam as ``agents.learners.optim.Adam``, Polyak averaging), equal to float rounding: the summation order
of a gradient or a norm may differ. ``tests/test_learn_step.py`` compares the two over many steps, and this step
with the one before its buffers were reused, bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agents.learners.optim import Adam

_threshold_backward = torch.ops.aten.threshold_backward.grad_input
"""ReLU's gradient (autograd's own kernel) written into a given tensor."""


def supports(net: nn.Module, device: str | torch.device) -> bool:
    """True for an ``nn.Sequential`` of ``Linear`` layers with ReLU between them, on the CPU."""
    if torch.device(device).type != "cpu" or not isinstance(net, nn.Sequential) or len(net) % 2 != 1:
        return False
    return all(type(m) is (nn.Linear if i % 2 == 0 else nn.ReLU) for i, m in enumerate(net)) and \
        all(m.bias is not None for m in net[::2])


class _Buffers:
    """The arrays of one batch size ``n``: inputs (the batch's rows, then the next observations), activations,
    gradients and the optimizer's temporaries."""

    def __init__(self, n: int, in_dim: int, widths: list[int], n_params: int, double_q: bool):
        rows = 2 * n if double_q else n
        self.x = torch.empty(2 * n, in_dim)  # [obs; next_obs]
        self.x_np = self.x.numpy()
        self.online = [torch.empty(rows, w) for w in widths]  # each layer's output (ReLU applied in place)
        self.target = [torch.empty(n, w) for w in widths]
        self.grads = [torch.empty(n, w) for w in widths[:-1]]  # gradient at each hidden layer's output
        self.out_grad = np.zeros((n, widths[-1]), np.float32)
        self.out_grad_t = torch.from_numpy(self.out_grad)
        self.rows = np.arange(n)
        self.flat_rows = self.rows * widths[-1]  # row offsets into a flattened [n, A] output
        self.tmp = np.empty(n_params, np.float32)
        self.tmp2 = np.empty(n_params, np.float32)


class MLPQStep:
    """One double-DQN gradient step on ``q`` (online), ``target`` and the flat ``Adam``; see the module docstring."""

    def __init__(self, q: nn.Sequential, target: nn.Sequential, optim: Adam, target_flat: torch.Tensor):
        self.q_layers = [m for m in q if isinstance(m, nn.Linear)]
        self.target_layers = [m for m in target if isinstance(m, nn.Linear)]
        # (bias, weight^T) of every layer and the weights, detached once: the parameters are views of the flat
        # buffers, updated in place, so these views always read the current values
        self.q_affine = affine(self.q_layers)
        self.target_affine = affine(self.target_layers)
        self.q_weights = [m.weight.detach() for m in self.q_layers]
        # NumPy views of the optimizer's flat buffers and the target's (they are updated in place, never replaced)
        self.np_grad, self.np_data = optim.grad.numpy(), optim.data.numpy()
        self.np_exp_avg, self.np_exp_avg_sq = optim.exp_avg.numpy(), optim.exp_avg_sq.numpy()
        self.np_target = target_flat.numpy()
        self.optim = optim
        self.target_flat = target_flat
        # the gradient views, in the parameters' order (weight, bias per layer), of the optimizer's flat buffer
        grads = optim.views(optim.grad)
        self.grad_w = grads[0::2]
        self.grad_b = grads[1::2]
        self._buffers: dict[tuple[int, bool], _Buffers] = {}

    def _buffers_for(self, n: int, double_q: bool) -> _Buffers:
        key = (n, double_q)
        if key not in self._buffers:
            self._buffers[key] = _Buffers(n, self.q_layers[0].in_features, [m.out_features for m in self.q_layers],
                                          self.optim.data.numel(), double_q)
        return self._buffers[key]

    @torch.no_grad()
    def sample_step(self, buffer: Any, rng: np.random.Generator, hp: Any) -> float:
        """One step on ``hp.batch_size`` transitions drawn from ``buffer`` (a ``replay.ReplayBuffer``) as its
        ``sample`` draws them (the same indices from ``rng``), gathered into this step's arrays; returns the loss."""
        n = hp.batch_size
        bufs = self._buffers_for(n, hp.double_q)
        idx = rng.integers(0, buffer.size, size=n)
        np.take(buffer.obs, idx, axis=0, out=bufs.x_np[:n], mode="clip")  # indices are in range: no check
        np.take(buffer.next_obs, idx, axis=0, out=bufs.x_np[n:], mode="clip")
        return self._step(bufs, buffer.actions.take(idx), buffer.rewards.take(idx),
                          buffer.next_mask.take(idx, axis=0), buffer.discount.take(idx), hp)

    @torch.no_grad()
    def step(self, batch: Any, hp: Any) -> float:
        """One step on ``batch`` (a ``replay.Batch``) with IDQN hyperparameters ``hp``; returns the loss."""
        n = len(batch.actions)
        bufs = self._buffers_for(n, hp.double_q)
        bufs.x_np[:n] = batch.obs
        bufs.x_np[n:] = batch.next_obs
        return self._step(bufs, batch.actions, batch.rewards, batch.next_mask, batch.discount, hp)

    def _step(self, bufs: _Buffers, actions: np.ndarray, rewards: np.ndarray, next_mask: np.ndarray,
              discount: np.ndarray, hp: Any) -> float:
        n = len(actions)
        out = _forward(self.q_affine, bufs.x if hp.double_q else bufs.x[:n], bufs.online)
        target_q = _forward(self.target_affine, bufs.x[n:], bufs.target)
        q_all = out[:n]
        if hp.double_q:
            chooser = out[n:]  # not read again: masked in place
            if hp.mask_actions:
                np.copyto(chooser, -np.inf, where=~next_mask)
        else:
            chooser = np.where(next_mask, target_q, -np.inf) if hp.mask_actions else target_q
        best = chooser.argmax(axis=1)
        y = rewards * hp.reward_scale + discount * target_q.ravel().take(bufs.flat_rows + best)
        taken = bufs.flat_rows + actions
        diff = q_all.ravel().take(taken) - y
        loss = np.abs(diff)
        # the mean as ``ndarray.mean(dtype=np.float32)`` computes it (its sum, then divided by n), and ``np.clip`` as
        # its two ufuncs: the same floats without the wrappers' Python
        loss = np.add.reduce(np.where(loss < 1.0, 0.5 * diff * diff, loss - 0.5), dtype=np.float32) / np.float32(n)
        grad_taken = np.minimum(np.maximum(diff, -1.0), 1.0) / np.float32(n)  # d mean(Huber) / dq, taken actions
        bufs.out_grad.fill(0.0)
        bufs.out_grad.ravel()[taken] = grad_taken
        self._backward(bufs, n, torch.from_numpy(actions), torch.from_numpy(grad_taken))
        self._clip(hp.max_grad_norm, bufs)
        self._adam(bufs)
        flat = self.np_target
        flat *= np.float32(1.0 - hp.tau)
        flat += np.multiply(np.float32(hp.tau), self.np_data, out=bufs.tmp)
        return float(loss)

    def _backward(self, bufs: _Buffers, n: int, actions: torch.Tensor, grad_taken: torch.Tensor) -> None:
        """Weight and bias gradients of every layer into the optimizer's flat gradient buffer."""
        last = len(self.q_layers) - 1
        g = bufs.out_grad_t
        for i in range(last, -1, -1):
            layer_in = bufs.x[:n] if i == 0 else bufs.online[i - 1][:n]
            torch.mm(g.t(), layer_in, out=self.grad_w[i])
            torch.sum(g, dim=0, out=self.grad_b[i])
            if i == 0:
                break
            g_in = bufs.grads[i - 1]
            if i == last:  # one nonzero per row of g: the taken action's weight row times its gradient
                torch.index_select(self.q_weights[i], 0, actions, out=g_in)
                g_in.mul_(grad_taken[:, None])
            else:
                torch.mm(g, self.q_weights[i], out=g_in)
            # ReLU: no gradient where its output was 0 (autograd's own ReLU backward)
            g = _threshold_backward(g_in, layer_in, 0.0, grad_input=g_in)

    def _clip(self, max_norm: float, bufs: _Buffers) -> None:
        """Scale the gradients to a total 2-norm of at most ``max_norm`` (``torch.nn.utils.clip_grad_norm_``)."""
        flat = self.np_grad
        total = float(np.sqrt(np.square(flat, out=bufs.tmp).sum(dtype=np.float64)))  # no BLAS call: no BLAS threads
        coef = max_norm / (total + 1e-6)
        if coef < 1.0:
            flat *= np.float32(coef)

    def _adam(self, bufs: _Buffers) -> None:
        """``Adam.step``'s operations, in its order, on NumPy views of its buffers (temporaries reused)."""
        opt = self.optim
        group = opt.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        opt.steps += 1
        step = float(opt.steps)
        grad, m, v, data = self.np_grad, self.np_exp_avg, self.np_exp_avg_sq, self.np_data
        t, t2 = bufs.tmp, bufs.tmp2
        m += np.multiply(np.float32(1 - beta1), np.subtract(grad, m, out=t), out=t)  # lerp, weight < 0.5
        v *= np.float32(beta2)
        np.multiply(np.float32(1 - beta2), grad, out=t)
        v += np.multiply(t, grad, out=t)
        denom = np.divide(np.sqrt(v, out=t2), np.float32((1 - beta2**step) ** 0.5), out=t2)
        denom += np.float32(eps)
        data += np.multiply(np.float32(-lr / (1 - beta1**step)), np.divide(m, denom, out=t), out=t)


def affine(layers: list[nn.Linear]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(bias, weight.t())`` of each layer, detached views of its parameters (no copy: they follow in-place updates
    of the parameters, not a parameter replaced by another tensor)."""
    return [(m.bias.detach(), m.weight.detach().t()) for m in layers]


def _forward(layers: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, outs: list[torch.Tensor]) -> np.ndarray:
    """Output [B, A] (NumPy) of the MLP given as ``affine(layers)`` on ``x``, every layer's output written into
    ``outs`` (the hidden ones after their ReLU, in place)."""
    h = x
    last = len(layers) - 1
    for i, (bias, weight_t) in enumerate(layers):
        h = torch.addmm(bias, h, weight_t, out=outs[i])
        if i < last:
            torch.relu_(h)
    return h.numpy()


def q_values(layers: list[tuple[torch.Tensor, torch.Tensor]], obs: np.ndarray) -> np.ndarray:
    """The MLP's output [N, A] (float32 NumPy) on ``obs`` [N, D]: the calls ``nn.Linear`` and ``torch.relu`` make
    (``F.linear`` of a matrix with a bias is ``torch.addmm``), so the same floats, without a module call per layer
    or a graph (the views are detached)."""
    h = torch.as_tensor(obs, dtype=torch.float32)
    last = len(layers) - 1
    for i, (bias, weight_t) in enumerate(layers):
        h = torch.addmm(bias, h, weight_t)
        if i < last:
            torch.relu_(h)
    return h.numpy()
