"""Versioned public name of the edge-cluster environment (bump the version when behaviour changes)."""

from srole_env.edge_cluster import EdgeClusterEnv, env, parallel_env, raw_env

__all__ = ["EdgeClusterEnv", "env", "parallel_env", "raw_env"]
