"""The derived lower bound (``references.bound``): computed by hand for one job, and never beaten by any method."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils import seeding

from agents.baselines.greedy_reference import run_greedy_reference_episode
from agents.harness.evaluate import evaluate
from agents.harness.train import train
from references.bound import job_lower_bounds, lower_bound_episode, replay_jobs
from srole_env import make_config
from srole_env.core.simulator import ClusterSimulator
from srole_env.profiles import device_classes, model_profiles

CFG = {"scenario": "small", "n_edges": 8, "horizon": 30, "arrival_rate": 0.01}
SEEDS = (3, 4, 5)


def test_one_job_bound_by_hand(tmp_path):
    """One ResNet-18 job (one worker) on a one-edge Xavier NX cluster: samples x epochs x train FLOPs at the
    GPU's sustained rate (peak x efficiency from devices.csv), placed at the first round after arrival."""
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n3.0,0,resnet18,1000,1,50,1\n")
    cfg = make_config("small", n_edges=1, n_regions=1, horizon=5, trace_path=str(trace),
                      device_mix={"jetson_xavier_nx": 1.0})
    sim = replay_jobs(cfg, 0)
    xavier, resnet = device_classes()["jetson_xavier_nx"], model_profiles()["resnet18"]
    rate = xavier.peak_gflops_fp32 * 1e9 * xavier.training_efficiency
    expected = (10.0 - 3.0) + 1000 * resnet.train_flops_per_sample / rate  # start at t=10 s, then compute alone
    assert job_lower_bounds(sim) == pytest.approx([expected])


@pytest.mark.parametrize("policy, shield", [("random", "none"), ("local", "none"), ("least_loaded", "none"),
                                            ("least_loaded", "central"), ("random", "decentralized")])
def test_no_heuristic_beats_the_bound(policy, shield):
    for seed in SEEDS:
        bound = lower_bound_episode(CFG, seed)
        result = evaluate(policy, shield, CFG, 1, seed, "cpu")
        assert result["jobs_arrived"] == bound["jobs_arrived"]  # the same episode
        assert result["mean_jct_all"] >= bound["mean_jct_all"]
        jcts, floor = np.asarray(result["rows"][0]["job_jcts"]), np.asarray(bound["job_jcts"])
        assert len(jcts) == len(floor) and np.all(jcts >= floor - 1e-9)  # job by job (job id = arrival order)


def test_greedy_reference_does_not_beat_the_bound():
    for seed in SEEDS:
        sim = ClusterSimulator(make_config(**CFG))
        metrics = run_greedy_reference_episode(sim, seeding.np_random(seed)[0])
        bound = lower_bound_episode(CFG, seed)
        assert metrics["jobs_arrived"] == bound["jobs_arrived"]
        assert metrics["mean_jct_all"] >= bound["mean_jct_all"]


def test_trained_learner_does_not_beat_the_bound(tmp_path):
    hparams = {"learning_starts": 200, "eps_decay_rounds": 100}
    run = train("idqn", "central", CFG, rounds=150, seed=0, out_dir=tmp_path / "run", device="cpu",
                progress=False, hparams=hparams)
    for seed in SEEDS:
        result = evaluate(run, "central", CFG, 1, seed, "cpu")
        assert result["mean_jct_all"] >= lower_bound_episode(CFG, seed)["mean_jct_all"]


def test_greedy_reference_uses_the_contention_model(tmp_path):
    """A lone worker on a Jetson Nano gets the whole GPU (59 GFLOP/s), more than a NUC core (27 GFLOP/s): the
    full-knowledge reference must send a NUC's task to an idle Jetson (the old flops/cores estimate kept it home)."""
    from agents.baselines.greedy_reference import greedy_reference_preferences

    trace = tmp_path / "t.csv"
    cfg = make_config("small", n_edges=2, n_regions=1, n_neighbors=1, horizon=5,
                      device_mix={"jetson_nano": 0.5, "nuc_i7": 0.5})
    sim = ClusterSimulator(cfg)
    sim.reset(seeding.np_random(0)[0])
    nuc = int(np.flatnonzero(~sim.topology.gpu)[0])
    trace.write_text("arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n"
                     f"1.0,{nuc},resnet18,3000,2,32,1\n")
    sim = ClusterSimulator(make_config(cfg, trace_path=str(trace)))
    sim.reset(seeding.np_random(0)[0])
    sim.step(np.full(2, sim.hold_action), 0.0)  # the job arrives during the first round
    prefs = greedy_reference_preferences(sim)
    target = sim.topology.candidates[nuc, int(np.argmax(prefs[nuc]))]
    assert sim.topology.gpu[target]
