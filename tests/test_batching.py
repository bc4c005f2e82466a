"""eval_outputs: the one batched, eval-mode read of a model that metrics and models share."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearnbench.batching import eval_outputs


def test_eval_outputs_matches_one_pass_and_restores_train_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
    model.train()
    x = torch.randn(7, 3)
    out = eval_outputs(model, model, x, batch_size=3)
    assert model.training  # left as it was
    model.eval()
    with torch.no_grad():
        assert torch.equal(out, model(x))  # dropout off during the read, batches in order
    assert not out.requires_grad


def test_eval_outputs_empty_and_bad_batch_size() -> None:
    model = nn.Linear(3, 2)
    assert eval_outputs(model, model, torch.empty(0, 3), batch_size=4).numel() == 0
    with pytest.raises(ValueError, match="batch_size"):
        eval_outputs(model, model, torch.randn(2, 3), batch_size=0)
