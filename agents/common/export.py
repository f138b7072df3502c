"""A head policy as a ``HeadRule`` (plain arrays) for the compiled decision loop (``srole_env.core.head_kernel``).

``head_rule(policy)`` reads public attributes only: a policy with ``head_rule()`` gives its own (the greedy head
does); a Q-network policy (``net``: a torch ``nn.Sequential`` of ``Linear`` layers with ``ReLU``/``Tanh`` between,
or a dueling module with ``trunk``/``value``/``advantage``; ``mask_actions``) has its weights copied out; so has an
SB3 policy (``model``: PPO or MaskablePPO with a flattening feature extractor, whose actor
``mlp_extractor.policy_net`` + ``action_net`` gives the logits, or DQN, whose ``q_net.q_net`` gives the Q-values;
``use_mask``). Greedy on probabilities is greedy on logits, and near ties go back to the policy anyway. Any
other policy gives None, and the caller steps the head env one decision at a time as before. The copy is taken
once per evaluation; the policy is not changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from srole_env.core.head_kernel import HeadRule


def head_rule(policy: Any) -> HeadRule | None:
    """The policy's ``HeadRule``, or None when it cannot be expressed as one (module docstring)."""
    own = getattr(policy, "head_rule", None)
    if callable(own):
        rule = own()
        return rule if isinstance(rule, HeadRule) else None
    if getattr(policy, "model", None) is not None and getattr(policy, "net", None) is None:
        return _sb3(policy.model, bool(getattr(policy, "use_mask", False)))
    net = getattr(policy, "net", None)
    if net is None or not hasattr(net, "modules"):
        return None
    mask_actions = bool(getattr(policy, "mask_actions", True))
    parsed = _sequential(net)
    if parsed is not None:
        weights, biases, act = parsed
        return HeadRule("mlp", tuple(weights), tuple(biases), act, False, mask_actions)
    parsed = _dueling(net)
    if parsed is not None:
        weights, biases, act = parsed
        return HeadRule("mlp", tuple(weights), tuple(biases), act, True, mask_actions)
    return None


def _sb3(model: Any, use_mask: bool) -> HeadRule | None:
    """The actor (PPO, MaskablePPO) or Q-network (DQN) of an SB3 model with a flattening feature extractor."""
    sb3_policy = getattr(model, "policy", None)
    q_net = getattr(model, "q_net", None)
    if q_net is not None:  # DQN: QNetwork(features_extractor, q_net)
        extractor, layers = getattr(q_net, "features_extractor", None), _layers(getattr(q_net, "q_net", None))
    elif sb3_policy is not None and hasattr(sb3_policy, "mlp_extractor") and hasattr(sb3_policy, "action_net"):
        extractor = getattr(sb3_policy, "pi_features_extractor", None)
        extractor = extractor if extractor is not None else getattr(sb3_policy, "features_extractor", None)
        actor = _layers(getattr(sb3_policy.mlp_extractor, "policy_net", None))
        head = _layers(sb3_policy.action_net)
        layers = None if actor is None or head is None else actor + head
    else:
        return None
    if type(extractor).__name__ != "FlattenExtractor" or not layers:
        return None
    parsed = _split(layers, trailing_activation=False)
    if parsed is None:
        return None
    weights, biases, act = parsed
    return HeadRule("mlp", tuple(weights), tuple(biases), act or "relu", False, use_mask)


def _layers(module: Any) -> list[Any] | None:
    """The children of an ``nn.Sequential`` (or a lone ``Linear``) as a flat list, None for anything else."""
    import torch.nn as nn

    if module is None:
        return None
    if isinstance(module, nn.Linear):
        return [module]
    if isinstance(module, nn.Identity):
        return []
    if type(module) is not nn.Sequential and not getattr(type(module), "sequential_maths", False):
        return None  # a subclass may change forward; only one that declares nn.Sequential's maths is read
    out: list[Any] = []
    for child in module:
        inner = _layers(child) if isinstance(child, nn.Sequential) else [child]
        if inner is None:
            return None
        out += inner
    return out


def _split(layers: list[Any], trailing_activation: bool) -> tuple[list, list, str | None] | None:
    """``Linear (act Linear)*`` (then ``act`` if ``trailing_activation``) with one activation kind: the weights,
    biases and activation name, None for any other pattern."""
    import torch.nn as nn

    kinds = {nn.ReLU: "relu", nn.Tanh: "tanh"}
    if not layers or len(layers) % 2 != (0 if trailing_activation else 1):
        return None
    weights, biases, acts = [], [], set()
    for i, layer in enumerate(layers):
        if i % 2 == 0:
            if not isinstance(layer, nn.Linear) or layer.bias is None:
                return None
            weights.append(layer.weight.detach().cpu().numpy().astype(np.float32))
            biases.append(layer.bias.detach().cpu().numpy().astype(np.float32))
        elif type(layer) in kinds:
            acts.add(kinds[type(layer)])
        else:
            return None
    if len(acts) > 1:
        return None
    return weights, biases, acts.pop() if acts else None


def _sequential(net: Any) -> tuple[list, list, str] | None:
    layers = _layers(net)
    parsed = _split(layers, trailing_activation=False) if layers else None
    if parsed is None:
        return None
    weights, biases, act = parsed
    return weights, biases, act or "relu"


def _dueling(net: Any) -> tuple[list, list, str] | None:
    """``DuelingQ``: trunk (Linear/act ... Linear or Identity), then value and advantage heads that start with the
    activation when the trunk has layers."""
    import torch.nn as nn

    trunk, value, adv = (getattr(net, name, None) for name in ("trunk", "value", "advantage"))
    if not all(isinstance(x, nn.Module) for x in (trunk, value, adv)):
        return None
    t_layers, v_layers, a_layers = _layers(trunk), _layers(value), _layers(adv)
    if t_layers is None or v_layers is None or a_layers is None:
        return None
    if t_layers:  # trunk Linear (act Linear)*, then act inside each head: every trunk layer is followed by it
        if len(v_layers) != 2 or len(a_layers) != 2 or type(v_layers[0]) is not type(a_layers[0]):
            return None
        parsed = _split(t_layers + [v_layers[0]], trailing_activation=True)
        heads = [v_layers[1], a_layers[1]]
    else:
        parsed, heads = ([], [], None), [*v_layers, *a_layers]
    if parsed is None or len(heads) != 2 or not all(isinstance(h, nn.Linear) and h.bias is not None for h in heads):
        return None
    weights, biases, act = parsed
    for h in heads:
        weights.append(h.weight.detach().cpu().numpy().astype(np.float32))
        biases.append(h.bias.detach().cpu().numpy().astype(np.float32))
    return weights, biases, act or "relu"
