"""What a learner gets from ``agents.harness.train.train``: the run's settings, its loggers and checkpoint
bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.common.array_env import ArrayEnv, EpisodeDriver, make_parallel_env
from agents.common.curves import CurveRecorder
from agents.common.learner_config import LearnerConfig
from agents.common.run_dir import EpisodeLog, RunDir, write_json
from srole_env import ClusterConfig


class NoProgress:
    """The progress bar of a run without one: ``update`` and ``close`` do nothing."""

    def update(self, n: float = 1) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class RunContext:
    """One training run (fresh or resumed). ``rounds`` is the run's total budget in simulated decision rounds
    (not what is left)."""

    run: RunDir
    algo: str
    shield: str
    config: ClusterConfig
    seed: int
    rounds: int
    device: str
    hparams: LearnerConfig
    """The learner's own hyperparameters, validated (its ``Learner.config_class``; ``shield_preferences`` is taken
    out into its own field)."""
    resume: bool = False
    progress: bool = True
    checkpoint_every: int = 0
    """Also checkpoint every this many rounds (0: only at the end)."""
    writer: Any = None
    """TensorBoard ``SummaryWriter`` (or None)."""
    episode_log: EpisodeLog | None = None
    state: dict[str, Any] = field(default_factory=dict)
    """The checkpoint's ``state.json`` when resuming (``rounds``, ``episodes``), else empty."""
    shield_preferences: bool = True
    """Hand the learner's preferences to the shield (False: withheld, the ``SROLE-central-noprefs`` ablation)."""
    curves: CurveRecorder | None = None
    """Periodic evaluation on fixed seeds (``eval_every``), or None."""

    @property
    def start_rounds(self) -> int:
        """Rounds already trained (the checkpoint's count when resuming, else 0)."""
        return int(self.state.get("rounds", 0))

    def save_state(self, rounds: int, episodes: int, **extra: Any) -> None:
        """Write ``checkpoint/state.json`` (last, after the learner's own files: it marks the checkpoint complete)."""
        write_json(self.run.state, {"algo": self.algo, "rounds": int(rounds), "episodes": int(episodes), **extra})

    def progress_bar(self, initial: int) -> Any:
        """A tqdm bar over rounds from ``initial`` to the budget; without ``progress`` a stand-in that does nothing
        (tqdm's import, about 0.05 s, is then not paid)."""
        if not self.progress:
            return NoProgress()
        from tqdm.auto import tqdm

        return tqdm(total=self.rounds, initial=initial, unit="round", desc=f"{self.algo}/{self.shield}",
                    dynamic_ncols=True, leave=False)

    def make_env(self) -> ArrayEnv:
        """The run's parallel env (behind its shield) as an ``ArrayEnv`` that shares preferences or not."""
        return ArrayEnv(make_parallel_env(self.config, self.shield), share_preferences=self.shield_preferences)

    def evaluate_if_due(self, rounds: int, policy: Any) -> None:
        """Add a learning-curve row when one is due at ``rounds`` (no-op without ``eval_every``)."""
        if self.curves is not None:
            self.curves.maybe_record(rounds, policy)

    def finish_curve(self, rounds: int, policy: Any) -> None:
        """The last learning-curve row at the end of training (no-op without ``eval_every``)."""
        if self.curves is not None:
            self.curves.finish(rounds, policy)

    def log_scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step)


class CheckpointSchedule:
    """Says when a periodic checkpoint is due: each time the counter passes a multiple of ``every``."""

    def __init__(self, every: int, start: int):
        self.every = int(every)
        self.next = (start // self.every + 1) * self.every if self.every > 0 else None

    def due(self, count: int) -> bool:
        if self.next is None or count < self.next:
            return False
        self.next = (count // self.every + 1) * self.every
        return True


def resume_driver(env: ArrayEnv, ctx: RunContext, env_file: str) -> EpisodeDriver:
    """The driver as checkpointed: the env from the run's config, its episode replayed from ``env_file``.

    A missing, corrupt or mismatched env state raises (``FileNotFoundError``/``CorruptFile``), never restarts.
    """
    episodes, rounds = int(ctx.state["episodes"]), ctx.start_rounds
    driver = EpisodeDriver(env, ctx.seed, ctx.episode_log, episode=episodes, rounds=rounds)
    driver.load_state(ctx.run.checkpoint / env_file)
    return driver
