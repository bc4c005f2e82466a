"""Run variants of the class/identity removal kinds: one run per (method, epsilon[, target]).

The workflow's run path is ``runs/<experiment>/<method>/seed<k>.json``; the LEDGAR and
re-identification experiments sweep the privacy parameter epsilon (and, for LEDGAR, the
removed label) for each configured method, so the ``method`` path component names the
variant, e.g. ``lcodec_eps0.1_governing-laws``. Variants are enumerated from the config
(never parsed from the string), so a name that is not configured is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Variant:
    name: str
    method: str
    epsilon: float
    target: str | None = None  # the removed label (LEDGAR); None for re-ID


def slug(text: str) -> str:
    """``Governing Laws`` -> ``governing-laws`` (a path-safe label)."""
    out = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    if not out:
        raise ValueError(f"cannot make a path-safe name from {text!r}")
    return out


def variants(settings: Mapping[str, Any], targets: Sequence[str] | None = None) -> dict[str, Variant]:
    """Every configured variant by name: ``methods`` x ``epsilons`` (x ``targets``)."""
    epsilons = [float(e) for e in settings.get("epsilons") or []]
    if not epsilons:
        raise ValueError("the experiment needs a non-empty list `epsilons`")
    out: dict[str, Variant] = {}
    for method in settings.get("methods") or {}:
        for eps in epsilons:
            for target in targets if targets is not None else [None]:
                name = f"{method}_eps{eps:g}" + (f"_{slug(target)}" if target is not None else "")
                if name in out:
                    raise ValueError(f"two variants share the name {name!r}; make epsilons/labels distinct")
                out[name] = Variant(name, method, eps, target)
    return out


def find_variant(settings: Mapping[str, Any], name: str, targets: Sequence[str] | None = None) -> Variant:
    known = variants(settings, targets)
    if name not in known:
        raise ValueError(f"run variant {name!r} is not configured; configured: {', '.join(known)}")
    return known[name]


def hyperparameters(settings: Mapping[str, Any], variant: Variant, l2_lambda: float) -> dict[str, Any]:
    """``unlearning`` (shared) updated by ``methods.<method>``, with the variant's epsilon."""
    hp = dict(settings.get("unlearning") or {})
    hp.update((settings.get("methods") or {}).get(variant.method) or {})
    hp["epsilon"] = variant.epsilon
    hp.setdefault("l2_lambda", float(l2_lambda))
    return hp


