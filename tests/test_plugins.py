"""The one plug-in style: artifacts, experiment kinds, methods, dataset kinds and models.

Each type is a :class:`~unlearnbench.plugins.Registry` filled by importing every module of its
subpackage (nothing is listed by hand) and by the entry points of a separate package.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import torch

import unlearnbench.artifacts as artifacts
import unlearnbench.data.registry as data_registry
import unlearnbench.experiments as experiments
import unlearnbench.models as models
import unlearnbench.unlearning.base as unlearning_base
from unlearnbench.config import load_config
from unlearnbench.data import load_dataset, prepare_dataset
from unlearnbench.plugins import Registry, UnknownPluginError

#: Each plug-in type: (the module holding its registry, the subpackage's folder, what a plug-in declares).
TYPES = {
    "artifact": (artifacts, "artifacts", "ARTIFACT"),
    "experiment kind": (experiments, "experiments", "KIND"),
    "unlearning method": (unlearning_base, "unlearning", "METHODS"),
    "dataset kind": (data_registry, "data", "KIND"),
    "model": (models, "models", "MODELS"),
}
SRC = Path(artifacts.__file__).resolve().parents[1]  # src/unlearnbench


def _declaring_modules(folder: str, attribute: str) -> set[str]:
    """Read from the source text, independently of the registry: modules with a top-level declaration."""
    found = set()
    for path in sorted((SRC / folder).glob("*.py")):
        if re.search(rf"^{attribute}(: [^=]+)? = ", path.read_text(), flags=re.MULTILINE):
            found.add(f"unlearnbench.{folder}.{path.stem}")
    return found


@pytest.mark.parametrize("what", list(TYPES))
def test_every_declaring_module_of_the_subpackage_is_discovered(what):
    holder, folder, attribute = TYPES[what]
    registry = holder.REGISTRY
    discovered = {registry.module_of(name).__name__ for name in registry.names()}
    assert discovered == _declaring_modules(folder, attribute)
    assert registry.what == what


def test_helper_modules_are_no_artifacts_and_every_artifact_resolves():
    names = artifacts.artifact_names()
    assert not {"base", "figures", "summaries", "common"} & set(names)
    assert [a.name for a in artifacts.all_artifacts()] == names
    assert names.index("gs-table1") < names.index("lc-d4-kfac")  # gradient-surgery first


@pytest.mark.parametrize(
    ("lookup", "unknown", "known"),
    [
        (lambda n: artifacts.get_artifact(n), "gs-table9", "gs-table1"),
        (lambda n: experiments.get_kind(n), "sequential-remova", "sequential-removal"),
        (lambda n: unlearning_base.get_method(n), "newton-ful", "newton-full"),
        (lambda n: data_registry.REGISTRY.get(n), "mnits", "mnist"),
        (lambda n: models.build_model(n), "resnet-18", "resnet18"),
    ],
)
def test_an_unknown_name_is_an_error_listing_the_known_names(lookup, unknown, known):
    with pytest.raises(KeyError) as error:
        lookup(unknown)
    assert isinstance(error.value, UnknownPluginError)
    message = str(error.value)
    assert message.startswith("unknown ") and repr(unknown) in message
    assert re.search(rf"known: .*\b{re.escape(known)}\b", message)


def test_an_unknown_user_dataset_kind_lists_the_declared_user_kinds():
    with pytest.raises(
        ValueError, match="user datasets are of kind celeba, identity-folders, idx, image-folder"
    ):
        data_registry.resolve_dataset("mine", {"mine": {"kind": "csv"}})


def test_data_tables_are_read_off_the_kind_modules():
    assert data_registry.builtin_kinds()["faces-standin"] == "identity-folders-standin"
    assert data_registry.builtin_subsets() == {
        "digits138": ("digits", (1, 3, 8)),
        "mnist138": ("mnist", (1, 3, 8)),
    }
    assert data_registry.resolve_dataset("mnist138").classes == (1, 3, 8)


def test_a_name_declared_twice_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "twice_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("METHODS = {'same': print}\n")
    (package / "b.py").write_text("METHODS = {'same': len}\n")
    (package / "helper.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry = Registry("widget", "twice_pkg", "METHODS")
    with pytest.raises(
        ValueError, match="widget 'same' is declared twice: by twice_pkg.a and by twice_pkg.b"
    ):
        registry.names()


def test_an_entry_point_to_a_module_that_declares_nothing_is_refused(tmp_path, monkeypatch):
    (tmp_path / "empty_pkg").mkdir()
    (tmp_path / "empty_pkg" / "__init__.py").write_text("")
    (tmp_path / "stray_plugin.py").write_text("X = 1\n")
    info = tmp_path / "stray_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stray-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[empty_pkg]\nstray = stray_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        TypeError, match="entry point 'stray' of group 'empty_pkg' must name a module that declares KIND"
    ):
        Registry("gadget", "empty_pkg", "KIND").names()


# ------------------------------------------------------------------ plug-ins of a separate package

OUTSIDE_MODULES = {
    "method.py": """
        def outside_method(model, request):
            raise NotImplementedError

        METHODS = {"outside-method": outside_method}
    """,
    "model.py": """
        from torch import nn

        MODELS = {"outside-model": nn.Linear}
    """,
    "kind.py": """
        KIND = "outside-kind"
        RUN_ARRAYS = (".outside.npz",)

        def datasets(block):
            return []
    """,
    "artifact.py": """
        class OutsideArtifact:
            name = "lc-outside"
            figure_arrays = (".outside.npz",)

        ARTIFACT = OutsideArtifact()
    """,
    "dataset.py": """
        import torch

        from unlearnbench.data.registry import PreparedData

        KIND = "outside-data"
        BUILTIN = "outside-data"
        SETTINGS = frozenset()
        REQUIRED = frozenset()
        FINGERPRINT = ()

        def prepare(ref, folder):
            images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
            labels = torch.tensor([0, 1, 0, 1])
            return PreparedData(images, labels, images, labels, [0, 1], "outside data", "test", {})
    """,
}
ENTRY_POINTS = """
[unlearnbench.unlearning]
methods = outside_plugins.method
[unlearnbench.models]
models = outside_plugins.model
[unlearnbench.experiments]
kind = outside_plugins.kind
[unlearnbench.artifacts]
artifact = outside_plugins.artifact
[unlearnbench.data]
dataset = outside_plugins.dataset
"""


@pytest.fixture
def outside_package(tmp_path, monkeypatch):
    """An installed distribution with entry points, and fresh registries that forget it afterwards."""
    package = tmp_path / "outside_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in OUTSIDE_MODULES.items():
        (package / name).write_text(textwrap.dedent(text))
    info = tmp_path / "outside_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    for holder, _, _ in TYPES.values():
        old = holder.REGISTRY
        monkeypatch.setattr(holder, "REGISTRY", Registry(old.what, old.package, old.attribute, old.entries))
    return tmp_path


def test_a_separate_package_adds_every_plugin_type_through_entry_points(outside_package, tmp_path):
    assert "outside-method" in unlearning_base.available_methods()
    assert unlearning_base.get_method("outside-method").__name__ == "outside_method"
    assert isinstance(models.build_model("outside-model", in_features=2, out_features=1), torch.nn.Linear)
    assert experiments.get_kind("outside-kind").datasets({}) == []
    assert experiments.run_arrays("outside-kind") == (".outside.npz",)
    assert artifacts.figure_arrays("lc-outside") == (".outside.npz",)
    assert "lc-outside" in artifacts.artifact_names()
    prepare_dataset("outside-data", None, tmp_path / "data")
    assert load_dataset("outside-data", None, tmp_path / "data").classes == [0, 1]
    # the suite's own plug-ins are still there
    assert "lcodec" in unlearning_base.available_methods()
    assert "resnet18" in models.REGISTRY


# ------------------------------------------------------------------ what the workflow asks the library


def test_every_kind_that_saves_arrays_has_its_run_rule(repo_root):
    rules = (repo_root / "workflow" / "rules" / "unlearn.smk").read_text()
    for kind in experiments.REGISTRY.names():
        arrays = experiments.run_arrays(kind)
        if arrays:
            expression = 'run_arrays(b["kind"]) == ' + repr(arrays).replace("'", '"')
            assert expression in rules, kind
            assert all(f"{{seed}}}}{suffix}" in rules for suffix in arrays), kind
    assert 'not run_arrays(b["kind"])' in rules


def test_a_figure_reads_only_arrays_its_runs_save(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    checked = 0
    for name in artifacts.artifact_names():
        wanted = artifacts.figure_arrays(name)
        for spec in artifacts.get_artifact(name).runs(config) if wanted else []:
            kind = config["experiments"][spec.experiment]["kind"]
            assert set(wanted) <= set(experiments.run_arrays(kind)), (name, spec.experiment)
            checked += 1
    assert checked > 0
