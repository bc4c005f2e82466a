"""Name resolution, config validation and class subsets."""

from __future__ import annotations

import pytest
import torch

from unlearnbench.data import (
    DatasetRef,
    UnknownClassError,
    dataset_base,
    known_datasets,
    load_dataset,
    prepare_dataset,
    resolve_dataset,
    select_classes,
)


def test_builtins_and_aliases():
    assert resolve_dataset("digits") == DatasetRef("digits", "digits", "digits", None, {})
    assert resolve_dataset("mnist138") == DatasetRef("mnist138", "mnist", "mnist", (1, 3, 8), {})
    assert dataset_base("digits138") == "digits" and dataset_base("mnist138") == "mnist"
    assert {"digits", "digits138", "mnist", "mnist138"} <= set(known_datasets())
    assert known_datasets() == sorted(known_datasets())


def test_builtin_entry_may_only_add_settings(tmp_path):
    config = {"mnist": {"mirror": str(tmp_path)}}
    assert resolve_dataset("mnist138", config).settings == {"mirror": str(tmp_path)}
    with pytest.raises(ValueError, match="not change the kind"):
        resolve_dataset("mnist", {"mnist": {"kind": "idx"}})
    with pytest.raises(ValueError, match="unknown settings \\['mirorr'\\]"):
        resolve_dataset("mnist", {"mnist": {"mirorr": "x"}})
    with pytest.raises(ValueError, match="may only add settings, not 'classes'"):
        resolve_dataset("mnist", {"mnist": {"classes": [1]}})
    with pytest.raises(ValueError, match="put its settings under 'mnist'"):
        resolve_dataset("mnist138", {"mnist138": {"mirror": "x"}})


def test_user_entries_and_their_errors():
    config = {
        "mine": {"kind": "idx", "train_images": "a", "train_labels": "b", "classes": [0, 1]},
        "mine-odd": {"base": "mine", "classes": [1]},
        "mnist49": {"base": "mnist", "classes": [4, 9]},
    }
    assert resolve_dataset("mine", config).classes == (0, 1)
    ref = resolve_dataset("mine-odd", config)
    assert (ref.base, ref.kind, ref.classes, ref.settings["train_images"]) == ("mine", "idx", (1,), "a")
    assert dataset_base("mnist49", config) == "mnist"
    assert set(known_datasets(config)) - set(known_datasets()) == {"mine", "mine-odd", "mnist49"}
    with pytest.raises(KeyError, match="unknown dataset 'cifar'.*digits138"):
        resolve_dataset("cifar", config)
    with pytest.raises(ValueError, match="needs 'kind'"):
        resolve_dataset("x", {"x": {"root": "."}})
    with pytest.raises(ValueError, match="unknown kind 'csv'"):
        resolve_dataset("x", {"x": {"kind": "csv"}})
    with pytest.raises(ValueError, match="lacks required settings \\['train_labels'\\]"):
        resolve_dataset("x", {"x": {"kind": "idx", "train_images": "a"}})
    with pytest.raises(ValueError, match="cycle"):
        resolve_dataset("a", {"a": {"base": "b"}, "b": {"base": "a"}})
    with pytest.raises(ValueError, match="keeps only classes \\[4, 9\\]"):
        resolve_dataset("bad", {**config, "bad": {"base": "mnist49", "classes": [4, 5]}})
    with pytest.raises(ValueError, match="invalid"):
        resolve_dataset("x", {"../x": {"kind": "idx"}})


def test_select_classes_remaps_in_requested_order():
    labels = torch.tensor([0, 3, 8, 1, 3, 8, 5])
    images = labels.float().view(-1, 1, 1, 1)
    x, y = select_classes(images, labels, [8, 3])
    assert y.tolist() == [1, 0, 1, 0]
    assert x.view(-1).tolist() == [3.0, 8.0, 3.0, 8.0]
    with pytest.raises(UnknownClassError, match=r"\[7\] do not occur .*present: \[0, 1, 3, 5, 8\]"):
        select_classes(images, labels, [3, 7])
    with pytest.raises(ValueError, match="duplicates"):
        select_classes(images, labels, [3, 3])
    with pytest.raises(ValueError, match="at least one class"):
        select_classes(images, labels, [])


def test_load_with_a_class_the_data_lacks(tmp_path):
    prepare_dataset("digits", None, tmp_path)
    with pytest.raises(UnknownClassError, match="has no class 11"):
        load_dataset("digits", None, tmp_path, classes=[1, 11])
    with pytest.raises(ValueError, match="non-empty list"):
        load_dataset("digits", None, tmp_path, classes=[])


def test_config_alias_loads_its_subset(tmp_path):
    config = {"digits49": {"base": "digits", "classes": [4, 9]}}
    prepare_dataset("digits49", config, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]
    splits = load_dataset("digits49", config, tmp_path)
    assert splits.classes == [4, 9] and splits.description.endswith("(stand-in for MNIST49)")
