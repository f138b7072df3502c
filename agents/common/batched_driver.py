"""A training driver over K episodes at once: the project's learners (IDQN, IPPO) collect K x N transitions per
step with one batched forward of their network (the learner option ``n_envs``).

``BatchedDriver`` has ``EpisodeDriver``'s interface with the K episodes' agents stacked: ``obs`` [K * N, D],
``mask`` [K * N, A], ``step(actions [K * N], preferences [K * N, A])`` -> a ``StepOutput`` of [K * N] arrays;
row ``k * N + i`` is agent ``i`` of sub-env ``k``. Each sub-env is a (shielded) ``ArrayEnv`` run by its own
``EpisodeDriver``: sub-env ``k`` runs the run's episodes ``k, k + K, k + 2K, ...``, each reset with
``episode_seed(seed, index)`` as a single driver resets it, so K = 1 is the plain driver's run. All episodes
have the run's horizon and end together, so ``done`` is one flag. ``rounds`` counts simulated rounds (K per
``step``: the training budget's unit stays a round of one cluster); ``samples`` counts agent-steps.

The K sub-envs are single (shielded) envs stepped one after another, not ``srole_env.vector``'s one simulator over
K blocks (a shield wraps one env): what K buys is fewer, larger network calls per simulated round and K decorrelated
episodes in every batch, not faster physics.
Checkpoints: sub-driver ``k``'s episode goes to ``<file stem>.<k><suffix>`` beside the run's env file.

``EngineDriver`` is the same driver for unshielded runs over ``srole_env.vector.BatchedEdgeClusterEnv``: the K
episodes are K blocks of one simulator, stepped in one call, with the same episodes, seeds, rows, outputs and
checkpoint files as ``BatchedDriver`` over K single envs (``tests/test_batched_driver.py``), only faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.common.array_env import ArrayEnv, EpisodeCallback, EpisodeDriver, StepOutput, episode_seed, read_env_state
from srole_common.persist import CorruptFile, save_arrays


@dataclass
class BatchView:
    """What a learner reads of ``driver.env``: the stacked agent count and the action layout."""

    n_agents: int
    obs_dim: int
    n_actions: int
    shielded: bool
    share_preferences: bool


class BatchedDriver:
    """K ``EpisodeDriver``s stepped together, their agents stacked (see module docstring)."""

    def __init__(self, envs: list[ArrayEnv], seed: int, on_episode: EpisodeCallback | None = None,
                 episode: int = 0, rounds: int = 0):
        if not envs:
            raise ValueError("envs: a batched driver needs at least one env")
        k = len(envs)
        if episode % k or rounds % k:
            raise ValueError(f"episode ({episode}) and rounds ({rounds}) of a {k}-env driver must be multiples of {k}")
        first = envs[0]
        if any((e.n_agents, e.obs_dim, e.n_actions) != (first.n_agents, first.obs_dim, first.n_actions) for e in envs):
            raise ValueError("envs: every sub-env must have the same agents, observation size and actions")
        self.n_envs = k
        self.n = first.n_agents
        self.on_episode = on_episode
        self.rounds = rounds
        self._finished: list[dict[str, Any]] = []
        self.drivers = [EpisodeDriver(env, seed, self._finished.append, episode=episode + i, rounds=rounds // k,
                                      episode_stride=k) for i, env in enumerate(envs)]
        self.env = BatchView(k * self.n, first.obs_dim, first.n_actions, first.shielded, first.share_preferences)
        self._gather()

    @property
    def episode(self) -> int:
        """Index of the first episode of the batch under way (the count of finished episodes)."""
        return self.drivers[0].episode

    @property
    def samples(self) -> int:
        """Agent-steps simulated so far in the run (rounds x agents of one cluster)."""
        return self.rounds * self.n

    def step(self, actions: np.ndarray, preferences: np.ndarray | None = None) -> StepOutput:
        """One round of each of the K episodes; finished episodes are logged in episode order, then reset."""
        actions = np.asarray(actions, dtype=np.int64).reshape(self.n_envs, self.n)
        prefs = None if preferences is None else np.asarray(preferences).reshape(self.n_envs, self.n, -1)
        outs = [d.step(actions[i], None if prefs is None else prefs[i]) for i, d in enumerate(self.drivers)]
        done = {o.done for o in outs}
        if len(done) != 1:
            raise RuntimeError("the sub-envs of a batched driver ended their episodes in different rounds")
        self.rounds += self.n_envs
        for row in self._finished:
            row["total_rounds"] = self.rounds
            if self.on_episode is not None:
                self.on_episode(row)
        self._finished.clear()
        self._gather()
        return StepOutput(np.concatenate([o.obs for o in outs]), np.concatenate([o.mask for o in outs]),
                          np.concatenate([o.rewards for o in outs]), all(o.terminated for o in outs),
                          all(o.truncated for o in outs), np.concatenate([o.executed for o in outs]),
                          [o.result for o in outs])

    def metrics(self) -> list[dict[str, float]]:
        """Each sub-env's episode figures so far."""
        return [d.env.metrics() for d in self.drivers]

    def save_state(self, path: str | Path) -> None:
        """Each sub-driver's episode so far into its own file beside ``path`` (``EpisodeDriver.save_state``)."""
        for i, d in enumerate(self.drivers):
            d.save_state(sub_path(path, i))

    def load_state(self, path: str | Path) -> None:
        """Rebuild every sub-driver's episode from its file (``EpisodeDriver.load_state``)."""
        for i, d in enumerate(self.drivers):
            d.load_state(sub_path(path, i))
        self._gather()

    def _gather(self) -> None:
        self.obs = np.concatenate([d.obs for d in self.drivers])
        self.mask = np.concatenate([d.mask for d in self.drivers])


class EngineDriver:
    """``BatchedDriver`` over one batched env (unshielded runs): K episodes as blocks of one simulator."""

    def __init__(self, venv: Any, seed: int, on_episode: EpisodeCallback | None = None, episode: int = 0,
                 rounds: int = 0):
        k = venv.num_envs
        if episode % k or rounds % k:
            raise ValueError(f"episode ({episode}) and rounds ({rounds}) of a {k}-env driver must be multiples of {k}")
        if venv.autoreset_mode.value != "Disabled":
            raise ValueError("venv: the driver resets episodes itself; make the batched env with "
                             "autoreset_mode='Disabled'")
        self.venv = venv
        self.n_envs, self.n = k, venv.n_agents
        self.seed = int(seed)
        self.on_episode = on_episode
        self.episode = episode
        self.rounds = rounds
        self.env = BatchView(k * self.n, venv.obs_dim, venv.n_actions, False, True)
        self.reset()

    @property
    def samples(self) -> int:
        """Agent-steps simulated so far in the run (rounds x agents of one cluster)."""
        return self.rounds * self.n

    def reset(self) -> None:
        """Start the batch's episodes ``episode .. episode + K - 1``, each from its seed."""
        seeds = [episode_seed(self.seed, self.episode + i) for i in range(self.n_envs)]
        obs, _ = self.venv.reset(seed=seeds)
        self._set_obs(obs["observation"], obs["action_mask"])
        self.returns = np.zeros((self.n_envs, self.n))
        self.episode_rounds = 0
        self._actions: list[np.ndarray] = []

    def step(self, actions: np.ndarray, preferences: np.ndarray | None = None) -> StepOutput:
        """One round of each of the K episodes; finished episodes are logged in episode order, then reset."""
        k, n = self.n_envs, self.n
        actions = np.asarray(actions, dtype=np.int64).reshape(k, n)
        obs, mask, rewards, terminated, truncated, _ = self.venv.step_arrays(actions)
        self._actions.append(actions.copy())
        self.returns += rewards
        self.episode_rounds += 1
        self.rounds += k
        done = terminated | truncated
        if done.any() and not done.all():
            raise RuntimeError("the sub-envs of a batched driver ended their episodes in different rounds")
        out = StepOutput(obs.reshape(k * n, -1), mask.reshape(k * n, -1), rewards.reshape(-1), bool(terminated.all()),
                         bool(truncated.all()), actions.reshape(-1), None)
        if done.all():
            for i, figures in enumerate(self.venv.metrics()):
                row = {"episode": self.episode + i, "total_rounds": self.rounds,
                       "episode_return": float(self.returns[i].mean()), **figures}
                if self.on_episode is not None:
                    self.on_episode(row)
            self.episode += k
            self.reset()
        else:
            self._set_obs(obs, mask)
        return out

    def metrics(self) -> list[dict[str, float]]:
        """Each sub-env's episode figures so far."""
        return self.venv.metrics()

    def save_state(self, path: str | Path) -> None:
        """Each episode so far into its own file beside ``path``, as ``BatchedDriver`` writes them."""
        k, n, a, r = self.n_envs, self.n, self.venv.n_actions, len(self._actions)
        acts = np.stack(self._actions) if r else np.zeros((0, k, n), np.int64)
        obs, mask = self.obs.reshape(k, n, -1), self.mask.reshape(k, n, -1)
        for i in range(k):
            save_arrays(sub_path(path, i), format=np.int64(1), seed=np.int64(self.seed),
                        episode=np.int64(self.episode + i), rounds=np.int64(self.rounds // k),
                        episode_rounds=np.int64(self.episode_rounds),
                        shape=np.array([n, self.venv.obs_dim, a], dtype=np.int64), actions=acts[:, i],
                        preferences=np.zeros((r, n, a)), has_preferences=np.zeros(r, dtype=bool), obs=obs[i],
                        mask=mask[i], returns=self.returns[i])

    def load_state(self, path: str | Path) -> None:
        """Rebuild the checkpointed episodes by replaying them together; ``CorruptFile`` if they do not fit."""
        k, n = self.n_envs, self.n
        shape = (n, self.venv.obs_dim, self.venv.n_actions)
        files = [read_env_state(sub_path(path, i), shape, self.seed, self.episode + i, self.rounds // k)
                 for i in range(k)]
        where = f"env states {str(sub_path(path, 0))!r} .. {str(sub_path(path, k - 1))!r}"
        played = {int(f["episode_rounds"]) for f in files}
        if len(played) != 1 or any(f["has_preferences"].any() for f in files):
            raise CorruptFile(f"{where} do not fit one unshielded batch: rounds played {sorted(played)}")
        self.reset()
        for t in range(played.pop()):
            joint = np.stack([f["actions"][t] for f in files])
            try:
                obs, mask = self._replay(joint)
            except (ValueError, TypeError, RuntimeError) as err:
                raise CorruptFile(f"{where} do not replay: round {t + 1} was refused: {err}") from None
            self._set_obs(obs, mask)
        got_obs, got_mask = self.obs.reshape(k, n, -1), self.mask.reshape(k, n, -1)
        for i, f in enumerate(files):
            if not (np.array_equal(got_obs[i], f["obs"]) and np.array_equal(got_mask[i], f["mask"])
                    and np.allclose(self.returns[i], f["returns"], rtol=0, atol=1e-9)):
                raise CorruptFile(f"env state {str(sub_path(path, i))!r} does not replay to the checkpointed state "
                                  "(the run's config or the simulator differs from the checkpoint's, or the file "
                                  "was altered)")

    def _replay(self, joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One recorded round of every episode (``load_state``): the next observations and masks."""
        obs, mask, rewards, terminated, truncated, _ = self.venv.step_arrays(joint)
        if (terminated | truncated).any():
            raise RuntimeError("the episode ended before the recorded rounds did (another config or simulator)")
        self._actions.append(np.array(joint, dtype=np.int64))
        self.returns += rewards
        self.episode_rounds += 1
        return obs, mask

    def _set_obs(self, obs: np.ndarray, mask: np.ndarray) -> None:
        self.obs = np.asarray(obs, dtype=np.float32).reshape(self.n_envs * self.n, -1)
        self.mask = np.asarray(mask).reshape(self.n_envs * self.n, -1)


def sub_path(path: str | Path, index: int) -> Path:
    """Sub-driver ``index``'s env-state file: ``env.npz`` -> ``env.3.npz``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{index}{path.suffix}")
