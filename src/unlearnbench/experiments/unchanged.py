"""The run-JSON record of removals that left the model unchanged.

A Newton removal can change nothing: L-FOCI selected no slice under ``empty_selection:
allow-empty``, no slice activation varied, or the step and the noise were both zero. The
method says so in its diagnostics (``unchanged``, ``selection_note``); every experiment kind
that removes samples one after another lists those removals, so a curve that stays flat
because nothing was done cannot pass for a method that preserved the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def unchanged_entry(
    diagnostics: Mapping[str, Any], indices: Sequence[int], removals_so_far: int
) -> dict[str, Any] | None:
    """A record of this removal when the method reports that it changed nothing, else None."""
    if not diagnostics.get("unchanged"):
        return None
    return {
        "removals_so_far": int(removals_so_far),
        "indices": [int(i) for i in indices],
        "reason": diagnostics.get("selection_note") or "zero step and no noise",
    }


def unchanged_summary(unchanged: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The run-JSON fields: ``n_unchanged_removals`` and the list ``unchanged_removals``."""
    return {"n_unchanged_removals": len(unchanged), "unchanged_removals": [dict(u) for u in unchanged]}
