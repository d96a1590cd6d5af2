"""Fused training: the trials of a round that share a structure trained as one stacked model.

A round's trials are small networks on the same rows; trained apart, each pays torch's per-call
overhead for every mini-batch of every epoch. Stacked (``models.stacked``), K models take one
batched matmul per layer per step. Each model keeps what makes it itself: its initial weights,
its shuffling generator (drawn exactly as its own Trainer draws it), its batch-norm averages, its
learning rate, momentum, betas, weight decay and decay schedule, its optimizer state, its
divergence check and its early stopping. A model that stops or diverges leaves the stack, so
its neighbours train on unchanged. The per-epoch bookkeeping is the Trainer's own
(``Trainer.end_epoch``), so a fused model's curves and stopping rules are its twin's.

Grouping: trials share a group when their depth, batch size, activation, optimizer, batch-norm
momentum and torch thread count agree (the step loop is common to them). Hidden widths may differ:
narrower models are padded to the widest with inert padding, because ``hidden_units`` is drawn
from 16 to 256 and equal widths almost never meet in a round.

The groups of a round train side by side and meet at each successive-halving rung
(``models.search.pruning``): there all the round's live trials have trained equally long, are
compared, and the weak ones stop, status ``ok``, stop reason ``pruned``.

The result per trial is what ``BNSoftmaxClassifier.fit`` leaves: a fitted classifier with its
history, status, stop reason, epochs and best-validation weights, so ``models.trial`` builds
the same ``TrialResult`` from it.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from numpy.typing import ArrayLike
from torch import nn

from models.estimator import BNSoftmaxClassifier
from models.net import ACTIVATIONS, BNSoftmaxNet
from models.search.pruning import SuccessiveHalving
from models.stacked import StackedNet, StackedOptimizer
from models.training import Trainer, torch_threads

STRUCTURE = ("n_layers", "batch_size", "activation", "optimizer", "bn_momentum", "n_threads")


def structure_key(settings: Mapping[str, Any]) -> tuple[Any, ...]:
    """What trials must share to be stacked; every other setting may differ per model."""
    merged = BNSoftmaxClassifier(**settings).get_params()
    return tuple(merged[name] for name in STRUCTURE)


# Stacking pays where a step is overhead-bound, not compute-bound. Measured on seattle-weather
# (2 cores, 1 torch thread, batch 32; bench notes in the README): 2 to 8 nets of 2 x 64 units
# trained 1.7x to 4.2x faster stacked, 2 x 160 1.2x to 1.4x, while 3 x 200 ran 0.5x to 1.0x: a
# wide net's step is a real matmul, and the stacked optimizer's passes over K x P values cost
# more than torch's fused Adam kernel on each. Deeper-times-wider than this trains alone.
STACK_MAX_UNITS = 384  # n_layers x hidden_units


def group_by_structure(
    settings_list: Sequence[Mapping[str, Any]], *, max_units: int | None = STACK_MAX_UNITS
) -> list[list[int]]:
    """Indices of ``settings_list`` grouped by ``structure_key``, in order of first appearance.

    A trial with more than ``max_units`` (n_layers x hidden_units) is a group of its own.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, settings in enumerate(settings_list):
        merged = BNSoftmaxClassifier(**settings).get_params()
        wide = max_units is not None and merged["n_layers"] * merged["hidden_units"] > max_units
        key = ("alone", i) if wide else structure_key(settings)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def train_fused(
    settings_list: Sequence[Mapping[str, Any]],
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_val: ArrayLike,
    y_val: ArrayLike,
    *,
    pruner: SuccessiveHalving | None = None,
    workers: int = 1,
) -> list[BNSoftmaxClassifier]:
    """Fit one BNSoftmaxClassifier per settings, stacking those that share a structure.

    Without a ``pruner`` each comes back as ``BNSoftmaxClassifier(**settings).fit(X_train,
    y_train, eval_set=(X_val, y_val))`` would leave it. ``train_seconds_`` is the group's wall
    time divided among its models. ``workers`` threads train the groups side by side.
    """
    models = [BNSoftmaxClassifier(**s) for s in settings_list]
    groups = group_by_structure(settings_list)
    with threads(workers) as map_:

        def start(model: BNSoftmaxClassifier) -> Trainer:
            return model.start_training(X_train, y_train, eval_set=(X_val, y_val))

        trainers = list(map_(start, models))  # the untrained-loss probes, side by side too
        grouped = [[trainers[i] for i in group] for group in groups]
        seconds = _train_groups([_group_run(g) for g in grouped], pruner, map_)
    for group, spent in zip(groups, seconds, strict=True):
        for i in group:
            models[i].finish_training(trainers[i], spent / len(group))
    return models


def train_stacked(trainers: Sequence[Trainer]) -> None:
    """Train fresh Trainers that share data and structure as if each ran ``train()`` alone."""
    train_round([trainers])


def train_round(
    groups: Sequence[Sequence[Trainer]],
    *,
    pruner: SuccessiveHalving | None = None,
    workers: int = 1,
) -> list[float]:
    """Train groups of fresh Trainers, pruning at the rungs; seconds per group.

    Groups train independently between rungs, on ``workers`` threads (torch releases the GIL
    in its kernels), the largest first; at a rung every group has stopped at that epoch, so
    successive halving sees the whole round. Without a pruner each group trains to its end.
    """
    with threads(workers) as map_:
        return _train_groups([_group_run(group) for group in groups], pruner, map_)


@contextmanager
def threads(workers: int) -> Iterator[Callable[..., Iterator[Any]]]:
    """A ``map`` over ``workers`` threads (the builtin one for a single worker)."""
    if workers <= 1:
        yield map
        return
    with ThreadPoolExecutor(workers) as pool:
        yield pool.map


def _train_groups(
    runs: Sequence[_Run], pruner: SuccessiveHalving | None, map_: Callable[..., Iterator[Any]]
) -> list[float]:
    spent = [0.0] * len(runs)
    epoch = 0
    while any(run.alive for run in runs):
        epoch = pruner.next_rung(epoch) if pruner is not None else _NO_RUNG
        live = sorted(
            (k for k, run in enumerate(runs) if run.alive),
            key=lambda k: len(runs[k].alive),
            reverse=True,
        )
        stretch = functools.partial(_timed_stretch, until=epoch)
        for k, took in zip(live, map_(stretch, [runs[k] for k in live]), strict=True):
            spent[k] += took
        if pruner is not None:
            _prune(runs, pruner, epoch)
    return spent


_NO_RUNG = 2**62  # train to the end: every run stops by its own max_epochs first


def _timed_stretch(run: _Run, until: int) -> float:
    """Train ``run`` until its trainers reach epoch ``until`` or stop; the seconds it took."""
    started = time.perf_counter()
    while run.alive and run.alive[0].epoch < until:
        run.epoch()
    return time.perf_counter() - started


class _Run(Protocol):
    alive: list[Trainer]

    def epoch(self) -> None: ...

    def settle(self) -> None:
        """Let the trainers stopped from outside (pruned) leave the run."""


def _group_run(trainers: Sequence[Trainer]) -> _Run:
    first = trainers[0]
    for t in trainers:
        if t.epoch or t.config.batch_size != first.config.batch_size or not _same_rows(t, first):
            raise ValueError("stacked trainers need the same rows, batch size and a fresh start")
    if len(trainers) == 1:  # nothing to share: the stack would only cost
        return _Solo(first)
    return _FusedRun(list(trainers))


def _prune(runs: Sequence[_Run], pruner: SuccessiveHalving, epoch: int) -> None:
    """Successive halving over every live trainer of the round."""
    alive = [(run, t) for run in runs for t in run.alive]
    if len(alive) < 2:
        return
    ranks = pruner.ranks([t.best_validation() for _, t in alive])
    keep = pruner.keep_count(len(alive))
    for (_, t), rank in zip(alive, ranks, strict=True):
        if rank > keep:
            t.stop("pruned", pruner.reason(epoch, rank, len(alive)))
    for run in runs:
        run.settle()


class _Solo:
    """A group of one trains as its own Trainer does, one epoch at a time."""

    def __init__(self, trainer: Trainer) -> None:
        self.alive = [trainer]

    def epoch(self) -> None:
        trainer = self.alive[0]
        trainer.train(1)
        if trainer.done:
            self.alive = []

    def settle(self) -> None:
        self.alive = [t for t in self.alive if not t.done]


class _FusedRun:
    """The epoch loop over a shrinking stack; ``alive[j]`` is the trainer of stack row j."""

    def __init__(self, trainers: list[Trainer]) -> None:
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
        self.batch_size = config.batch_size
        self.n_threads = config.n_threads

    def epoch(self) -> None:
        with torch_threads(self.n_threads):
            self._epoch()

    def settle(self) -> None:
        self._leave([j for j, t in enumerate(self.alive) if t.done])

    def _epoch(self) -> None:
        alphas = [t.epoch_learning_rate() for t in self.alive]
        lr = torch.tensor(alphas, dtype=self.stack.out_bias.dtype)
        first = self.alive[0]
        orders = torch.stack(
            [torch.randperm(len(t.y_train), generator=t.generator) for t in self.alive]
        )
        xs, ys = first.x_train[orders], first.y_train[orders]
        totals = [0.0] * len(self.alive)
        seen = 0
        broken: list[tuple[Trainer, float, float, str]] = []  # diverged mid-epoch, left the stack
        for start in range(0, ys.shape[1], self.batch_size):
            x, y = xs[:, start : start + self.batch_size], ys[:, start : start + self.batch_size]
            if y.shape[1] < 2:
                continue
            values = self._step(x, y, lr)
            seen += y.shape[1]
            bad = []
            for j, (t, value) in enumerate(zip(self.alive, values, strict=True)):
                totals[j] += value * y.shape[1]
                t.record_batch_loss(value)
                if not math.isfinite(value):
                    bad.append(j)
            if bad:
                for j in bad:
                    # Weights before this step, averages after its forward: where Trainer stops.
                    self.alive[j].model.load_state_dict(self.stack.state_dict_of(j))
                    mean = totals[j] / max(seen, 1)
                    broken.append((self.alive[j], mean, alphas[j], f"the loss became {values[j]}"))
                keep = [j for j in range(len(self.alive)) if j not in bad]
                rows = _rows(keep)
                self._keep(rows)
                xs, ys, lr = xs[rows], ys[rows], lr[rows]
                totals = [totals[j] for j in keep]
                alphas = [alphas[j] for j in keep]
                if not self.alive:
                    break
        val = self._evaluate()
        for t, mean, alpha, problem in broken:
            loss, accuracy = t.evaluate()
            t.end_epoch(mean, loss, accuracy, alpha, problem=problem)
        for j, t in enumerate(self.alive):
            loss, accuracy = val[j]
            t.end_epoch(
                totals[j] / max(seen, 1), loss, accuracy, alphas[j], weights=self._weights(j)
            )
            if not t.done and t.epoch >= t.config.max_epochs:
                t.stop("max_epochs")
        self._leave([j for j, t in enumerate(self.alive) if t.done])

    def _weights(self, row: int) -> Callable[[], dict[str, torch.Tensor]]:
        return lambda: self.stack.state_dict_of(row)

    def _leave(self, done: Sequence[int]) -> None:
        """Stopped models take their weights out of the stack, which keeps the rest."""
        if not done:
            return
        for j in done:
            self.alive[j].model.load_state_dict(self.stack.state_dict_of(j))
        self._keep(_rows(j for j in range(len(self.alive)) if j not in done))

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

    def _keep(self, rows: torch.Tensor) -> None:
        self.stack.keep(rows)
        self.optimizer.keep(rows)
        self.alive = [self.alive[j] for j in rows.tolist()]


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
