"""The one interface every claim predicate implements, and the registry that finds it by claim id.

A claim (``config/claims.yaml``) is data: its source sentence, its predicate in words, its
thresholds. Its predicate is code: one function per claim id, registered with
``@register(claim_id, reads={table: [columns]})`` in the style of the unlearning methods.
The function receives the tables it declared (already checked to exist and to carry the
declared columns, stand-in rows already dropped for ``data: real`` claims) and the claim's
thresholds, and returns a :class:`Verdict`. It reads tables only, never runs: figures read
tables, and so do claims.

``reads`` is declared up front so that a missing table or quantity becomes "not measured
here: <what is missing>" before the predicate runs, never a crash and never a silent pass;
a predicate that finds the table lacks something finer (a row, a second epsilon) raises
:class:`NotMeasured` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

HOLDS = "holds"
FAILS = "fails"
NOT_MEASURED = "not measured here"
STATUSES = (HOLDS, FAILS, NOT_MEASURED)

Tables = Mapping[str, pd.DataFrame]
Thresholds = Mapping[str, Any]


class NotMeasured(Exception):
    """The tables cannot decide the claim; the message says what is missing."""


@dataclass(frozen=True)
class Verdict:
    """holds | fails | not measured here, the numbers a reader can check, and why not measured.

    ``parts`` holds the verdict of each part of a claim judged per part (per table column,
    per experiment): the claim holds when every measured part holds.
    """

    status: str
    measured: str = ""
    reason: str = ""
    stand_in: bool = False
    parts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict status must be one of {STATUSES}, got {self.status!r}")

    @classmethod
    def decide(cls, ok: bool, measured: str, parts: Mapping[str, str] | None = None) -> Verdict:
        return cls(HOLDS if ok else FAILS, measured=measured, parts=dict(parts or {}))

    @classmethod
    def not_measured(cls, reason: str, measured: str = "") -> Verdict:
        return cls(NOT_MEASURED, measured=measured, reason=reason)

    def on_stand_in(self, stand_in: bool) -> Verdict:
        return replace(self, stand_in=stand_in) if self.status != NOT_MEASURED else self

    @property
    def label(self) -> str:
        """The verdict as the report prints it."""
        if self.status == NOT_MEASURED:
            return f"{NOT_MEASURED}: {self.reason}"
        return f"{self.status} (on stand-in data)" if self.stand_in else self.status


@dataclass(frozen=True)
class Predicate:
    claim_id: str
    func: Callable[[Tables, Thresholds], Verdict]
    reads: Mapping[str, Sequence[str]]

    def __call__(self, tables: Tables, thresholds: Thresholds) -> Verdict:
        return self.func(tables, thresholds)


_REGISTRY: dict[str, Predicate] = {}


def register(
    claim_id: str, reads: Mapping[str, Sequence[str]]
) -> Callable[[Callable[[Tables, Thresholds], Verdict]], Callable[[Tables, Thresholds], Verdict]]:
    """Function decorator: the predicate of ``claim_id``, reading ``reads`` (table -> columns it needs)."""

    def decorate(func: Callable[[Tables, Thresholds], Verdict]) -> Callable[[Tables, Thresholds], Verdict]:
        if claim_id in _REGISTRY:
            raise ValueError(f"claim predicate {claim_id!r} is registered twice")
        _REGISTRY[claim_id] = Predicate(claim_id, func, {t: list(c) for t, c in reads.items()})
        return func

    return decorate


def get_predicate(claim_id: str) -> Predicate:
    from unlearnbench import claims  # noqa: F401  (imports every predicate module)

    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise KeyError(
            f"no predicate for claim {claim_id!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def available_claims() -> list[str]:
    from unlearnbench import claims  # noqa: F401

    return sorted(_REGISTRY)


def threshold(thresholds: Thresholds, key: str) -> float:
    """One threshold of claims.yaml; a missing one is an error naming the key (never a default)."""
    try:
        return float(thresholds[key])
    except KeyError:
        raise KeyError(f"claims.yaml: threshold {key!r} is missing") from None
