"""What ``srole score POLICY`` accepts, resolved to something ``agents.harness.evaluate.evaluate`` runs.

POLICY is one of

* an import path ``package.module:factory``: ``factory()`` returns either an object with the ``Policy`` interface
  (``agents.common.policy``: ``preferences(obs [N, D], mask [N, A]) -> [N, A]``, ``act``, ``reset``) or a
  PettingZoo-style callable from one round's observations ``{agent: {"observation", "action_mask"}}`` to
  actions ``{agent: int}``;
* a run directory of ``srole train`` (or of ``scripts/experiments/train_rllib.py``);
* a heuristic name (``least_loaded``, ``random``, ``local``, ``round_robin``; ``crl_greedy`` at the head);
* an SB3 ``.zip`` (PPO, DQN or MaskablePPO; loaded through ``srole_common.persist.sb3_load``, which checks
  the pickled attributes first), trained on the parallel env's observations or on the head's.

A user's policy is checked every round (``CheckedPolicy``), parallel and centralized alike: it is handed copies of
the observations and the mask, and its actions are checked against the env's own mask (a policy that writes into
what it was given changes nothing); actions of the wrong shape, type or range, or masked actions, raise
``PolicyError`` naming the agent; so does anything the policy's code raises, ``SystemExit`` and
``KeyboardInterrupt`` included (a policy cannot end ``srole score`` with a success status and no card); ``score``
adds the task and the policy.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.common.policy import Policy
from srole_common.names import CENTRAL_HEURISTIC_NAMES, HEURISTIC_NAMES


class PolicyError(ValueError):
    """A policy that cannot be loaded or that acted wrongly (the message names the agent where one did)."""


def agent_names(n: int) -> list[str]:
    """The parallel env's agent names (``EdgeClusterEnv.possible_agents``)."""
    return [f"edge_{i}" for i in range(n)]


class CheckedPolicy:
    """A user's policy behind the ``Policy`` interface, its actions checked every round (module docstring)."""

    env_kind = "parallel"

    def __init__(self, inner: Any, name: str, env_kind: str = "parallel"):
        self.inner = inner
        self.name = name
        self.env_kind = env_kind
        self.is_callable = not isinstance(inner, Policy)

    def reset(self) -> None:
        if self.is_callable and not hasattr(self.inner, "reset"):
            return
        try:
            self.inner.reset()
        except BaseException as err:  # noqa: BLE001 - the policy's code: SystemExit/KeyboardInterrupt too
            raise PolicyError(f"reset() raised {type(err).__name__}: {err}") from err

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.argmax(self.preferences(obs, mask), axis=1)

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n, a = mask.shape
        agents = agent_names(n)
        if self.is_callable:
            observations = {agents[i]: {"observation": obs[i].copy(), "action_mask": mask[i].copy()} for i in range(n)}
            try:
                actions = self.inner(observations)
            except PolicyError:
                raise
            except BaseException as err:  # noqa: BLE001 - the policy's code: SystemExit/KeyboardInterrupt too
                raise PolicyError(f"the policy raised {type(err).__name__}: {err}") from err
            return self._one_hot(actions, agents, mask)
        try:  # copies: the check below reads the env's own mask, which the policy never sees
            prefs = self.inner.preferences(obs.copy(), mask.copy())
        except BaseException as err:  # noqa: BLE001 - the policy's code: SystemExit/KeyboardInterrupt too
            raise PolicyError(f"preferences() raised {type(err).__name__}: {err}") from err
        prefs = np.asarray(prefs)
        if prefs.shape != (n, a):
            raise PolicyError(f"preferences() returned shape {prefs.shape}, expected [N, A] = ({n}, {a})")
        if not np.issubdtype(prefs.dtype, np.number) or np.issubdtype(prefs.dtype, np.complexfloating):
            raise PolicyError(f"preferences() returned dtype {prefs.dtype}, expected real numbers")
        bad = np.flatnonzero(~np.isfinite(prefs.astype(float)).all(axis=1))
        if len(bad):
            raise PolicyError(f"agent {agents[bad[0]]}: preferences are not finite: {prefs[bad[0]].tolist()}")
        chosen = np.argmax(prefs, axis=1)
        masked = np.flatnonzero(mask[np.arange(n), chosen] == 0)
        if len(masked):
            i = masked[0]
            raise PolicyError(f"agent {agents[i]}: chose masked action {int(chosen[i])} (allowed: "
                              f"{np.flatnonzero(mask[i]).tolist()})")
        return prefs.astype(np.float64)

    @staticmethod
    def _one_hot(actions: Any, agents: list[str], mask: np.ndarray) -> np.ndarray:
        n, a = mask.shape
        if not isinstance(actions, Mapping):
            raise PolicyError(f"the policy returned {type(actions).__name__}, expected a dict {{agent: action}} "
                              f"for agents {agents[0]}..{agents[-1]}")
        missing = [ag for ag in agents if ag not in actions]
        if missing:
            raise PolicyError(f"agent {missing[0]}: no action returned ({len(missing)} agent(s) missing)")
        extra = [k for k in actions if k not in set(agents)]
        if extra:
            raise PolicyError(f"agent {extra[0]!r}: not an agent of this cluster ({agents[0]}..{agents[-1]})")
        prefs = np.zeros((n, a))
        for i, agent in enumerate(agents):
            act = actions[agent]
            if isinstance(act, np.ndarray) and act.shape == ():
                act = act.item()
            if isinstance(act, (bool, np.bool_)) or not isinstance(act, (int, np.integer)):
                raise PolicyError(f"agent {agent}: action {act!r} of type {type(act).__name__}, expected an int")
            if not 0 <= int(act) < a:
                raise PolicyError(f"agent {agent}: action {int(act)} outside 0..{a - 1}")
            if mask[i, int(act)] == 0:
                raise PolicyError(f"agent {agent}: chose masked action {int(act)} (allowed: "
                                  f"{np.flatnonzero(mask[i]).tolist()})")
            prefs[i, int(act)] = 1.0
        return prefs


def _update(h: Any, path: Path, block: int = 1 << 20) -> None:
    """Feed a file to a hash in blocks (memory stays one block, whatever the file's size)."""
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    _update(h, path)
    return h.hexdigest()


RUN_DIR_MARKERS = ("config.json", "run_config.json")
"""A run directory of ``srole train`` has ``config.json``; one of ``scripts/experiments/train_rllib.py``
``run_config.json``."""


def check_run_dir(path: Path, spec: str) -> None:
    """A bounded look before a folder is read whole: it must hold a run's config file; ``PolicyError`` otherwise."""
    if not any((path / name).is_file() for name in RUN_DIR_MARKERS):
        raise PolicyError(f"policy {spec!r}: a folder, but not a run directory (no {' or '.join(RUN_DIR_MARKERS)}); "
                          "give the folder `srole train --out` wrote")


def _dir_hash(path: Path) -> str:
    """SHA-256 over a run directory's files (names and contents, read in blocks), for the card's policy identity."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(f.relative_to(path)).encode())
        _update(h, f)
    return h.hexdigest()


def resolve(policy: Any) -> tuple[Any, dict[str, Any]]:
    """``(what evaluate takes, identity)``: a run directory or heuristic name stays a string (so ``evaluate`` reads
    its own shield and cluster settings, exactly as ``srole evaluate``); everything else becomes a ``Policy``.

    ``identity``: ``spec``, ``kind`` (``import``, ``run_dir``, ``heuristic``, ``sb3_zip``, ``object``), ``name``
    and a ``sha256`` of the code or files where there are some.
    """
    if not isinstance(policy, (str, Path)):
        return _from_object(policy, f"<{type(policy).__name__}>", "object", {})
    spec = str(policy)
    if spec in HEURISTIC_NAMES or spec in CENTRAL_HEURISTIC_NAMES:
        return spec, {"spec": spec, "kind": "heuristic", "name": spec}
    path = Path(spec)
    if path.is_dir():
        check_run_dir(path, spec)
        return spec, {"spec": spec, "kind": "run_dir", "name": path.name, "sha256": _dir_hash(path)}
    if path.suffix == ".zip":
        if not path.is_file():
            raise PolicyError(f"policy {spec!r}: no such SB3 .zip file")
        return _sb3_zip(path), {"spec": spec, "kind": "sb3_zip", "name": path.stem, "sha256": _sha256_file(path)}
    if ":" in spec:
        return _import(spec)
    known = ", ".join(HEURISTIC_NAMES + CENTRAL_HEURISTIC_NAMES)
    raise PolicyError(f"policy {spec!r}: not an import path package.module:factory, a run directory, an SB3 .zip "
                      f"or a heuristic ({known})")


def _import(spec: str) -> tuple[Any, dict[str, Any]]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise PolicyError(f"policy {spec!r}: an import path is package.module:factory")
    try:
        module = importlib.import_module(module_name)
    except BaseException as err:  # noqa: BLE001 - any import failure is the user's module's, sys.exit included
        raise PolicyError(f"policy {spec!r}: module {module_name!r} does not import: {type(err).__name__}: "
                          f"{err}") from err
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise PolicyError(f"policy {spec!r}: module {module_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise PolicyError(f"policy {spec!r}: {attr!r} is not callable (a factory returning a policy)")
    try:
        made = factory()
    except BaseException as err:  # noqa: BLE001 - the user's factory, sys.exit included
        raise PolicyError(f"policy {spec!r}: the factory raised {type(err).__name__}: {err}") from err
    try:
        source = inspect.getsource(module).encode()
    except (OSError, TypeError):
        source = b""
    identity = {"spec": spec, "kind": "import", "sha256": hashlib.sha256(source).hexdigest() if source else None}
    return _from_object(made, spec, "import", identity)


def _from_object(obj: Any, spec: str, kind: str, identity: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    if isinstance(obj, Policy) and getattr(obj, "env_kind", "parallel") == "centralized":
        name = str(getattr(obj, "name", type(obj).__name__))  # checked like the parallel ones, one head row a round
        return CheckedPolicy(obj, name, "centralized"), {"spec": spec, "kind": kind, "name": name, **identity}
    if not isinstance(obj, Policy) and not callable(obj):
        raise PolicyError(f"policy {spec!r}: the factory returned {type(obj).__name__}, which is neither a Policy "
                          "(preferences/act/reset) nor a callable from observations to actions")
    name = str(getattr(obj, "name", getattr(obj, "__name__", type(obj).__name__)))
    return CheckedPolicy(obj, name), {"spec": spec, "kind": kind, "name": name, **identity}


def _sb3_zip(path: Path) -> Any:
    """An SB3 model file as a ``Policy``: its algorithm read from the zip's ``data`` (policy class module)."""
    from agents.learners.sb3.learners import CLASSES, SB3Policy
    from srole_common.persist import sb3_load

    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise PolicyError(f"policy {str(path)!r}: not an SB3 model file ({err})") from err
    module = str(data.get("policy_class", {}).get("__module__", ""))
    space = str(data.get("observation_space", {}).get("_shape", ""))
    algo = "maskable_ppo" if "maskable" in module else "dqn" if ".dqn." in module else "ppo"
    model = sb3_load(CLASSES[algo], path, device="cpu")
    policy = SB3Policy(model, algo)
    obs_shape = getattr(model.observation_space, "shape", None) or space
    policy.obs_shape = obs_shape
    return policy


def needs_kind(policy: Any, cfg_obs_dim: int) -> str:
    """``parallel`` or ``centralized`` for an SB3 policy: by its observation size against the parallel env's."""
    shape: Callable[[], Any] | Any = getattr(policy, "obs_shape", None)
    if shape is None:
        return getattr(policy, "env_kind", "parallel")
    return "parallel" if tuple(shape)[-1] == cfg_obs_dim else "centralized"
