"""SROLE as a BenchMARL task: IPPO, MAPPO (or any BenchMARL algorithm) trained by BenchMARL's ``Experiment``.

BenchMARL (TorchRL's multi-agent benchmarking library) runs a task through a ``TaskClass`` that builds the
TorchRL env and tells BenchMARL its specs. ``SroleClass`` builds ``PettingZooWrapper(parallel_env(...))``, TorchRL's
own wrapper, with ``return_state=True``: the N edges form one group ``edge``; the Dict observation gives each
edge's features at ``("edge", "observation", "observation")`` and its mask at ``("edge", "action_mask")``,
which BenchMARL hands to its masked categorical policies (``action_mask_spec``); the global state (``state()``,
spec from the env's ``state_space``) is at ``"state"``, which MAPPO's centralized critic reads (``state_spec``).
``--shield central|decentralized`` puts a shield in front. The run is BenchMARL's documented one::

    Experiment(task=..., algorithm_config=MappoConfig.get_from_yaml(), model_config=MlpConfig.get_from_yaml(),
               critic_model_config=MlpConfig.get_from_yaml(), seed=0, config=ExperimentConfig.get_from_yaml()).run()

with ``ExperimentConfig`` cut to a tiny budget here (``--frames``), on the CPU, no loggers, no checkpoints,
its folder a temporary directory.

Pinned: benchmarl 1.5.2 (the ``benchmarl`` extra). It requires ``torchrl<0.12`` (TorchRL 0.11.1 and
tensordict 0.11 there, while the ``torchrl`` extra has 0.14.1), hence a venv of its own.

    python examples/benchmarl_task.py --algo mappo --frames 6000
    python examples/benchmarl_task.py --algo ippo --shield central --frames 6000
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import torch
from benchmarl.algorithms import IppoConfig, MappoConfig
from benchmarl.environments.common import Task, TaskClass
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.models.mlp import MlpConfig
from torchrl.data import Composite
from torchrl.envs import EnvBase
from torchrl.envs.libs.pettingzoo import PettingZooWrapper

from srole_env import parallel_env

ALGORITHMS = {"ippo": IppoConfig, "mappo": MappoConfig}


class SroleClass(TaskClass):
    """The edge cluster as a BenchMARL task (config: ``scenario``, ``horizon``, ``shield``, cluster overrides)."""

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None,
                    device: Any) -> Callable[[], EnvBase]:
        config = dict(self.config)
        scenario, shield = config.pop("scenario", "small"), config.pop("shield", "none")

        def make() -> EnvBase:
            env = parallel_env(scenario, **config)
            if shield != "none":
                from shields import make_shield

                env = make_shield(env, shield)
            return PettingZooWrapper(env, categorical_actions=True, return_state=True, device=device, seed=seed)

        return make

    def supports_continuous_actions(self) -> bool:
        return False

    def supports_discrete_actions(self) -> bool:
        return True

    def has_state(self) -> bool:
        return True

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        return int(self.config["horizon"])

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return env.group_map

    def _group_keys(self, env: EnvBase, keep: str) -> Composite | None:
        """The observation spec with only ``keep`` in each group and no state (None if nothing is left)."""
        spec = env.observation_spec.clone()
        for group in self.group_map(env):
            for key in list(spec[group].keys()):
                if key != keep:
                    del spec[group][key]
            if spec[group].is_empty():
                del spec[group]
        if "state" in spec.keys():
            del spec["state"]
        return None if spec.is_empty() else spec

    def observation_spec(self, env: EnvBase) -> Composite:
        return self._group_keys(env, "observation")

    def action_mask_spec(self, env: EnvBase) -> Composite | None:
        return self._group_keys(env, "action_mask")

    def info_spec(self, env: EnvBase) -> Composite | None:
        return self._group_keys(env, "info")

    def state_spec(self, env: EnvBase) -> Composite | None:
        return Composite({"state": env.observation_spec["state"].clone()})

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec

    @staticmethod
    def env_name() -> str:
        return "srole"


class SroleTask(Task):
    """BenchMARL's enum of this environment's tasks (configs given in code, not BenchMARL's YAML folder)."""

    EDGE_CLUSTER = None

    @staticmethod
    def associated_class():
        return SroleClass


def experiment_config(frames: int, frames_per_batch: int, out_dir: str) -> ExperimentConfig:
    """BenchMARL's default experiment config, cut to ``frames`` on the CPU: no loggers, checkpoints or render."""
    config = ExperimentConfig.get_from_yaml()
    config.sampling_device = config.train_device = config.buffer_device = "cpu"
    config.max_n_frames = frames
    config.on_policy_collected_frames_per_batch = frames_per_batch
    config.on_policy_n_envs_per_worker = 1
    config.on_policy_n_minibatch_iters = 1
    config.on_policy_minibatch_size = min(64, frames_per_batch)
    config.evaluation = False
    config.render = False
    config.loggers = []
    config.create_json = False
    config.checkpoint_interval = 0
    config.checkpoint_at_end = False
    config.save_folder = out_dir
    return config


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train with BenchMARL's Experiment; print and return the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", choices=sorted(ALGORITHMS), default="mappo")
    p.add_argument("--scenario", default="small")
    p.add_argument("--horizon", type=int, default=50, help="decision rounds per episode")
    p.add_argument("--frames", type=int, default=6000, help="env steps (rounds) to train")
    p.add_argument("--frames-per-batch", type=int, default=200, help="rounds collected per iteration")
    p.add_argument("--shield", choices=("none", "central", "decentralized"), default="none")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    task = SroleTask.EDGE_CLUSTER.get_task(config={"scenario": args.scenario, "horizon": args.horizon,
                                                   "shield": args.shield})
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as out_dir:
        experiment = Experiment(task=task, algorithm_config=ALGORITHMS[args.algo].get_from_yaml(),
                                model_config=MlpConfig.get_from_yaml(), critic_model_config=MlpConfig.get_from_yaml(),
                                seed=args.seed, config=experiment_config(args.frames, args.frames_per_batch, out_dir))
        experiment.run()
        figures = masked_share(experiment, args.seed)
    figures["frames"] = float(experiment.total_frames)
    print(f"benchmarl {args.algo}: {int(figures['frames'])} rounds (shield {args.shield}), masked actions "
          f"{figures['masked_share']:.1%}, critic input from the global state: {int(figures['critic_state_dim'])} "
          "values (0: a local critic)")
    return figures


def masked_share(experiment: Experiment, seed: int) -> dict[str, float]:
    """One rollout of the trained policy: the share of masked actions it took, and the critic's state input."""
    env = experiment.test_env
    with torch.no_grad():
        rollout = env.rollout(experiment.max_steps, policy=experiment.policy, break_when_any_done=True)
    action, mask = rollout["edge", "action"], rollout["edge", "action_mask"]
    taken = mask.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
    critic_keys = experiment.losses["edge"].critic_network.in_keys  # MAPPO: ["state"]; IPPO: each edge's obs
    state_dim = env.observation_spec["state"].shape[-1] if "state" in critic_keys else 0
    return {"masked_share": float((~taken).float().mean()), "critic_state_dim": float(state_dim)}


if __name__ == "__main__":
    main()
