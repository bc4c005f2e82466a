"""The one training loop: its hooks (clipping, schedules, augmentation, the adversarial step) and resume.

Every former training loop of the suite (DistilBERT fine-tuning, re-ID training, the
adversarially regularised CelebA classifier) is now ``fit`` with hooks; each must resume a
killed training to bit-identical weights.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from unlearnbench.experiments.spurious_features import AdversarialClassifier, AdversarialLoss
from unlearnbench.models.reid import RandomFlip, ReidLoss, ReidNet, ReidRecipe
from unlearnbench.models.text import (
    DistilBertMultilabel,
    FineTuneRecipe,
    MultilabelBCE,
    TextEncoder,
    train_wordpiece,
)
from unlearnbench.newton.gradient_bank import GradientBankCallback
from unlearnbench.training import GradientClip, OptimizerSpec, SchedulerSpec, fit

# ---------------------------------------------------------------------------- hooks on a linear model
# loss = c * sum(weights): the gradient is c everywhere whatever the batch, so the weights after
# training are exactly -(sum of the learning rates used) * c, which shows what the hooks did.


def _constant_gradient(scale: float):
    def loss(model, batch):
        return scale * model.weight.sum() + 0.0 * batch[0].sum()

    return loss


def _linear_fit(epochs: int, batches: int, *, loss_scale: float = 1.0, **hooks) -> torch.Tensor:
    model = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(model.weight)
    data = TensorDataset(torch.zeros(4 * batches, 2))
    fit(
        model,
        _constant_gradient(loss_scale),
        data,
        epochs=epochs,
        batch_size=4,
        optimizer=OptimizerSpec("sgd", 0.1),
        seed=0,
        **hooks,
    )
    return model.weight.detach().flatten()


def test_gradient_clipping_clips():
    assert torch.allclose(_linear_fit(1, 1, loss_scale=10.0), torch.full((2,), -1.0))  # unclipped
    clipped = _linear_fit(1, 1, loss_scale=10.0, clip=GradientClip(1.0, math.inf))
    assert torch.allclose(clipped, torch.full((2,), -0.1), atol=1e-6)  # each entry clipped to 1
    l2 = _linear_fit(1, 1, loss_scale=10.0, clip=GradientClip(1.0))
    assert torch.allclose(l2, torch.full((2,), -0.1 / math.sqrt(2)), atol=1e-6)  # norm 1 in total


def test_linear_warmup_schedule_steps_per_batch():
    # 4 steps, no warm-up: rates 1, 3/4, 1/2, 1/4 of lr
    assert torch.allclose(
        _linear_fit(1, 4, scheduler=SchedulerSpec("linear-warmup")), torch.full((2,), -0.25)
    )
    # 2 warm-up steps of 4: 0, 1/2, then 1, 1/2
    warm = _linear_fit(2, 2, scheduler=SchedulerSpec("linear-warmup", warmup_steps=2))
    assert torch.allclose(warm, torch.full((2,), -0.2))


def test_step_schedule_steps_per_epoch():
    assert torch.allclose(_linear_fit(3, 2), torch.full((2,), -0.6))
    halved = _linear_fit(3, 2, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5))
    assert torch.allclose(halved, torch.full((2,), -0.35))  # 2 batches at 1, 1/2, 1/4 of lr
    with pytest.raises(ValueError, match="unknown scheduler"):
        _linear_fit(1, 1, scheduler=SchedulerSpec("cosine"))


def test_no_decay_groups_leave_biases_undecayed():
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    opt = OptimizerSpec("adamw", 0.1, weight_decay=0.5, decay_bias_and_norm=False).build_for(model)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.5 and [p.shape for p in decay["params"]] == [(2, 2), (2,)]
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 2  # both biases
    assert len(OptimizerSpec("adamw", 0.1).build_for(model).param_groups) == 1


def test_a_fixed_recipes_optimiser_takes_only_rate_and_decay_from_the_config():
    base = OptimizerSpec("adamw", 5e-5, weight_decay=0.01, decay_bias_and_norm=False)
    tuned = base.tuned({"name": "adamw", "lr": 1e-3}, "DistilBERT")
    assert tuned == OptimizerSpec("adamw", 1e-3, weight_decay=0.01, decay_bias_and_norm=False)
    assert base.lr == 5e-5  # the recipe's own optimiser is left as it was
    with pytest.raises(ValueError, match="the DistilBERT recipe uses AdamW; got optimizer 'adam'"):
        base.tuned({"name": "adam"}, "DistilBERT")


def test_random_flip_flips_whole_images_from_its_own_generator():
    images = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)
    flip = RandomFlip(0)
    state = flip.state_dict()
    torch.manual_seed(0)
    before = torch.get_rng_state()
    out, labels = flip((images, torch.tensor([0, 1])))
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is untouched
    for got, image in zip(out, images):
        assert torch.equal(got, image) or torch.equal(got, image.flip(-1))
    flip.load_state_dict(state)
    assert torch.equal(flip((images, labels))[0], out)


# ---------------------------------------------------------------------------- the adversarial step


def _adversarial_batch(n: int = 8):
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 8, 8), generator=gen, dtype=torch.uint8)
    return (
        images,
        torch.randint(0, 2, (n,), generator=gen),
        torch.randint(0, 2, (n, 2), generator=gen).float(),
    )


def _grads(model: nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_adversarial_step_reverses_the_adversaries_gradient_into_the_trunk(scale):
    torch.manual_seed(0)
    model = AdversarialClassifier(3, 4, 2)
    x, y, a = _adversarial_batch()
    total = _grads(model, AdversarialLoss(weight=1.0, scale=scale)(model, (x, y, a)))
    features = model.features(x.float().div(255.0))
    task = _grads(model, F.binary_cross_entropy_with_logits(model.head(features).squeeze(1), y.float()))
    features = model.features(x.float().div(255.0))
    plain = _grads(  # the adversaries' loss without the reversal layer
        model,
        F.binary_cross_entropy_with_logits(torch.cat([adv(features) for adv in model.adversaries], 1), a),
    )
    trunk = [name for name in total if name.startswith("features.")]
    assert trunk and all(name in plain for name in trunk)
    assert max(float(plain[name].abs().max()) for name in trunk) > 1e-3  # the adversaries do reach the trunk
    for name in trunk:  # the trunk receives the adversaries' gradient reversed and scaled
        assert torch.allclose(total[name] - task[name], -scale * plain[name], atol=1e-6)
    for name in plain:  # the adversaries themselves are trained to win
        if name.startswith("adversaries."):
            assert torch.allclose(total[name], plain[name], atol=1e-6)


# ---------------------------------------------------------------------------- resume, per former loop


class _Killer:
    """Simulates a job killed at the end of epoch ``at`` (the resume state of the epoch before survives)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, epoch, model, loader):
        if epoch == self.at:
            raise KeyboardInterrupt

    def on_train_end(self, model, loader):
        pass


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _killed_and_resumed(
    tmp_path, build, loss, data, kill_at, callbacks=lambda: [], augment=lambda: None, **recipe
):
    """(uninterrupted, resumed) models and their callbacks, trained with the same recipe.

    ``callbacks`` and ``augment`` make fresh hooks for each of the three trainings.
    """
    straight, straight_callbacks = build(0), callbacks()
    fit(straight, loss, data, callbacks=straight_callbacks, augment=augment(), **recipe)
    resume = tmp_path / "model.pt.resume"
    with pytest.raises(KeyboardInterrupt):
        fit(
            build(0),
            loss,
            data,
            resume_path=resume,
            resume_every_s=0,
            callbacks=[*callbacks(), _Killer(kill_at)],
            augment=augment(),
            **recipe,
        )
    assert resume.exists()
    resumed, resumed_callbacks = build(1), callbacks()  # another initialisation: all must come from the file
    result = fit(
        resumed, loss, data, resume_path=resume, callbacks=resumed_callbacks, augment=augment(), **recipe
    )
    assert not resume.exists() and len(result.history) == recipe["epochs"]
    return straight, resumed, straight_callbacks, resumed_callbacks


TEXTS = [
    "the parties shall terminate this agreement upon notice",
    "this agreement is governed by the laws of delaware",
    "notices shall be delivered by certified mail",
] * 4


def test_killed_fine_tuning_resumes_to_the_same_weights_and_bank(tmp_path):
    encoder = TextEncoder(train_wordpiece(TEXTS, 60), 12)
    config = {"n_layers": 1, "n_heads": 2, "dim": 8, "hidden_dim": 16, "vocab_size": encoder.vocab_size()}

    def build(seed):
        torch.manual_seed(seed)
        return DistilBertMultilabel(3, config, encoder.pad_id)

    data = TensorDataset(encoder(TEXTS), torch.eye(3)[[0, 1, 2] * 4])
    loss = MultilabelBCE(torch.ones(3))
    recipe = FineTuneRecipe.from_config(
        {"epochs": 4, "batch_size": 5, "optimizer": {"lr": 1e-2}, "warmup_steps": 2, "clip_norm": 0.5}
    )
    straight, resumed, banks, resumed_banks = _killed_and_resumed(
        tmp_path,
        build,
        loss,
        data,
        kill_at=3,
        callbacks=lambda: [GradientBankCallback(loss, 4)],
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        optimizer=recipe.optimizer,
        scheduler=recipe.scheduler,
        clip=recipe.clip,
        seed=0,
    )
    _assert_same_weights(straight, resumed)
    # killed in the last epoch: the penultimate epoch's bank record comes from the resume file
    bank, resumed_bank = banks[0].bank, resumed_banks[0].bank
    assert [r.epoch for r in resumed_bank.epochs] == [r.epoch for r in bank.epochs] == [2, 3]
    for record, other in zip(bank.epochs, resumed_bank.epochs):
        assert all(torch.equal(record.grads[k], other.grads[k]) for k in record.grads)


def test_killed_reid_training_resumes_to_the_same_weights(tmp_path):
    def build(seed):
        torch.manual_seed(seed)
        return ReidNet("osnet_x0_25", 3)

    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(10, 3, 32, 16, generator=gen), torch.arange(10) % 3)
    recipe = ReidRecipe.from_config(
        {"epochs": 3, "batch_size": 4, "optimizer": {"lr": 1e-3}, "step_size": 1, "gamma": 0.5, "flip": True}
    )
    straight, resumed, *_ = _killed_and_resumed(
        tmp_path,
        build,
        ReidLoss(0.1),
        data,
        kill_at=1,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        optimizer=recipe.optimizer,
        scheduler=recipe.scheduler,
        drop_last=recipe.drop_last(len(data)),
        seed=0,
        augment=lambda: recipe.augment(0),
    )
    _assert_same_weights(straight, resumed)


def test_resumed_training_continues_the_augmentation_where_it_stopped(tmp_path):
    data = TensorDataset(
        torch.randn(8, 3, 32, 16, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 2
    )
    resume = tmp_path / "r.resume"
    recipe = dict(
        epochs=2,
        batch_size=4,
        optimizer=OptimizerSpec("adam", 1e-3),
        seed=0,
        resume_path=resume,
        resume_every_s=0,
    )
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):  # killed in epoch 2: the file holds the flips of epoch 1
        fit(
            ReidNet("osnet_x0_25", 2),
            ReidLoss(),
            data,
            augment=RandomFlip(1),
            callbacks=[_Killer(1)],
            **recipe,
        )
    flips = RandomFlip(1)
    fit(ReidNet("osnet_x0_25", 2), ReidLoss(), data, augment=flips, **recipe)
    uninterrupted = RandomFlip(1)
    for _ in range(4):  # two epochs of two batches of four images
        torch.rand(4, generator=uninterrupted.generator)
    assert torch.equal(flips.generator.get_state(), uninterrupted.generator.get_state())


def test_killed_adversarial_training_resumes_to_the_same_weights(tmp_path):
    def build(seed):
        torch.manual_seed(seed)
        return AdversarialClassifier(3, 4, 2)

    x, y, a = _adversarial_batch(20)
    straight, resumed, *_ = _killed_and_resumed(
        tmp_path,
        build,
        AdversarialLoss(1.0, 0.5),
        TensorDataset(x, y, a),
        kill_at=2,
        epochs=4,
        batch_size=6,
        optimizer=OptimizerSpec("adam", 1e-2),
        seed=0,
    )
    _assert_same_weights(straight, resumed)


def test_resume_file_of_another_clipping_or_schedule_is_ignored(tmp_path, capsys):
    resume = tmp_path / "r.resume"
    data = TensorDataset(torch.randn(16, 2, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 2)
    loss = lambda m, b: F.cross_entropy(m(b[0]), b[1])  # noqa: E731
    recipe = dict(
        epochs=4,
        batch_size=4,
        optimizer=OptimizerSpec("sgd", 0.1),
        seed=0,
        resume_path=resume,
        resume_every_s=0,
    )
    for changed in ({"clip": GradientClip(0.5)}, {"scheduler": SchedulerSpec("step", step_size=2)}):
        torch.manual_seed(0)
        with pytest.raises(KeyboardInterrupt):
            fit(nn.Linear(2, 2), loss, data, clip=GradientClip(1.0), callbacks=[_Killer(2)], **recipe)
        fit(nn.Linear(2, 2), loss, data, **changed, **recipe)
        assert "ignoring resume state" in capsys.readouterr().out
        assert not resume.exists()


def test_resume_state_is_written_only_after_its_interval(tmp_path):
    resume = tmp_path / "r.resume"
    data = TensorDataset(torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 2)
    with pytest.raises(KeyboardInterrupt):  # a few milliseconds of training: under a minute, nothing saved
        fit(
            nn.Linear(2, 2),
            lambda m, b: F.cross_entropy(m(b[0]), b[1]),
            data,
            epochs=4,
            batch_size=4,
            optimizer=OptimizerSpec("sgd", 0.1),
            seed=0,
            resume_path=resume,
            callbacks=[_Killer(2)],
        )
    assert not resume.exists()


class _Counter:
    """A resumable callback; ``renamed`` ones keep their state under another key (a changed format)."""

    def __init__(self, renamed: bool = False) -> None:
        self.epochs, self.key = 0, "count" if renamed else "epochs"

    def on_epoch_end(self, epoch, model, loader):
        self.epochs += 1

    def on_train_end(self, model, loader):
        pass

    def state_dict(self):
        return {self.key: self.epochs}

    def load_state_dict(self, state):
        self.epochs = state[self.key]


def test_a_state_that_fails_half_way_through_loading_is_undone(tmp_path, capsys):
    resume = tmp_path / "r.resume"
    data = TensorDataset(torch.randn(16, 2, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 2)
    loss = lambda m, b: F.cross_entropy(m(b[0]), b[1])  # noqa: E731
    recipe = dict(epochs=4, batch_size=4, optimizer=OptimizerSpec("sgd", 0.1, momentum=0.9), seed=0)
    torch.manual_seed(0)
    clean = nn.Linear(2, 2)
    fit(clean, loss, data, **recipe)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(
            nn.Linear(2, 2),
            loss,
            data,
            resume_path=resume,
            resume_every_s=0,
            callbacks=[_Counter(), _Killer(2)],
            **recipe,
        )
    torch.manual_seed(0)
    restarted = nn.Linear(2, 2)  # the weights are loaded before the callback's state fails
    fit(restarted, loss, data, resume_path=resume, callbacks=[_Counter(renamed=True)], **recipe)
    assert "ignoring unusable resume state" in capsys.readouterr().out and not resume.exists()
    _assert_same_weights(clean, restarted)
