"""Simulator core shared by both environment views: config-driven topology, workload, cost model, state."""
