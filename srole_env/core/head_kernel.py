"""The cluster head's decision loop in one compiled call per round (numba when installed, else plain Python).

``CentralizedSchedulingEnv.step`` makes one decision per call: observation of the deciding edge's request
from the state the head holds, the policy, the mask, the placement that updates that state. Evaluating a
head at N = 10,000 means about 1,600 decisions per round, so the per-call overhead (Python, a torch
forward of batch 1) dominates. ``decide`` runs the same loop for a whole round over plain arrays: the
observation (the parallel env's local features with this round's earlier placements counted, the head's
per-candidate and cluster features, ``srole_env.centralized``), the rule, the mask and the commit, with the
arithmetic of the per-decision path in the same order, so it takes the same decisions.

Rules (``HeadRule``): ``earliest_finish`` (``agents.baselines.crl_greedy``: exact, the same float64 operations
on the same float32 features) or ``mlp``: a small network exported from torch (``agents.common.export``),
a stack of linear layers with ReLU or Tanh, optionally a dueling head (Q = V + A - mean A), evaluated in
float64 and rounded to float32 per layer. That is not bit-identical to torch's float32 kernels, so where
the two best scores of a decision are within ``NEAR_TIE`` (relative) of each other the loop stops and hands
that one decision back to the caller, who lets the torch policy itself decide (``decide`` returns its index);
elsewhere the gap is orders of magnitude beyond the two evaluations' float32 rounding differences, so the
argmax is the same.

Without numba (or with ``SROLE_NUMBA=0``) the same function runs as Python: the same decisions, slower than
the per-decision env. Compiled on first use (``cache=True``: numba's on-disk cache), as ``shields.kernel``.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NEAR_TIE = 1e-4
"""Relative gap between a learned rule's two best scores below which the torch policy decides instead (module
docstring); float32 rounding differences between two evaluations of a 64-128 wide MLP are about 1e-6."""

RULE_KINDS = ("earliest_finish", "mlp")
ACTIVATIONS = ("relu", "tanh")

_compiled: Any = None


@dataclass(frozen=True)
class HeadRule:
    """A head decision rule as plain arrays for ``decide``.

    ``kind``: ``earliest_finish`` or ``mlp``. For ``mlp``: ``weights`` [out, in] and ``biases`` [out] float32 per
    linear layer in order; ``activation`` after every hidden layer; ``dueling``: the last two layers are the
    value (1 output) and advantage heads, both reading the trunk's activated output; ``mask_actions``: masked
    actions score ``masked_score`` (as the learner's greedy policy) instead of their Q-value.
    """

    kind: str
    weights: tuple[np.ndarray, ...] = ()
    biases: tuple[np.ndarray, ...] = ()
    activation: str = "relu"
    dueling: bool = False
    mask_actions: bool = True
    masked_score: float = -1e9
    packed: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"HeadRule.kind must be one of {RULE_KINDS}, got {self.kind!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"HeadRule.activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        w = [np.ascontiguousarray(x, dtype=np.float32) for x in self.weights]
        b = [np.ascontiguousarray(x, dtype=np.float32).ravel() for x in self.biases]
        if self.kind == "mlp":
            if not w or len(w) != len(b) or (self.dueling and len(w) < 2):
                raise ValueError(f"HeadRule: an mlp needs matching weights and biases (got {len(w)} and {len(b)})")
            for i, (wi, bi) in enumerate(zip(w, b)):
                if wi.ndim != 2 or bi.shape != (wi.shape[0],):
                    raise ValueError(f"HeadRule: layer {i} has weight {wi.shape} and bias {bi.shape}")
            trunk = len(w) - 2 if self.dueling else len(w)
            for i in range(1, trunk):
                if w[i].shape[1] != w[i - 1].shape[0]:
                    raise ValueError(f"HeadRule: layer {i} takes {w[i].shape[1]} inputs, layer {i - 1} gives "
                                     f"{w[i - 1].shape[0]}")
        out_dims = np.array([x.shape[0] for x in w], dtype=np.int64)
        in_dims = np.array([x.shape[1] for x in w], dtype=np.int64)
        w_off = np.concatenate([[0], np.cumsum(out_dims * in_dims)]).astype(np.int64)
        b_off = np.concatenate([[0], np.cumsum(out_dims)]).astype(np.int64)
        # [in, out] per layer, in float64 (exact: every float32 is a float64) so the products need no conversion
        flat_w = np.concatenate([x.T.ravel() for x in w]).astype(np.float64) if w else np.zeros(0)
        flat_b = np.concatenate(b) if b else np.zeros(0, np.float32)
        object.__setattr__(self, "packed", (flat_w, flat_b, in_dims, out_dims, w_off, b_off))

    @property
    def exact(self) -> bool:
        """True when ``decide`` reproduces the rule's per-decision scores bit for bit (no near-tie hand-back)."""
        return self.kind == "earliest_finish"

    def check_fits(self, obs_dim: int, n_actions: int) -> None:
        """``ValueError`` when an mlp rule's input/output sizes differ from the head env's."""
        if self.kind != "mlp":
            return
        d_in = int(self.weights[0].shape[1])
        d_out = int(self.weights[-1].shape[0])
        if d_in != obs_dim or d_out != n_actions or (self.dueling and int(self.weights[-2].shape[0]) != 1):
            raise ValueError(f"HeadRule: the network maps {d_in} inputs to {d_out} scores, the head env has "
                             f"observations of {obs_dim} and {n_actions} actions")


def available() -> bool:
    """True when the compiled loop can be used (numba installed, not disabled by ``SROLE_NUMBA=0``)."""
    return os.environ.get("SROLE_NUMBA", "1") != "0" and importlib.util.find_spec("numba") is not None


def decide(*args: Any) -> tuple[int, float]:
    """``_decide`` compiled (when ``available()``) or as Python; returns ``(position reached, mem_sum)``."""
    global _compiled
    if not available():
        return _decide(*args)
    if _compiled is None:
        from numba import njit

        small = ("_clip", "_digitize", "_interp")
        helpers = {name: njit(cache=True, inline="always")(globals()[name]) for name in small}
        helpers["_linear"] = njit(cache=True)(_linear)
        globals().update(helpers)  # _decide's calls resolve to the compiled helpers
        _compiled = njit(cache=True, nogil=True)(_decide)
    return _compiled(*args)


def _decide(start, order, base_obs, cand, slots, mem, extra_slots, extra_mem, slot_limit, mem_limit, cores,
            memory, flops, units, h_flops, h_mem, use_override, override, ratios, eff, load, load_bins, load_hist,
            mem_sum, reach, queue_norm, cluster_fixed, head, head_slots, backlog_frac, done_frac, joint, kind,
            flat_w, flat_b, in_dims, out_dims, w_off, b_off, tanh, dueling, mask_actions, masked_score,
            near_tie, obs_high, stop, record, out_obs, out_mask, rand, eps):  # pragma: no cover (compiled;
    # tests/test_head_kernel.py runs both forms)
    """Decisions ``start..stop`` of the round in service order (see ``CentralizedSchedulingEnv.decide_round``).

    Updates ``extra_slots``, ``extra_mem``, ``load``, ``load_hist``, ``reach`` and ``joint`` as the env's ``step``
    does; stops before a learned rule's near tie. Returns the position reached and the updated ``mem_sum``.
    With ``record`` (a learner collecting, ``CentralizedSchedulingEnv.collect_round``) each decision's observation
    and mask go to ``out_obs``/``out_mask`` [m, D]/[m, A] and it explores epsilon-greedily as ``IDQN.explore``
    does from the row ``rand[pos]`` [A + 1]: explore when ``rand[pos, A] < eps[pos]``, then the first argmax
    of ``rand[pos, :A]`` times the allowed actions (an explored decision is never a near tie).
    """
    m = len(order)
    n_edges = len(load)
    c_count = cand.shape[1]
    d_local = base_obs.shape[1]
    d = d_local + 2 * c_count + len(load_hist) + 7
    n_layers = len(in_dims)
    n_bins = len(load_bins)
    width = d
    for i in range(n_layers):
        width = max(width, out_dims[i], in_dims[i])
    obs = np.empty(d, dtype=np.float32)
    mask = np.zeros(c_count + 1, dtype=np.bool_)
    act_a = np.empty(width, dtype=np.float32)
    act_b = np.empty(width, dtype=np.float32)
    acc = np.empty(width, dtype=np.float64)
    scores = np.empty(c_count + 1, dtype=np.float64)
    own = 6
    per = 6
    extra_base = own + per * c_count
    cluster_base = extra_base + 2 * c_count
    pos = start
    while pos < stop:
        agent = order[pos]
        # ---- observation: the round-start local features, with the load-dependent ones recomputed
        for j in range(d_local):
            obs[j] = base_obs[pos, j]
        for c in range(c_count):
            e = cand[agent, c]
            s = slots[e] + extra_slots[e]
            mm = mem[e] + extra_mem[e]
            k = max(s + 1.0, 1.0)
            ratio = k / cores[e]
            if use_override:
                eta = override if ratio > 1.0 else 1.0
            else:
                eta = _interp(ratio, ratios, eff)
            speed = flops[e] / max(k, units[e]) * eta
            est = h_flops[pos] / speed
            fits = (s + 1.0 <= slot_limit[e]) and (mm + h_mem[pos] <= mem_limit[e])
            mask[c] = fits
            b = own + per * c
            obs[b + 0] = _clip(s / cores[e], obs_high)
            obs[b + 1] = _clip(mm / memory[e], obs_high)
            obs[b + 4] = _clip(math.log1p(est) / 10.0, obs_high)
            obs[b + 5] = 1.0 if fits else 0.0
            obs[extra_base + 2 * c] = _clip((reach[e] - 1) / cores[e], obs_high)
            obs[extra_base + 2 * c + 1] = _clip(queue_norm[e], obs_high)
        mask[c_count] = True
        nb = len(load_hist)
        for j in range(nb):
            obs[cluster_base + j] = _clip(load_hist[j] / n_edges, obs_high)
        obs[cluster_base + nb] = _clip(mem_sum / n_edges, obs_high)
        obs[cluster_base + nb + 1] = _clip(cluster_fixed[0], obs_high)
        obs[cluster_base + nb + 2] = _clip(cluster_fixed[1], obs_high)
        obs[cluster_base + nb + 3] = _clip(1.0 - pos / m, obs_high)
        obs[cluster_base + nb + 4] = _clip((head_slots + extra_slots[head]) / cores[head], obs_high)
        obs[cluster_base + nb + 5] = _clip(backlog_frac, obs_high)
        obs[cluster_base + nb + 6] = _clip(done_frac[pos], obs_high)

        if record:
            for j in range(d):
                out_obs[pos, j] = obs[j]
            for o in range(c_count + 1):
                out_mask[pos, o] = mask[o]
        explored = record and rand[pos, c_count + 1] < eps[pos]

        # ---- the rule's scores [C + 1]
        if explored:
            best = 0
            best_u = rand[pos, 0] if (mask[0] or not mask_actions) else 0.0
            for o in range(1, c_count + 1):
                u = rand[pos, o] if (mask[o] or not mask_actions) else 0.0
                if u > best_u:
                    best = o
                    best_u = u
        elif kind == 0:  # earliest finish (agents.baselines.crl_greedy.EarliestFinishHead.preferences)
            for c in range(c_count):
                if mask[c]:
                    b = own + per * c
                    finish = math.expm1(5.0 * np.float64(obs[b + 3])) + math.expm1(10.0 * np.float64(obs[b + 4]))
                    scores[c] = -finish
                else:
                    scores[c] = -np.inf
            scores[c_count] = -1.7976931348623157e308
        else:
            for j in range(d):
                act_a[j] = obs[j]
            trunk = n_layers - 2 if dueling else n_layers
            for layer in range(trunk):
                _linear(flat_w, flat_b, w_off[layer], b_off[layer], in_dims[layer], out_dims[layer], act_a, acc)
                last_plain = (not dueling) and layer == trunk - 1
                for o in range(out_dims[layer]):
                    v = np.float32(acc[o])
                    if not last_plain:
                        if tanh:
                            v = np.float32(math.tanh(v))
                        elif v < 0:
                            v = np.float32(0.0)
                    act_a[o] = v
                out_dims[layer]
            if dueling:
                vo = n_layers - 2
                _linear(flat_w, flat_b, w_off[vo], b_off[vo], in_dims[vo], 1, act_a, acc)
                value = np.float32(acc[0])
                ao = n_layers - 1
                _linear(flat_w, flat_b, w_off[ao], b_off[ao], in_dims[ao], c_count + 1, act_a, acc)
                adv_sum = 0.0
                for o in range(c_count + 1):
                    act_b[o] = np.float32(acc[o])
                    adv_sum += np.float64(act_b[o])
                adv_mean = np.float32(adv_sum / (c_count + 1))
                for o in range(c_count + 1):
                    act_a[o] = np.float32(np.float32(value + act_b[o]) - adv_mean)
            for o in range(c_count + 1):
                q = np.float64(act_a[o])
                scores[o] = q if (not mask_actions or mask[o]) else masked_score
        if not explored:
            best = 0
            for o in range(1, c_count + 1):
                if scores[o] > scores[best]:
                    best = o
        if kind != 0 and not explored:
            second = -np.inf
            for o in range(c_count + 1):
                if o != best and scores[o] > second:
                    second = scores[o]
            if scores[best] - second <= near_tie * max(1.0, abs(scores[best])):
                return pos, mem_sum  # the caller's torch policy decides this one

        # ---- commit (CentralizedSchedulingEnv.step / _commit)
        joint[agent] = best
        if best < c_count:
            target = cand[agent, best]
            extra_slots[target] += 1.0
            extra_mem[target] += h_mem[pos]
            old = load[target]
            new = old + 1.0 / slot_limit[target]
            load[target] = new
            load_hist[_digitize(old, load_bins, n_bins)] -= 1
            load_hist[_digitize(new, load_bins, n_bins)] += 1
            mem_sum += h_mem[pos] / mem_limit[target]
        for c in range(c_count):
            reach[cand[agent, c]] -= 1
        pos += 1
    return pos, mem_sum


def _linear(flat_w, flat_b, wo, bo, n_in, n_out, x, acc):  # pragma: no cover
    """``acc[:n_out] = W x + b`` in float64 for the layer whose transposed weights [in, out] start at ``flat_w[wo]``
    (output-major inner loop: independent sums, so the compiler vectorises it without reordering any sum)."""
    for o in range(n_out):
        acc[o] = 0.0
    for q in range(n_in):
        xq = np.float64(x[q])
        w_row = flat_w[wo + q * n_out : wo + (q + 1) * n_out]  # a view: the compiler then vectorises the loop
        for o in range(n_out):
            acc[o] += w_row[o] * xq
    for o in range(n_out):
        acc[o] += np.float64(flat_b[bo + o])


def _clip(x, high):  # pragma: no cover (inlined by numba)
    return min(max(x, 0.0), high)


def _digitize(x, bins, n):  # pragma: no cover
    """``np.digitize(x, bins)`` for increasing ``bins``: how many bins are <= x."""
    j = 0
    while j < n and bins[j] <= x:
        j += 1
    return j


def _interp(x, xp, fp):  # pragma: no cover
    """``np.interp(x, xp, fp, left=1.0, right=fp[-1])`` with NumPy's own arithmetic (``arr_interp``)."""
    n = len(xp)
    if x > xp[n - 1]:
        return fp[n - 1]
    if x < xp[0]:
        return 1.0
    lo = 0
    hi = n - 1
    if x == xp[n - 1]:
        return fp[n - 1]
    while hi - lo > 1:  # largest j with xp[j] <= x
        mid = (lo + hi) // 2
        if xp[mid] <= x:
            lo = mid
        else:
            hi = mid
    j = lo
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    res = slope * (x - xp[j]) + fp[j]
    if math.isnan(res):
        res = slope * (x - xp[j + 1]) + fp[j + 1]
        if math.isnan(res) and fp[j] == fp[j + 1]:
            res = fp[j]
    return res
