"""Config validation: both profiles are valid; bad keys fail with their name."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from unlearnbench.config import ConfigError, load_config, validate_config


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_profiles_are_valid(repo_root, name):
    config = load_config(repo_root / "config" / name)
    assert config["experiments"]


def test_paper_profile_uses_the_paper_hyperparameters(repo_root):
    config = load_config(repo_root / "config" / "paper.yaml")
    assert len(config["seeds"]) == 3
    mnist = config["experiments"]["gs-mnist138"]
    assert mnist["evaluation"]["n_samples"] == 10_000
    for method in ("gradient-ascent", "gradient-surgery"):
        hp = mnist["methods"][method]
        assert (hp["optimizer"], hp["lr"], hp["epochs"], hp["forget_batch_size"]) == ("adam", 5e-4, 1, None)


def _quick(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def test_misspelt_nested_key_is_named(repo_root):
    config = _quick(repo_root)
    config["experiments"]["gs-digits138"]["vae"]["epocs"] = 3
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert "'epocs'" in message and "experiments.gs-digits138.vae" in message and "did you mean 'epochs'" in message


def test_misspelt_top_level_and_method_keys_are_named(repo_root):
    config = _quick(repo_root)
    config["sedes"] = [0]
    config["experiments"]["gs-digits138"]["methods"]["gradient-surgery"]["learning_rate"] = 1.0
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert "'sedes'" in str(info.value) and "'learning_rate'" in str(info.value)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("seeds",), [], "seeds"),
        (("device",), "gpu", "device"),
        (("experiments", "gs-digits138", "vae", "epochs"), "ten", "epochs"),
        (("experiments", "gs-digits138", "kind"), "diffusion", "kind"),
    ],
)
def test_mistyped_values_are_rejected(repo_root, path, value, expected):
    config = copy.deepcopy(_quick(repo_root))
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=expected):
        validate_config(config)


def test_cli_reports_bad_config_and_exits_2(tmp_path, repo_root):
    config = _quick(repo_root)
    config["experiments"]["gs-digits138"]["evaluation"]["n_sample"] = 5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "unlearnbench.cli", "--config", str(bad), "validate-config"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "n_sample" in result.stderr and "n_samples" in result.stderr


def test_missing_default_profile_asks_for_config(tmp_path, monkeypatch, capsys, repo_root):
    """An installed package has no checkout's config/config.yaml: without --config the CLI says which
    file is missing and to pass --config, instead of a bare 'no such file'; with --config it runs."""
    import unlearnbench.config as config_module
    from unlearnbench.cli import main

    missing = tmp_path / "site-packages" / "config" / "config.yaml"
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG", missing)
    assert main(["validate-config"]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "pass --config" in err
    with pytest.raises(ConfigError, match="pass --config"):
        load_config()
    assert main(["--config", str(repo_root / "config" / "config.yaml"), "validate-config"]) == 0
    assert "valid (quick profile" in capsys.readouterr().out


def test_checkout_default_profile_is_the_quick_one(capsys):
    from unlearnbench.cli import main

    assert main(["validate-config"]) == 0
    assert "config.yaml: valid (quick profile" in capsys.readouterr().out
