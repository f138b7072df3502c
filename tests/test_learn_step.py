"""The cheaper gradient step computes what the old one did, and a run's start-up imports nothing it does not use.

The reference is a copy of IDQN's ``update`` before the change (``torch.optim.Adam``, ``clip_grad_norm_`` over
``parameters()``, a per-parameter Polyak loop); both start from the same networks, buffer and RNG state.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agents.learners.idqn import IDQN, IDQNConfig
from agents.learners.ippo import IPPO, IPPOConfig, Rollout
from agents.learners.networks import as_tensor, mlp
from agents.learners.optim import Adam, clip_grad_norm_

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _old_idqn_update(agent: IDQN, optim: torch.optim.Optimizer) -> float:
    """IDQN.update as it was before the foreach optimizer (reference copy)."""
    hp = agent.hp
    b = agent.buffer.sample(agent.rng, hp.batch_size)
    obs, next_obs = as_tensor(b.obs, agent.device), as_tensor(b.next_obs, agent.device)
    actions = as_tensor(b.actions, agent.device, torch.int64)
    rewards = as_tensor(b.rewards * hp.reward_scale, agent.device)
    discount = as_tensor(b.discount, agent.device)
    with torch.no_grad():
        next_mask = as_tensor(b.next_mask, agent.device, torch.bool)
        target_q = agent.target(next_obs)
        chooser = agent.q(next_obs) if hp.double_q else target_q
        if hp.mask_actions:
            chooser = chooser.masked_fill(~next_mask, -torch.inf)
        best = chooser.argmax(dim=1, keepdim=True)
        y = rewards + discount * target_q.gather(1, best).squeeze(1)
    q = agent.q(obs).gather(1, actions[:, None]).squeeze(1)
    loss = F.smooth_l1_loss(q, y)
    optim.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.q.parameters(), hp.max_grad_norm)
    optim.step()
    with torch.no_grad():
        for p, tp in zip(agent.q.parameters(), agent.target.parameters()):
            tp.mul_(1.0 - hp.tau).add_(p, alpha=hp.tau)
    agent.updates += 1
    return loss.item()


def _filled_idqn(hp: IDQNConfig) -> IDQN:
    agent = IDQN(9, 5, hp, seed=3)
    rng = np.random.default_rng(0)
    n = 400
    agent.buffer.add(rng.normal(size=(n, 9)).astype(np.float32), rng.integers(0, 5, n), 3 * rng.normal(size=n),
                     rng.normal(size=(n, 9)).astype(np.float32), rng.random((n, 5)) > 0.3, 0.7 * (rng.random(n) > 0.1))
    return agent


@pytest.mark.parametrize("overrides", [
    {"hidden": (16, 16)},
    {"hidden": (16,), "dueling": True, "double_q": False, "max_grad_norm": 0.05, "tau": 0.3},
    {"hidden": (8, 8), "mask_actions": False, "reward_scale": 10.0},
])
def test_idqn_update_matches_the_old_step(overrides: dict):
    hp = IDQNConfig(batch_size=64, learning_starts=0, lr=3e-3, **overrides)
    new = _filled_idqn(hp)
    old = copy.deepcopy(new)
    old_optim = torch.optim.Adam(old.q.parameters(), lr=hp.lr)
    for _ in range(6):  # several steps: Adam's moments and bias correction, clipping and Polyak all exercised
        assert new.update() == pytest.approx(_old_idqn_update(old, old_optim), rel=1e-6, abs=1e-7)
    for a, b in zip([*new.q.parameters(), *new.target.parameters()], [*old.q.parameters(), *old.target.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert not all(torch.equal(a, b) for a, b in zip(new.q.parameters(), _filled_idqn(hp).q.parameters()))  # it moved
    state = new.optim.state_dict()  # torch's Adam layout: a torch Adam continues from it with the same moments
    torch_adam = torch.optim.Adam(new.q.parameters(), lr=hp.lr)
    torch_adam.load_state_dict(state)
    for p, m in zip(new.q.parameters(), new.optim.exp_avgs):
        torch.testing.assert_close(torch_adam.state[p]["exp_avg"], m, rtol=0, atol=0)


@pytest.mark.parametrize("overrides", [
    {"hidden": (64, 64)},
    {"hidden": (32,), "double_q": False, "max_grad_norm": 0.05, "tau": 0.3},  # clipping on every step
    {"hidden": (24, 24, 24), "mask_actions": False, "reward_scale": 10.0},
])
def test_the_written_out_step_equals_the_autograd_step(overrides: dict):
    hp = IDQNConfig(batch_size=64, learning_starts=0, lr=3e-3, **overrides)
    fast, slow = _filled_idqn(hp), _filled_idqn(hp)
    assert fast._mlp_step is not None  # a plain ReLU MLP on the CPU takes the written-out step
    for k in range(30):
        if k == 15:  # a schedule changing the learning rate mid-run
            for agent in (fast, slow):
                agent.optim.param_groups[0]["lr"] = 1e-3
        assert fast.update() == pytest.approx(slow.update_autograd(), rel=1e-5, abs=1e-7)
    ours, theirs = [*fast.q.parameters(), *fast.target.parameters()], [*slow.q.parameters(), *slow.target.parameters()]
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.optim.exp_avg_sq, slow.optim.exp_avg_sq, rtol=1e-4, atol=1e-10)
    assert fast.optim.steps == slow.optim.steps == 30 and fast.updates == slow.updates == 30
    assert not torch.equal(fast.q[0].weight, _filled_idqn(hp).q[0].weight)  # it learned something
    assert _filled_idqn(IDQNConfig(hidden=(16,), dueling=True))._mlp_step is None  # the dueling head: autograd


class _AllocatingStep:
    """The written-out step before it reused its arrays (reference copy): a fresh batch from ``ReplayBuffer.sample``,
    fresh activations per layer, NumPy's ReLU, the output layer's input gradient as a matrix product."""

    def __init__(self, q, target, optim: Adam, target_flat: torch.Tensor):
        self.q_layers = [m for m in q if isinstance(m, torch.nn.Linear)]
        self.target_layers = [m for m in target if isinstance(m, torch.nn.Linear)]
        self.optim, self.target_flat = optim, target_flat
        grads = optim.views(optim.grad)
        self.grad_w, self.grad_b = grads[0::2], grads[1::2]

    @staticmethod
    def _forward(layers, x, keep):
        inputs, h = [], x
        for i, layer in enumerate(layers):
            if keep:
                inputs.append(h[:keep])
            h = torch.addmm(layer.bias.detach(), h, layer.weight.detach().t())
            if i < len(layers) - 1:
                np.maximum(h.numpy(), 0.0, out=h.numpy())
        return h.numpy(), inputs

    @torch.no_grad()
    def sample_step(self, buffer, rng, hp) -> float:
        batch = buffer.sample(rng, hp.batch_size)
        n = len(batch.actions)
        rows = np.arange(n)
        obs = np.concatenate((batch.obs, batch.next_obs)) if hp.double_q else batch.obs
        out, inputs = self._forward(self.q_layers, torch.from_numpy(obs), keep=n)
        target_q, _ = self._forward(self.target_layers, torch.from_numpy(batch.next_obs), keep=0)
        chooser = out[n:] if hp.double_q else target_q
        if hp.mask_actions:
            chooser = np.where(batch.next_mask, chooser, -np.inf)
        best = chooser.argmax(axis=1)
        y = batch.rewards * hp.reward_scale + batch.discount * target_q[rows, best]
        diff = out[:n][rows, batch.actions] - y
        loss = np.abs(diff)
        loss = np.where(loss < 1.0, 0.5 * diff * diff, loss - 0.5).mean(dtype=np.float32)
        g = np.zeros_like(out[:n])
        g[rows, batch.actions] = np.clip(diff, -1.0, 1.0) / np.float32(n)
        g = torch.from_numpy(g)
        for i in range(len(self.q_layers) - 1, -1, -1):
            torch.mm(g.t(), inputs[i], out=self.grad_w[i])
            torch.sum(g, dim=0, out=self.grad_b[i])
            if i:
                g = torch.ops.aten.threshold_backward(torch.mm(g, self.q_layers[i].weight.detach()), inputs[i], 0.0)
        flat = self.optim.grad.numpy()
        coef = hp.max_grad_norm / (float(np.sqrt(np.square(flat).sum(dtype=np.float64))) + 1e-6)
        if coef < 1.0:
            flat *= np.float32(coef)
        opt, group = self.optim, self.optim.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        opt.steps += 1
        grad, m, v, data = opt.grad.numpy(), opt.exp_avg.numpy(), opt.exp_avg_sq.numpy(), opt.data.numpy()
        m += np.float32(1 - beta1) * (grad - m)
        v *= np.float32(beta2)
        v += np.float32(1 - beta2) * grad * grad
        denom = np.sqrt(v) / np.float32((1 - beta2**opt.steps) ** 0.5)
        denom += np.float32(eps)
        data += np.float32(-lr / (1 - beta1**opt.steps)) * (m / denom)
        target = self.target_flat.numpy()
        target *= np.float32(1.0 - hp.tau)
        target += np.float32(hp.tau) * data
        return float(loss)


@pytest.mark.parametrize("overrides", [
    {"hidden": (64, 64)},
    {"hidden": (32,), "double_q": False, "max_grad_norm": 0.05, "tau": 0.3},
    {"hidden": (24, 24, 24), "mask_actions": False, "reward_scale": 10.0},
])
def test_the_step_equals_the_allocating_step_bit_for_bit(overrides: dict):
    hp = IDQNConfig(batch_size=64, learning_starts=0, lr=3e-3, **overrides)
    fast, ref = _filled_idqn(hp), _filled_idqn(hp)
    ref._mlp_step = _AllocatingStep(ref.q, ref.target, ref.optim, ref._target_flat)
    assert [fast.update() for _ in range(40)] == [ref.update() for _ in range(40)]
    for a, b in zip([*fast.q.parameters(), *fast.target.parameters(), fast.optim.exp_avg, fast.optim.exp_avg_sq],
                    [*ref.q.parameters(), *ref.target.parameters(), ref.optim.exp_avg, ref.optim.exp_avg_sq]):
        assert torch.equal(a, b)
    assert fast.rng.random() == ref.rng.random()  # the batches were drawn from the same stream


def test_a_shielded_training_equals_the_allocating_step_bit_for_bit(tmp_path: Path, monkeypatch):
    """A whole short training (shielded, n-step returns, episodes ending mid-run): the same losses, weights and
    episodes as with the step before its arrays were reused."""
    from agents.harness.train import train
    from agents.learners import mlp_step

    config = {"scenario": "paper", "n_edges": 6, "horizon": 12}
    hparams = {"learning_starts": 40, "buffer_size": 500, "batch_size": 32, "hidden": [16, 16], "n_step": 3}
    runs = {"fast": train("idqn", "central", config, 60, 5, tmp_path / "fast", "cpu", hparams=hparams, progress=False)}
    monkeypatch.setattr(mlp_step, "MLPQStep", _AllocatingStep)
    runs["ref"] = train("idqn", "central", config, 60, 5, tmp_path / "ref", "cpu", hparams=hparams, progress=False)
    a, b = (torch.load(runs[k] / "checkpoint" / "idqn.pt", weights_only=True) for k in ("fast", "ref"))
    for key in ("q", "target"):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key])
    assert a["optim"]["state"][0]["step"] == b["optim"]["state"][0]["step"] > 20
    assert (runs["fast"] / "episodes.csv").read_text() == (runs["ref"] / "episodes.csv").read_text()


class _TorchAdam(torch.optim.Adam):
    """torch's Adam where IPPO expects ours: no flat gradient buffer, so the clipping scales each gradient."""

    grad = None


def test_ippo_update_matches_torch_adam():
    hp = IPPOConfig(hidden=(16, 16), n_epochs=2, minibatch_size=16, max_grad_norm=0.1)
    new = IPPO(6, 4, hp, seed=1)
    old = copy.deepcopy(new)
    old.optim = _TorchAdam(old.model.parameters(), lr=hp.lr, eps=1e-5)
    rng = np.random.default_rng(2)
    buf = Rollout(8, 5, 6, 4)
    buf.obs[:] = rng.normal(size=buf.obs.shape)
    buf.mask[:] = True
    buf.actions[:] = rng.integers(0, 4, buf.actions.shape)
    buf.logp[:] = np.log(0.25)
    buf.values[:] = rng.normal(size=buf.values.shape)
    buf.rewards[:] = rng.normal(size=buf.rewards.shape)
    last = rng.normal(size=5).astype(np.float32)
    stats_new, stats_old = new.update(buf, last), old.update(buf, last)
    assert stats_new == pytest.approx(stats_old, rel=1e-5, abs=1e-7)
    for a, b in zip(new.model.parameters(), old.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_foreach_adam_and_clipping_equal_torch():
    torch.manual_seed(0)
    ours, theirs = mlp(7, (12, 12), 3), None
    theirs = copy.deepcopy(ours)
    adam, torch_adam = Adam(ours.parameters(), lr=1e-2), torch.optim.Adam(theirs.parameters(), lr=1e-2)
    for _ in range(5):
        x = torch.randn(32, 7)
        for net, opt in ((ours, adam), (theirs, torch_adam)):
            opt.zero_grad()
            (net(x) ** 2).mean().mul(50).backward()
        norm = clip_grad_norm_(list(ours.parameters()), 0.5)
        torch.testing.assert_close(norm, torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5))
        adam.step()
        torch_adam.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same operations in the same order: equal
    again = Adam(ours.parameters(), lr=1.0)
    again.load_state_dict(torch_adam.state_dict())
    assert again.steps == 5 and again.param_groups[0]["lr"] == 1e-2


def test_adam_refuses_a_state_of_another_model():
    adam = Adam(mlp(4, (3,), 2).parameters(), lr=1e-3)
    other = torch.optim.Adam(mlp(4, (3, 3), 2).parameters(), lr=1e-3)
    with pytest.raises(ValueError, match="parameters"):
        adam.load_state_dict(other.state_dict())


def test_a_training_run_does_not_import_dynamo_sb3_or_ray(tmp_path: Path):
    code = (
        "import sys\n"
        "from agents.harness.train import train\n"
        f"train('idqn', 'central', {{'scenario': 'small', 'horizon': 10}}, 8, 0, {str(tmp_path / 'r')!r}, 'cpu',\n"
        "      hparams={'learning_starts': 50, 'batch_size': 8, 'hidden': [8]}, progress=False)\n"
        "print(sorted(m for m in ('torch._dynamo', 'stable_baselines3', 'ray', 'optuna') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_a_loaded_head_policy_exposes_its_torch_q_network(tmp_path: Path):
    # the array head exports these weights: a loaded crl_idqn policy's ``net`` is the torch Q-network (an
    # nn.Sequential of Linear/ReLU layers), whose outputs are the policy's preferences where the mask allows
    from agents.harness.policies import load_policy
    from agents.harness.train import train

    run = train("crl_idqn", "none", {"scenario": "small", "horizon": 10}, 12, 0, tmp_path / "crl", "cpu",
                hparams={"learning_starts": 20, "batch_size": 8, "hidden": [8, 8]}, progress=False)
    policy, _ = load_policy(run)
    assert isinstance(policy.net, torch.nn.Sequential) and not policy.net.training
    linears = [m for m in policy.net if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears][1:] == [(8, 8), (linears[-1].out_features, 8)]
    obs = np.random.default_rng(0).normal(size=(3, linears[0].in_features)).astype(np.float32)
    mask = np.ones((3, linears[-1].out_features))
    with torch.no_grad():
        q = policy.net(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(policy.preferences(obs, mask), q, rtol=1e-6)


def test_the_q_policy_scores_as_its_module_bit_for_bit():
    """The greedy policy's written-out forward gives the module's floats, follows in-place updates and a replaced
    parameter, and leaves other networks (the dueling head) to the module."""
    from agents.learners.idqn import QNetPolicy
    from agents.learners.networks import MASKED_SCORE, DuelingQ

    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(20, 9)).astype(np.float32)
    mask = rng.random((20, 5)) > 0.3

    def module_scores(net):
        with torch.no_grad():
            q = net(torch.from_numpy(obs)).numpy().astype(np.float64)
        return np.where(mask, q, MASKED_SCORE)

    net = mlp(9, (32, 32), 5)
    policy = QNetPolicy(net, True, "cpu")
    first = policy.preferences(obs, mask)
    assert first.dtype == np.float64 and np.array_equal(first, module_scores(net))
    assert policy._affine is not None  # the written-out path was taken
    with torch.no_grad():
        net[2].weight.mul_(1.5)  # in place
    assert np.array_equal(policy.preferences(obs, mask), module_scores(net))
    assert not np.array_equal(policy.preferences(obs, mask), first)
    net[0].weight = torch.nn.Parameter(net[0].weight.detach() * -1.0)  # a parameter replaced
    assert np.array_equal(policy.preferences(obs, mask), module_scores(net))
    dueling = QNetPolicy(DuelingQ(9, (16, 16), 5), True, "cpu")
    assert np.array_equal(dueling.preferences(obs, mask), module_scores(dueling.net)) and dueling._affine is None
