"""Atomic writes, safe checkpoint loading and resumable training."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from unlearnbench.models import load_model, save_model
from unlearnbench.models.classifiers import MLP, cross_entropy_loss
from unlearnbench.storage import (
    CorruptCheckpointError,
    load_checkpoint,
    save_checkpoint,
    write_atomic,
    write_json,
)
from unlearnbench.training import OptimizerSpec, fit


def test_failed_write_leaves_neither_target_nor_temporary(tmp_path):
    target = tmp_path / "out.json"

    def explode(tmp):
        tmp.write_text("partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(target, explode)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_version(tmp_path):
    target = write_json(tmp_path / "out.json", {"v": 1})
    with pytest.raises(TypeError):
        write_json(target, {"v": object()})
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()


def test_model_round_trip_with_weights_only(tmp_path):
    model = MLP(6, 3, hidden=(4,))
    path = save_model(tmp_path / "m.pt", model, "mlp", {"n_features": 6, "n_classes": 3, "hidden": [4]}, {"train_seconds": 1.5})
    loaded, meta = load_model(path)
    assert meta["train_seconds"] == 1.5
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_checkpoint_gives_clear_error(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match="broken.pt.*Delete .*broken.pt"):
        load_checkpoint(path)


def test_truncated_checkpoint_gives_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"state_dict": {"w": torch.randn(1000)}})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptCheckpointError):
        load_checkpoint(path)


def test_foreign_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CorruptCheckpointError, match="not an unlearnbench"):
        load_checkpoint(path)


def _data():
    gen = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(64, 5, generator=gen), torch.randint(0, 3, (64,), generator=gen))


class _Killer:
    """Simulates a job killed after ``at`` epochs (after the resume state was saved)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, epoch, model, loader):
        if epoch == self.at:
            raise KeyboardInterrupt

    def on_train_end(self, model, loader):
        pass


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    recipe = dict(epochs=6, batch_size=16, optimizer=OptimizerSpec("sgd", 0.1, momentum=0.9), seed=3)
    saving = dict(resume_every_s=0)  # after every epoch
    torch.manual_seed(0)
    straight = MLP(5, 3, hidden=(8,))
    fit(straight, cross_entropy_loss, _data(), **recipe)

    resume = tmp_path / "model.pt.resume"
    torch.manual_seed(0)
    interrupted = MLP(5, 3, hidden=(8,))
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, cross_entropy_loss, _data(), resume_path=resume, callbacks=[_Killer(3)], **saving, **recipe)
    assert resume.exists()

    torch.manual_seed(1)  # a different initialisation: everything must come from the resume state
    resumed = MLP(5, 3, hidden=(8,))
    result = fit(resumed, cross_entropy_loss, _data(), resume_path=resume, **recipe)
    assert not resume.exists()
    assert len(result.history) == 6
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
