"""Paper artifacts (tables and figures): a module of this package that declares ``ARTIFACT``.

The ``ARTIFACT`` object carries its ``name`` (``gs-table1``); see :mod:`unlearnbench.plugins`.
A figure that tiles arrays saved beside the run JSONs names their suffixes in its
``figure_arrays`` attribute, so the workflow asks for them without a list of artifacts.
"""

from __future__ import annotations

from typing import Any

from unlearnbench.plugins import Registry, declared_object

REGISTRY: Registry[Any] = Registry("artifact", __name__, "ARTIFACT", declared_object)


def artifact_names() -> list[str]:
    """Every artifact's name, gradient-surgery (gs-) before L-CODEC (lc-), then by name."""
    return sorted(REGISTRY.names(), key=lambda n: (not n.startswith("gs-"), n))


def get_artifact(name: str) -> Any:
    return REGISTRY.get(name)


def all_artifacts() -> list[Any]:
    return [get_artifact(name) for name in artifact_names()]


def figure_arrays(name: str) -> tuple[str, ...]:
    """Suffixes of the arrays beside each run JSON that the figure of ``name`` tiles (often none)."""
    return tuple(getattr(get_artifact(name), "figure_arrays", ()))
