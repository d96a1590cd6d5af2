"""Fused training: the trials of a round that share a structure trained as one stacked model.

A round's trials are small networks on the same rows; trained apart, each pays torch's per-call
overhead for every mini-batch of every epoch. Stacked (``models.stacked``), K models take one
batched matmul per layer per step. Each model keeps what makes it itself: its initial weights,
its shuffling generator (drawn exactly as its own Trainer draws it), its batch-norm averages, its
learning rate, momentum, betas, weight decay and decay schedule, its optimizer state, its
divergence check and its early stopping. A model that stops or diverges leaves the stack, so
its neighbours train on unchanged.

Grouping: trials share a group when their depth, batch size, activation, optimizer, batch-norm
momentum and torch thread count agree (the step loop is common to them). Hidden widths may differ:
narrower models are padded to the widest with inert padding, because ``hidden_units`` is drawn
from 16 to 256 and equal widths almost never meet in a round.

The result per trial is what ``BNSoftmaxClassifier.fit`` leaves: a fitted classifier with its
history, status, stop reason, epochs and best-validation weights, so ``models.trial`` builds
the same ``TrialResult`` from it. ``EpochHook`` is where a later step (ASHA: cut weak trials at
rungs) decides to stop a model between epochs; none is built here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from numpy.typing import ArrayLike
from torch import nn

from models.estimator import BNSoftmaxClassifier
from models.net import ACTIVATIONS, BNSoftmaxNet
from models.stacked import StackedNet, StackedOptimizer
from models.training import Trainer, torch_threads

# Called after every epoch with (trainer, epoch); True stops that model (status ok, reason
# "early_stopped"). The hook for successive halving; the default stops nobody.
EpochHook = Callable[[Trainer, int], bool]

STRUCTURE = ("n_layers", "batch_size", "activation", "optimizer", "bn_momentum", "n_threads")


def structure_key(settings: Mapping[str, Any]) -> tuple[Any, ...]:
    """What trials must share to be stacked; every other setting may differ per model."""
    merged = BNSoftmaxClassifier(**settings).get_params()
    return tuple(merged[name] for name in STRUCTURE)


def group_by_structure(settings_list: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indices of ``settings_list`` grouped by ``structure_key``, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, settings in enumerate(settings_list):
        groups.setdefault(structure_key(settings), []).append(i)
    return list(groups.values())


def train_fused(
    settings_list: Sequence[Mapping[str, Any]],
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_val: ArrayLike,
    y_val: ArrayLike,
    *,
    on_epoch: EpochHook | None = None,
) -> list[BNSoftmaxClassifier]:
    """Fit one BNSoftmaxClassifier per settings, stacking those that share a structure.

    Each comes back as ``BNSoftmaxClassifier(**settings).fit(X_train, y_train,
    eval_set=(X_val, y_val))`` would leave it. ``train_seconds_`` is the group's wall time
    divided among its models.
    """
    models = [BNSoftmaxClassifier(**s) for s in settings_list]
    trainers = [m.start_training(X_train, y_train, eval_set=(X_val, y_val)) for m in models]
    for group in group_by_structure(settings_list):
        started = time.perf_counter()
        train_stacked([trainers[i] for i in group], on_epoch=on_epoch)
        seconds = (time.perf_counter() - started) / len(group)
        for i in group:
            models[i].finish_training(trainers[i], seconds)
    return models


def train_stacked(trainers: Sequence[Trainer], *, on_epoch: EpochHook | None = None) -> None:
    """Train fresh Trainers that share data and structure as if each ran ``train()`` alone."""
    first = trainers[0]
    for t in trainers:
        if t.epoch or t.config.batch_size != first.config.batch_size or not _same_rows(t, first):
            raise ValueError("stacked trainers need the same rows, batch size and a fresh start")
    if len(trainers) == 1 and on_epoch is None:  # nothing to share: the stack only costs
        first.train()
        return
    with torch_threads(first.config.n_threads):
        _FusedRun(list(trainers), on_epoch).run()


class _FusedRun:
    """The epoch loop over a shrinking stack; ``alive[j]`` is the trainer of stack row j."""

    def __init__(self, trainers: list[Trainer], on_epoch: EpochHook | None) -> None:
        nets = [t.model for t in trainers]
        if not all(isinstance(n, BNSoftmaxNet) for n in nets):
            raise TypeError("fused training stacks BNSoftmaxNet models")
        activation = _activation_name(trainers[0].model)
        self.stack = StackedNet(nets, activation)  # type: ignore[arg-type]
        config = trainers[0].config
        self.optimizer = StackedOptimizer(
            config.optimizer,
            self.stack,
            {
                "momentum": [t.config.momentum for t in trainers],
                "beta2": [t.config.beta2 for t in trainers],
                "weight_decay": [t.config.weight_decay for t in trainers],
            },
        )
        self.alive = trainers
        self.on_epoch = on_epoch
        self.batch_size = config.batch_size

    def run(self) -> None:
        while self.alive:
            self._epoch()

    def _epoch(self) -> None:
        lrs = {id(t): _alpha(t) for t in self.alive}
        lr = torch.tensor(list(lrs.values()), dtype=self.stack.out_bias.dtype)
        first = self.alive[0]
        orders = torch.stack(
            [torch.randperm(len(t.y_train), generator=t.generator) for t in self.alive]
        )
        xs, ys = first.x_train[orders], first.y_train[orders]
        totals = [0.0] * len(self.alive)
        seen = 0
        broken: list[tuple[Trainer, float, str]] = []  # diverged mid-epoch: left the stack
        for start in range(0, ys.shape[1], self.batch_size):
            x, y = xs[:, start : start + self.batch_size], ys[:, start : start + self.batch_size]
            if y.shape[1] < 2:
                continue
            values = self._step(x, y, lr)
            seen += y.shape[1]
            bad = []
            for j, (t, value) in enumerate(zip(self.alive, values, strict=True)):
                totals[j] += value * y.shape[1]
                t._stretch.append(value)
                if not math.isfinite(value):
                    bad.append(j)
            if bad:
                for j in bad:
                    # Weights before this step, averages after its forward: where Trainer stops.
                    self.alive[j].model.load_state_dict(self.stack.state_dict_of(j))
                    mean = totals[j] / max(seen, 1)
                    broken.append((self.alive[j], mean, f"the loss became {values[j]}"))
                keep = [j for j in range(len(self.alive)) if j not in bad]
                rows = _rows(keep)
                self._keep(rows)
                xs, ys, lr = xs[rows], ys[rows], lr[rows]
                totals = [totals[j] for j in keep]
                if not self.alive:
                    break
        val = self._evaluate()
        for t, mean, problem in broken:
            loss, accuracy = t._evaluate()
            self._end_epoch(t, mean, loss, accuracy, lrs[id(t)], problem)
        stopped = []
        for j, t in enumerate(self.alive):
            mean = totals[j] / max(seen, 1)
            loss, accuracy = val[j]
            if self._end_epoch(t, mean, loss, accuracy, lrs[id(t)], "", row=j):
                stopped.append(j)
        if stopped:
            for j in stopped:
                self.alive[j].model.load_state_dict(self.stack.state_dict_of(j))
            self._keep(_rows(j for j in range(len(self.alive)) if j not in stopped))

    def _step(self, x: torch.Tensor, y: torch.Tensor, lr: torch.Tensor) -> list[float]:
        """One mini-batch for every model in the stack; the per-model losses before the step."""
        logits = self.stack.logits(x, training=True)
        losses = nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
        values: list[float] = losses.tolist()
        for p in self.stack.params:
            p.grad = None
        losses.sum().backward()  # type: ignore[no-untyped-call]
        self.optimizer.step(self.stack.params, lr)
        return values

    def _evaluate(self) -> list[tuple[float, float]]:
        first = self.alive[0] if self.alive else None
        if first is None or first.x_val is None or first.y_val is None:
            return [(math.nan, math.nan)] * len(self.alive)
        k = self.stack.size
        with torch.inference_mode():
            x = first.x_val.unsqueeze(0).expand(k, -1, -1)
            logits = self.stack.logits(x, training=False)
            y = first.y_val.unsqueeze(0).expand(k, -1)
            loss = nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
            accuracy = (logits.argmax(dim=2) == y).float().mean(1)
            return list(zip(loss.mean(1).tolist(), accuracy.tolist(), strict=True))

    def _end_epoch(
        self,
        t: Trainer,
        train_loss: float,
        val_loss: float,
        val_accuracy: float,
        alpha: float,
        problem: str,
        row: int | None = None,
    ) -> bool:
        """Trainer._run_epoch's bookkeeping for one model; True when it is done."""
        t.epoch += 1
        t.history.train_loss.append(train_loss)
        t.history.val_loss.append(val_loss)
        t.history.val_accuracy.append(val_accuracy)
        t.history.learning_rate.append(alpha)
        problem = problem or t._rising() or t._non_finite_validation(val_loss)
        if problem:
            t.divergence = f"epoch {t.epoch}, learning rate {alpha:.3g}: {problem}"
            t._stop("diverged", "diverged")
            return True
        if row is not None and not math.isnan(val_loss):
            if val_loss < t._best_val_loss:
                t._best_val_loss, t._bad_epochs = val_loss, 0
                t._best_model = self.stack.state_dict_of(row)
            else:
                t._bad_epochs += 1
                if t.config.patience is not None and t._bad_epochs >= t.config.patience:
                    t._stop("ok", "early_stopped")
        if not t.done and self.on_epoch is not None and self.on_epoch(t, t.epoch):
            t._stop("ok", "early_stopped")
        if not t.done and t.epoch >= t.config.max_epochs:
            t._stop("ok", "max_epochs")
        return t.done

    def _keep(self, rows: torch.Tensor) -> None:
        self.stack.keep(rows)
        self.optimizer.keep(rows)
        self.alive = [self.alive[j] for j in rows.tolist()]


def _alpha(t: Trainer) -> float:
    """The epoch's learning rate, as Trainer._run_epoch decays it."""
    return t.learning_rate / (1.0 + t.config.lr_decay * (t.epoch - t._alpha_since))


def _same_rows(t: Trainer, first: Trainer) -> bool:
    pairs: list[tuple[torch.Tensor | None, torch.Tensor | None]] = [
        (t.x_train, first.x_train),
        (t.y_train, first.y_train),
    ]
    if t.x_val is not None and first.x_val is not None:
        pairs += [(t.x_val, first.x_val), (t.y_val, first.y_val)]
    elif t.x_val is not None or first.x_val is not None:
        return False
    return all(a is b or (a is not None and b is not None and torch.equal(a, b)) for a, b in pairs)


def _activation_name(net: nn.Module) -> str:
    for block in getattr(net, "hidden", []):
        for name, cls in ACTIVATIONS.items():
            if type(block.activation) is cls:
                return name
    return "relu"


def _rows(indices: Iterable[int]) -> torch.Tensor:
    return torch.tensor(list(indices), dtype=torch.long)
