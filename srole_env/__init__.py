"""SROLE edge-cluster simulator: a PettingZoo parallel env (one agent per edge) and the cluster head's
Gymnasium env, both over one simulator core (``srole_env.core``)."""

from srole_env.centralized import CentralizedSchedulingEnv
from srole_env.config import SCENARIOS, ClusterConfig, make_config
from srole_env.edge_cluster import EdgeClusterEnv
from srole_env.edge_cluster_v0 import env, parallel_env, raw_env
from srole_env.registration import CENTRALIZED_ID, EDGE_ID, make, register_envs
from srole_env.vector import BatchedEdgeClusterEnv, batched_env

register_envs()

__version__ = "0.1.0"

__all__ = [
    "BatchedEdgeClusterEnv",
    "CENTRALIZED_ID",
    "EDGE_ID",
    "SCENARIOS",
    "CentralizedSchedulingEnv",
    "ClusterConfig",
    "EdgeClusterEnv",
    "env",
    "batched_env",
    "make",
    "make_config",
    "parallel_env",
    "raw_env",
    "register_envs",
]
