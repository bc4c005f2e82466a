"""The Newton machinery sits below the method registry: no import cycle between the two.

The methods in ``unlearnbench.unlearning`` call ``unlearnbench.newton.pipeline``; the
pipeline only needs the request types, which live in ``unlearnbench.request`` (importing
``unlearnbench.unlearning.base`` would run the package, which imports every method, which
imports the half-initialised pipeline).
"""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import unlearnbench

SRC = Path(unlearnbench.__file__).parent
#: Modules below both packages: they must import neither.
SHARED = ("request", "perturbations")

FRESH_IMPORTS = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "unlearnbench" or m.startswith("unlearnbench.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules(package: str) -> list[str]:
    return [f"unlearnbench.{package}"] + [
        f"unlearnbench.{package}.{m.name}" for m in pkgutil.iter_modules([str(SRC / package)])
    ]


def _imported(path: Path) -> set[str]:
    """Every module name an ``import`` or ``from ... import`` of ``path`` names, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_every_module_can_be_imported_first():
    """Each module of both packages, imported first in a clean interpreter (a cycle fails one order)."""
    modules = [f"unlearnbench.{m}" for m in SHARED] + _modules("newton") + _modules("unlearning")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS, *modules], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_newton_and_the_shared_types_never_import_the_method_registry():
    offenders = []
    paths = [*(SRC / "newton").glob("*.py"), *(SRC / f"{m}.py" for m in SHARED)]
    for path in paths:
        bad = sorted(n for n in _imported(path) if _under(n, "unlearnbench.unlearning"))
        if path.stem in SHARED:
            bad += sorted(n for n in _imported(path) if _under(n, "unlearnbench.newton"))
        if bad:
            offenders.append(f"{path.relative_to(SRC)}: {bad}")
    assert not offenders, offenders
