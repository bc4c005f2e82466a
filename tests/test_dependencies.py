"""Declared dependencies are the ones the code uses: nothing declared and never imported, nothing imported undeclared."""

from __future__ import annotations

import ast
import re
import sys

import tomllib

#: Import name of a distribution where it differs from the name with ``-`` read as ``_``.
IMPORT_NAMES = {"scikit-learn": "sklearn", "pyyaml": "yaml", "pillow": "PIL", "opencv-python-headless": "cv2"}
#: Declared although no module of ours imports them, and why.
NEEDED_BY_OTHERS = {
    "opencv-python-headless": "torchreid imports it without declaring it",
    "gdown": "torchreid imports it without declaring it",
    "tensorboard": "torchreid imports it without declaring it",
    "tabulate": "pandas.DataFrame.to_markdown (tables' markdown)",
    "snakemake": "runs the workflow (Snakefile, workflow/rules)",
}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def _imported_modules(files) -> set[str]:
    """Top-level names of every absolute import in ``files``."""
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def _declared(repo_root) -> dict[str, str]:
    """Declared distribution -> its import name."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    names = [_requirement_name(r) for r in project["dependencies"]]
    return {name: IMPORT_NAMES.get(name, name.replace("-", "_")) for name in names}


def test_every_declared_dependency_is_imported_or_needed_by_one_that_is(repo_root):
    imported = _imported_modules((repo_root / "src").rglob("*.py"))
    unused = {
        name
        for name, module in _declared(repo_root).items()
        if module not in imported and name not in NEEDED_BY_OTHERS
    }
    assert unused == set(), f"declared in pyproject.toml but never imported: {sorted(unused)}"


def test_every_imported_package_is_declared(repo_root):
    imported = _imported_modules((repo_root / "src").rglob("*.py")) - set(sys.stdlib_module_names)
    undeclared = imported - set(_declared(repo_root).values()) - {"unlearnbench"}
    assert undeclared == set(), f"imported by src/ but not declared in pyproject.toml: {sorted(undeclared)}"


def test_snakemake_is_imported_by_the_workflow(repo_root):
    """Keep that reason honest: the Snakefile (Snakemake syntax, not Python) imports from snakemake."""
    text = (repo_root / "Snakefile").read_text()
    assert re.search(r"^\s*(from|import) snakemake\b", text, flags=re.MULTILINE)
