"""A benchmark others score against: versioned tasks, ``score(policy, task)``, reference results, leaderboard."""
