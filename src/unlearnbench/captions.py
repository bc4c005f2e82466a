"""Notes that an artifact's caption and status line must carry about how its numbers were made.

The finite-difference Hessian (``hessian: finite-difference``, the paper's Alg. 1 step 3 as
the authors code it) is not an estimate of the Hessian: its rank-one term
``(g_a - g_b)(g_a - g_b)^T / ||w_a - w_b||_1`` is proportional to the step between the two
points (pinned by ``tests/test_newton_linalg.py``), so the damped update is close to a gradient
step scaled by 1/lambda. Every table or figure whose runs use it says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FINITE_DIFFERENCE_CAVEAT = (
    "finite-difference Hessian (the authors' rank-one term, which shrinks linearly with its step, "
    "so the update is close to a gradient step scaled by 1/lambda)"
)
#: Methods whose update does not use the ``hessian`` setting.
_NO_BLOCK_HESSIAN = frozenset({"retrain", "newton-kfac"})


def finite_difference_users(experiments: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``experiment/method`` for every configured Newton method whose ``hessian`` is ``finite-difference``."""
    users = []
    for name, settings in experiments.items():
        shared = settings.get("unlearning") or {}
        methods = settings.get("methods") or {}
        if not isinstance(methods, Mapping):  # some kinds list method names only
            methods = dict.fromkeys(methods)
        for method, own in methods.items():
            if method in _NO_BLOCK_HESSIAN:
                continue
            if {**shared, **(own or {})}.get("hessian", "exact") == "finite-difference":
                users.append(f"{name}/{method}")
    return users


def with_hessian_note(status: str, experiments: Mapping[str, Mapping[str, Any]]) -> str:
    """``status`` plus the finite-difference caveat, naming the runs it applies to (unchanged if none)."""
    users = finite_difference_users(experiments)
    if not users:
        return status
    return f"{status}. Uses the {FINITE_DIFFERENCE_CAVEAT}: {', '.join(users)}"
