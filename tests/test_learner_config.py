"""Every learner's settings are checked once, at the door (``Learner.configure``), before a run writes anything.

Wrong names, wrong types, out-of-range values and combinations a learner cannot run (SB3's own assertions, the
head's empty replay buffer) are refused with the hyperparameter and the reason; settings that
run but can never train within the budget are warned about.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.harness.registry import LEARNERS, RLLIB_LEARNERS
from agents.harness.train import train
from agents.learners.idqn import IDQNConfig
from srole_env import make_config
from study.experiments.plan import resolve_learner
from study.experiments.profiles import METHODS, PROFILES

TINY = {"scenario": "small", "horizon": 10}
CLUSTER = make_config(**TINY)


def test_n_step_returns_wait_for_the_buffer_instead_of_sampling_it_empty(tmp_path: Path):
    # before: learning_starts=16 with n_step=5 on 10 edges was refused (the buffer holds nothing before round 5;
    # earlier still, training crashed there with numpy's "high <= 0"); now the first step waits for a batch
    out = tmp_path / "run"
    train("idqn", "none", TINY, 20, 0, out, "cpu", hparams={"learning_starts": 16, "batch_size": 8}, progress=False)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert IDQNConfig(learning_starts=16, batch_size=8).first_update_round(10, 10) == 5  # round 5 stores round 1
    assert state["gradient_updates"] == 20 - 5 + 1  # one step a round from round 5 on
    with pytest.raises(ValueError, match="learning_starts=0.*>= 1 stored transitions"):  # the head: one decision later
        train("crl_idqn", "none", TINY, 20, 0, tmp_path / "crl", "cpu", hparams={"learning_starts": 0}, progress=False)


def test_idqn_trains_at_n_400_with_its_defaults(tmp_path: Path):
    """MARL/SROLE's learner at N >= 400: learning_starts (2,000) is seen at round 5, before n-step returns (8) store
    anything; the first gradient step comes at round 8, when round 1's 400 transitions (more than a batch) land."""
    hp = {"n_step": 8, "hidden": [16]}
    assert IDQNConfig(n_step=8).first_update_round(400, 200) == 8
    out = tmp_path / "big"
    train("idqn", "central", {"scenario": "paper", "n_edges": 400, "horizon": 20}, 10, 0, out, "cpu", hparams=hp,
          progress=False)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["gradient_updates"] == 10 - 8 + 1 and state["samples"] == 4_000
    # the first-step round is the same whatever the size once a round's transitions make a batch
    assert IDQNConfig(n_step=8).first_update_round(2_000, 200) == 8
    assert IDQNConfig().first_update_round(20, 200) == 100  # N = 20 as before: learning_starts decides


@pytest.mark.parametrize("algo, overrides, key", [
    ("idqn", {"batch_size": 0}, "batch_size"),  # an empty batch: a NaN loss, silently
    ("idqn", {"train_every_rounds": 0}, "train_every_rounds"),  # modulo by zero
    ("idqn", {"gradient_steps": 0}, "gradient_steps"),  # never learns
    ("idqn", {"tau": 0.0}, "tau"),  # the target never moves
    ("idqn", {"gamma": 1.5}, "gamma"),
    ("idqn", {"lr": -1e-3}, "lr"),
    ("idqn", {"eps_end": 2.0}, "eps_end"),
    ("idqn", {"learn_from": "both"}, "learn_from"),
    ("idqn", {"hidden": [64, 0]}, "hidden"),
    ("idqn", {"hidden": [], "dueling": True}, "dueling"),  # the dueling head needs a trunk
    ("idqn", {"lr": float("nan")}, "lr"),
    ("idqn", {"hidden": ["64"]}, "hidden"),
    ("idqn", {"batch_size": 1.5}, "batch_size"),
    ("idqn", {"double_q": "yes"}, "double_q"),
    ("crl_idqn", {"n_step": 0}, "n_step"),
    ("ippo", {"minibatch_size": 0}, "minibatch_size"),  # range() with step 0
    ("ippo", {"rollout_rounds": 0}, "rollout_rounds"),
    ("ippo", {"clip": 0.0}, "clip"),
    ("ippo", {"gae_lambda": -0.1}, "gae_lambda"),
    ("ippo", {"ent_coef": -0.01}, "ent_coef"),
    ("ppo", {"batch_size": 1}, "batch_size"),  # SB3 asserts batch_size > 1 with advantage normalization
    ("ppo", {"clip_range_vf": 0.0}, "clip_range_vf"),
    ("maskable_ppo", {"n_epochs": 0}, "n_epochs"),
    ("ppo", {"use_sde": True}, "use_sde"),  # gSDE is for continuous actions only
    ("ppo", {"policy_kwargs": {}}, "policy_kwargs"),  # set by the learner itself
    ("dqn", {"optimize_memory_usage": True}, "optimize_memory_usage"),  # SB3 refuses it with timeout handling
    ("dqn", {"gradient_steps": 0}, "gradient_steps"),
    ("dqn", {"exploration_fraction": 1.5}, "exploration_fraction"),
    ("crl_dqn", {"train_freq": 0}, "train_freq"),
    ("crl_maskable_ppo", {"net_arch": [64, -1]}, "net_arch"),
])
def test_bad_settings_are_refused_naming_the_key(algo: str, overrides: dict, key: str):
    with pytest.raises(ValueError, match=key):
        LEARNERS[algo].configure(overrides, CLUSTER, 100)


def test_settings_that_depend_on_the_cluster_are_checked_with_it():
    with pytest.raises(ValueError, match=r"n_steps=1.*n_steps \* n_envs > 1"):  # one head env: a 1-sample rollout
        LEARNERS["crl_ppo"].configure({"n_steps": 1}, CLUSTER, 100)
    LEARNERS["ppo"].configure({"n_steps": 1, "batch_size": 10}, CLUSTER, 100)  # 10 edge sub-envs: 10 samples, fine
    LEARNERS["crl_ppo"].configure({"n_steps": 1}, None, None)  # without a cluster only the cluster-free checks run


def test_settings_that_cannot_train_within_the_budget_are_warned():
    with pytest.warns(UserWarning, match="learning_starts=5000.*stays untrained"):
        LEARNERS["idqn"].configure({"learning_starts": 5000}, CLUSTER, 20)
    with pytest.warns(UserWarning, match="n_steps=200.*stays untrained"):
        LEARNERS["ppo"].configure({}, CLUSTER, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LEARNERS["idqn"].configure({"learning_starts": 50}, CLUSTER, 20)


def test_rllib_hyperparameters_go_through_the_same_door():
    ppo = RLLIB_LEARNERS["ppo"]
    assert ppo.configure({"lr": 1, "hidden": [32]}).to_dict()["hidden"] == (32,)
    with pytest.raises(ValueError, match="minibatch_size=512.*train_batch_size=256"):
        ppo.configure({"minibatch_size": 512, "train_batch_size": 256})
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['scenario'\]"):  # a run setting, not a hparam
        ppo.configure({"scenario": "paper"})
    with pytest.raises(ValueError, match="rollout_fragment_length"):
        ppo.configure({"rollout_fragment_length": "soon"})


def test_sb3_configs_pass_only_what_is_set():
    hp = LEARNERS["crl_dqn"].configure({"tau": 0.5})
    kwargs, policy_kwargs = hp.constructor_kwargs()
    assert kwargs["tau"] == 0.5 and kwargs["learning_starts"] == 1_000 and "n_steps" not in kwargs
    assert policy_kwargs == {"net_arch": [128, 128]}


def test_a_profile_layer_with_a_bad_value_is_refused_naming_the_layer():
    profile = dataclasses.replace(PROFILES["paper-tiny"], learner_hparams={"idqn": {"lr": -1.0}})
    with pytest.raises(ValueError, match=r"learner_hparams\[idqn\].*lr=-1.0: the learning rate must be > 0"):
        resolve_learner(profile, METHODS["MARL"], "no-such-scenario")


@settings(max_examples=40, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "hidden": st.lists(st.integers(1, 64), max_size=3), "lr": st.floats(1e-6, 1.0), "gamma": st.floats(0.0, 1.0),
    "n_step": st.integers(1, 10), "batch_size": st.integers(1, 512), "tau": st.floats(1e-4, 1.0),
    "learn_from": st.sampled_from(["executed", "chosen"]), "double_q": st.booleans(),
}))
def test_a_valid_config_round_trips_through_its_saved_form(overrides: dict):
    hp = LEARNERS["idqn"].configure(overrides)
    assert IDQNConfig.from_saved(hp.to_dict()) == hp
    assert hp.hidden == tuple(overrides.get("hidden", hp.hidden))


def test_the_rllib_run_config_takes_the_learner_configs_defaults():
    """``RLlibTrainConfig`` (a run's ``run_config.json``) and ``RLlibPPOConfig`` (``--hparam``): one set of defaults."""
    import dataclasses

    from agents.learners.rllib.adapter import RLlibTrainConfig
    from agents.learners.rllib.specs import RLlibPPOConfig

    run = {f.name: f for f in dataclasses.fields(RLlibTrainConfig)}
    for f in dataclasses.fields(RLlibPPOConfig):
        assert f.name in run, f"RLlibTrainConfig lacks the learner field {f.name}"
        assert run[f.name].default == f.default, f.name
