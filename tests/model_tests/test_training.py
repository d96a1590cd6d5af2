"""The Trainer: optimizers, stopping rules, divergence as a result, segments that resume exactly."""

from __future__ import annotations

import math

import pytest
import torch

from models import BNSoftmaxNet, TrainConfig, Trainer
from models.training import build_optimizer


def _problem(seed: int = 0, n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return x, y


def _trainer(config: TrainConfig, seed: int = 0) -> Trainer:
    x, y = _problem(seed)
    xv, yv = _problem(seed + 100, n=128)
    g = torch.Generator().manual_seed(seed)
    net = BNSoftmaxNet(8, 3, n_layers=2, hidden_units=16, generator=g)
    return Trainer(net, x, y, config, x_val=xv, y_val=yv, generator=g)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_lowers_the_loss(optimizer: str) -> None:
    alpha = 0.1 if optimizer in ("sgd", "momentum") else 1e-2
    trainer = _trainer(TrainConfig(optimizer=optimizer, learning_rate=alpha, max_epochs=8))
    history = trainer.train()
    assert trainer.status == "ok"
    assert history.train_loss[-1] < 0.7 * history.train_loss[0]
    assert history.val_accuracy[-1] > 0.7


def test_segments_resume_exactly_where_they_stopped() -> None:
    config = TrainConfig(max_epochs=6, patience=None)
    whole = _trainer(config)
    whole.train()
    split = _trainer(config)
    split.train(2)
    assert split.epoch == 2 and not split.done
    split.train(4)
    assert split.history.to_dict() == whole.history.to_dict()
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, split.model.state_dict()[name]), name


def test_restore_goes_back_to_the_snapshot() -> None:
    trainer = _trainer(TrainConfig(max_epochs=10, patience=None))
    trainer.train(3)
    snapshot = trainer.snapshot()
    losses_after = list(trainer.train(2).val_loss)
    trainer.restore(snapshot)
    assert trainer.epoch == 3 and len(trainer.history) == 3
    assert trainer.train(2).val_loss == losses_after


def test_a_new_learning_rate_applies_to_the_next_segment() -> None:
    trainer = _trainer(TrainConfig(learning_rate=1e-2, lr_decay=0.5, max_epochs=10))
    trainer.train(2)
    trainer.set_learning_rate(1e-3)
    trainer.train(2)
    rates = trainer.history.learning_rate
    assert rates[:2] == pytest.approx([1e-2, 1e-2 / 1.5])
    assert rates[2:] == pytest.approx([1e-3, 1e-3 / 1.5])


def test_exploding_learning_rate_ends_as_diverged_with_its_curves() -> None:
    trainer = _trainer(TrainConfig(optimizer="sgd", learning_rate=100.0, batch_size=8))
    history = trainer.train()
    assert trainer.status == "diverged"
    assert trainer.stop_reason == "diverged"
    assert 1 <= len(history) < 50
    assert trainer.divergence.startswith("epoch ")


def test_an_explosion_with_few_batches_an_epoch_is_caught_within_two_epochs() -> None:
    # 256 rows in batches of 128: two steps an epoch, far from the 20-step window.
    trainer = _trainer(TrainConfig(optimizer="sgd", learning_rate=1e4, batch_size=128))
    trainer.train()
    assert trainer.status == "diverged" and trainer.epoch == 2
    assert "the mean loss of the last 4 mini-batches" in trainer.divergence


def test_nan_loss_is_divergence_not_an_exception() -> None:
    x, y = _problem()
    x[5, 0] = math.inf  # one corrupt row poisons the loss of its batch
    g = torch.Generator().manual_seed(0)
    trainer = Trainer(BNSoftmaxNet(8, 3, 1, 8, generator=g), x, y, TrainConfig(), generator=g)
    trainer.train()
    assert trainer.status == "diverged"


def test_early_stopping_on_validation_loss() -> None:
    trainer = _trainer(TrainConfig(learning_rate=3e-2, max_epochs=200, patience=3))
    trainer.train()
    assert trainer.stop_reason == "early_stopped"
    assert len(trainer.history) < 200
    best = min(trainer.history.val_loss)
    assert trainer.history.val_loss[-4] == best  # three bad epochs after the best one


def test_no_weight_decay_on_batch_norm_and_bias() -> None:
    net = BNSoftmaxNet(8, 3, 2, 16)
    optimizer = build_optimizer(net, TrainConfig(weight_decay=1e-3))
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for name, parameter in net.named_parameters():
        is_weight_matrix = name.endswith("linear.weight") or name == "output.weight"
        assert (id(parameter) in decayed) == is_weight_matrix, name


def test_same_seed_same_curves_and_other_seed_differs() -> None:
    a = _trainer(TrainConfig(max_epochs=3), seed=4).train()
    b = _trainer(TrainConfig(max_epochs=3), seed=4).train()
    c = _trainer(TrainConfig(max_epochs=3), seed=5).train()
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != c.to_dict()


@pytest.mark.parametrize(
    "bad",
    [{"optimizer": "lbfgs"}, {"learning_rate": 0.0}, {"batch_size": 1}, {"momentum": 1.0}],
)
def test_bad_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TrainConfig(**bad)  # type: ignore[arg-type]
