"""Mini-batch training of a BNSoftmaxNet, in segments that can stop and resume.

A ``Trainer`` owns one model, its optimizer and its history. ``train(epochs)`` runs a segment and
returns; the panda strategy reads the curve, may change the learning rate or restore an earlier
``snapshot()``, and calls ``train`` again. A diverging run (NaN or inf loss, or a loss that
explodes) ends with status ``diverged`` and the curves so far: a result, never an exception.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from models.settings import check_training

EXPLOSION_WINDOW = 20  # fewest mini-batch steps whose mean loss is judged against the start
# ... unless the epochs are shorter: small data gives a few batches an epoch, and a run whose
# loss grew a million-fold must not pass as ok because it never reached 20 steps.
EXPLOSION_EPOCHS = 2
Status = Literal["running", "ok", "diverged"]
# "pruned": stopped between epochs by a successive-halving rung (models.fused), status ok.
StopReason = Literal["", "max_epochs", "early_stopped", "diverged", "pruned"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, learning rate alpha and its decay, mini-batches, stopping rules.

    ``momentum`` is beta (beta1 for adam); ``beta2`` is RMSprop's and Adam's second-moment decay.
    The learning rate after e epochs is alpha / (1 + lr_decay * e). Training counts as diverged on a
    NaN or inf loss, or when the mean loss over a stretch of ``EXPLOSION_WINDOW`` or more
    mini-batch steps, or of ``EXPLOSION_EPOCHS`` whole epochs (checked at epoch ends), exceeds
    ``explode_factor`` times the untrained model's mean mini-batch loss, plus three standard
    errors of batch noise. Measured here over eight seeds each: no healthy run (digits,
    rainfall, four optimizers, alpha from 1e-5 up to 3 for SGD) tripped it at factor 2, while
    at factor 1 RMSprop's first epoch on rainfall (0.73 against an untrained 0.62) did; plain
    SGD at alpha = 10 on rainfall trips it in 8 of 8.
    Single-batch spikes are no evidence: healthy binary runs see batches at 11x the untrained
    loss once confident. The two-epoch stretch serves small data: on a 201-row window of
    seattle-weather (1 to 4 batches an epoch) 150 samples of the default space never trip it,
    while SGD and momentum at alpha 0.3 to 3 trip it in 8 and 12 of 60 runs, each averaging
    3 to 12 times the untrained loss over two epochs; their best epochs had scored 0.30 to 0.75
    against the window's best of about 0.80.
    """

    learning_rate: float = 1e-2
    optimizer: str = "adam"
    momentum: float = 0.9
    beta2: float = 0.999
    batch_size: int = 64
    max_epochs: int = 50
    patience: int | None = 10
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    explode_factor: float = 2.0
    n_threads: int | None = None

    def __post_init__(self) -> None:
        check_training(asdict(self))


@dataclass
class History:
    """Per-epoch curves; validation entries are NaN when there is no validation set."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)

    def truncate(self, n_epochs: int) -> None:
        for curve in (self.train_loss, self.val_loss, self.val_accuracy, self.learning_rate):
            del curve[n_epochs:]


@dataclass(frozen=True)
class Snapshot:
    """Everything needed to resume training exactly where it was."""

    model: dict[str, Any]
    optimizer: dict[str, Any]
    generator: torch.Tensor
    epoch: int
    learning_rate: float
    best_val_loss: float
    best_model: dict[str, Any] | None
    bad_epochs: int
    stretch: tuple[float, ...]
    stretch_epochs: int = 0


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``n_threads`` while training, then put back.

    torch has one count per process; leaving ours behind would change every later torch call
    of the caller's. ``None`` leaves the count alone.
    """
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Trainer:
    """Trains one model on in-memory tensors; call ``train`` once or segment by segment."""

    def __init__(
        self,
        model: nn.Module,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        config: TrainConfig,
        *,
        x_val: torch.Tensor | None = None,
        y_val: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.x_train, self.y_train = x_train, y_train
        self.x_val, self.y_val = x_val, y_val
        self.generator = generator if generator is not None else torch.Generator()
        self.optimizer = build_optimizer(model, config)
        self._trained = [p for p in model.parameters() if p.requires_grad]
        self.history = History()
        self.epoch = 0
        self.status: Status = "running"
        self.stop_reason: StopReason = ""
        self.divergence = ""  # why training diverged, in words, when it did
        self.stop_detail = ""  # why something outside the trainer stopped it, in words
        self._alpha = config.learning_rate
        self._alpha_since = 0  # decay restarts whenever a person or panda sets a new rate
        self._best_val_loss = math.inf
        self._best_model: dict[str, Any] | None = None
        self._bad_epochs = 0
        with torch_threads(config.n_threads):
            self._untrained_loss, self._batch_noise = _untrained_loss(
                model, x_train, y_train, config
            )
        self._stretch: list[float] = []  # mini-batch losses since the last divergence check
        self._stretch_epochs = 0  # epochs those losses span

    @property
    def done(self) -> bool:
        return self.status != "running"

    @property
    def learning_rate(self) -> float:
        """The current base learning rate alpha (before decay)."""
        return self._alpha

    def set_learning_rate(self, alpha: float) -> None:
        if not alpha > 0:
            raise ValueError(f"learning rate must be positive, got {alpha}")
        self._alpha, self._alpha_since = alpha, self.epoch

    def train(self, epochs: int | None = None) -> History:
        """Train up to ``epochs`` more epochs (default: until a stopping rule fires)."""
        budget = self.config.max_epochs - self.epoch if epochs is None else epochs
        with torch_threads(self.config.n_threads):
            for _ in range(budget):
                if self.done:
                    break
                self._run_epoch()
        if not self.done and self.epoch >= self.config.max_epochs:
            self._stop("ok", "max_epochs")
        return self.history

    def snapshot(self) -> Snapshot:
        return Snapshot(
            model=copy.deepcopy(self.model.state_dict()),
            optimizer=copy.deepcopy(self.optimizer.state_dict()),
            generator=self.generator.get_state(),
            epoch=self.epoch,
            learning_rate=self._alpha,
            best_val_loss=self._best_val_loss,
            best_model=copy.deepcopy(self._best_model),
            bad_epochs=self._bad_epochs,
            stretch=tuple(self._stretch),
            stretch_epochs=self._stretch_epochs,
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Go back to a snapshot: weights, optimizer, shuffling, curves; the run is live again."""
        self.model.load_state_dict(snapshot.model)
        self.optimizer.load_state_dict(snapshot.optimizer)
        self.generator.set_state(snapshot.generator)
        self.epoch = snapshot.epoch
        self.history.truncate(snapshot.epoch)
        self._alpha, self._alpha_since = snapshot.learning_rate, snapshot.epoch
        self._best_val_loss = snapshot.best_val_loss
        self._best_model = copy.deepcopy(snapshot.best_model)
        self._bad_epochs = snapshot.bad_epochs
        self._stretch = list(snapshot.stretch)
        self._stretch_epochs = snapshot.stretch_epochs
        self.status, self.stop_reason, self.divergence = "running", "", ""
        self.stop_detail = ""

    def use_best_weights(self) -> None:
        """Load the weights of the epoch with the lowest validation loss, when one was seen."""
        if self._best_model is not None:
            self.model.load_state_dict(self._best_model)

    def epoch_learning_rate(self) -> float:
        """The learning rate the next epoch trains at: alpha decayed since it was last set."""
        return self._alpha / (1.0 + self.config.lr_decay * (self.epoch - self._alpha_since))

    def record_batch_loss(self, value: float) -> None:
        """A mini-batch's loss, for the divergence check at the epoch's end."""
        self._stretch.append(value)

    def end_epoch(
        self,
        train_loss: float,
        val_loss: float,
        val_accuracy: float,
        alpha: float,
        *,
        problem: str = "",
        weights: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """Close an epoch trained outside ``train`` (models.fused): curves, divergence, patience.

        ``problem`` says why the epoch already diverged (a non-finite loss), ``weights`` returns
        a copy of the model's current weights, kept if this is the best validation loss so far.
        """
        self.epoch += 1
        self.history.train_loss.append(train_loss)
        self.history.val_loss.append(val_loss)
        self.history.val_accuracy.append(val_accuracy)
        self.history.learning_rate.append(alpha)
        problem = problem or self._rising() or self._non_finite_validation(val_loss)
        if problem:
            self.divergence = f"epoch {self.epoch}, learning rate {alpha:.3g}: {problem}"
            self._stop("diverged", "diverged")
            return
        self._track_early_stopping(val_loss, weights or self._weights)

    def stop(self, reason: StopReason, detail: str = "") -> None:
        """End a healthy run from outside (its epoch budget, a pruning rung): status ok."""
        self._stop("ok", reason)
        self.stop_detail = detail

    def evaluate(self) -> tuple[float, float]:
        """Validation loss and accuracy of the model as it is now (NaN without validation)."""
        return self._evaluate()

    def best_validation(self) -> tuple[float, float]:
        """(val accuracy, val loss) of the epoch with the lowest validation loss so far: what the
        run would score if it stopped now and kept its best weights. NaN before any epoch."""
        losses = self.history.val_loss
        finite = [i for i, loss in enumerate(losses) if math.isfinite(loss)]
        if not finite:
            return math.nan, math.nan
        best = min(finite, key=losses.__getitem__)
        return self.history.val_accuracy[best], losses[best]

    def _weights(self) -> dict[str, Any]:
        return copy.deepcopy(self.model.state_dict())

    def _run_epoch(self) -> None:
        alpha = self.epoch_learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = alpha
        train_loss, problem = self._train_one_epoch()
        val_loss, val_accuracy = self._evaluate()
        self.end_epoch(train_loss, val_loss, val_accuracy, alpha, problem=problem)

    def _train_one_epoch(self) -> tuple[float, str]:
        """One pass over shuffled mini-batches; the mean loss and why it diverged, if it did."""
        self.model.train()
        n = self.x_train.shape[0]
        # Shuffle once per epoch and slice views: a per-sample DataLoader collate measured 2x
        # slower here, and one gather per epoch beats one per mini-batch.
        order = torch.randperm(n, generator=self.generator)
        xs, ys = self.x_train[order], self.y_train[order]
        total, seen, problem = 0.0, 0, ""
        for start in range(0, n, self.config.batch_size):
            x, y = (
                xs[start : start + self.config.batch_size],
                ys[start : start + self.config.batch_size],
            )
            if len(y) < 2:  # batch norm cannot normalise a single row
                continue
            loss = nn.functional.cross_entropy(self.model(x), y)
            value = loss.item()
            total, seen = total + value * len(y), seen + len(y)
            self.record_batch_loss(value)
            if not math.isfinite(value):  # stop before the step spreads NaN into the weights
                problem = f"the loss became {value}"
                break
            # What zero_grad(set_to_none=True) does, without its profiler and dynamo wrappers:
            # they cost ~6% of a step at batch 256.
            for parameter in self._trained:
                parameter.grad = None
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
        return total / max(seen, 1), problem

    def _rising(self) -> str:
        """Called at each epoch end: judges the stretch once it is long enough."""
        self._stretch_epochs += 1
        if len(self._stretch) < EXPLOSION_WINDOW and self._stretch_epochs < EXPLOSION_EPOCHS:
            return ""
        stretch, self._stretch, self._stretch_epochs = self._stretch, [], 0
        mean = sum(stretch) / len(stretch)
        limit = self.config.explode_factor * self._untrained_loss + 3.0 * self._batch_noise / (
            math.sqrt(len(stretch))
        )
        if mean <= limit:
            return ""
        return (
            f"the mean loss of the last {len(stretch)} mini-batches ({mean:.3g}) rose above "
            f"the untrained model's ({self._untrained_loss:.3g}, allowing {limit:.3g})"
        )

    def _non_finite_validation(self, val_loss: float) -> str:
        has_validation = self.x_val is not None
        return "" if not has_validation or math.isfinite(val_loss) else "validation loss not finite"

    def _evaluate(self) -> tuple[float, float]:
        if self.x_val is None or self.y_val is None:
            return math.nan, math.nan
        self.model.eval()
        with torch.inference_mode():
            logits = self.model(self.x_val)
            loss = nn.functional.cross_entropy(logits, self.y_val).item()
            accuracy = (logits.argmax(dim=1) == self.y_val).float().mean().item()
        return loss, accuracy

    def _track_early_stopping(self, val_loss: float, weights: Callable[[], dict[str, Any]]) -> None:
        if math.isnan(val_loss):
            return
        if val_loss < self._best_val_loss:
            self._best_val_loss, self._bad_epochs = val_loss, 0
            self._best_model = weights()
            return
        self._bad_epochs += 1
        if self.config.patience is not None and self._bad_epochs >= self.config.patience:
            self._stop("ok", "early_stopped")

    def _stop(self, status: Status, reason: StopReason) -> None:
        self.status, self.stop_reason = status, reason


def _untrained_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig
) -> tuple[float, float]:
    """Mean and standard deviation of the untrained model's mini-batch losses.

    Measured the way training measures it (mini-batch statistics, same batch size) on a copy of
    the model, so the running averages and the shuffling generator stay untouched.
    """
    probe = copy.deepcopy(model).train()
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    losses = []
    with torch.no_grad():
        for start in range(0, x.shape[0], config.batch_size):
            idx = order[start : start + config.batch_size]
            if idx.numel() >= 2:
                losses.append(nn.functional.cross_entropy(probe(x[idx]), y[idx]).item())
    batch = torch.tensor(losses, dtype=torch.float64)
    spread = batch.std().item() if len(losses) > 1 else 0.0
    return batch.mean().item(), spread


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimizer, with weight decay on the weight matrices only.

    Batch norm's gamma and beta and the output bias get no decay (as nanoGPT's
    configure_optimizers does): shrinking them fights normalisation instead of regularising.
    """
    trained = [p for p in model.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": trained, "weight_decay": 0.0}]
    if config.weight_decay > 0:
        # Two groups cost a second fused kernel call per step (~10% of a step at batch 256),
        # so they are built only when there is decay to keep off gamma, beta and the bias.
        groups = [
            {"params": [p for p in trained if p.dim() >= 2], "weight_decay": config.weight_decay},
            {"params": [p for p in trained if p.dim() < 2], "weight_decay": 0.0},
        ]
    alpha = config.learning_rate
    # fused kernels: one call per step instead of a Python loop over parameters; measured here
    # on rainfall (2 x 64 units, batch 256) Adam went from 288k to 411k samples/s.
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=alpha, fused=True)
    if config.optimizer == "momentum":
        # dampening = beta gives v = beta * v + (1 - beta) * dW, the moving-average form,
        # so alpha means the same step size as plain SGD.
        return torch.optim.SGD(
            groups, lr=alpha, momentum=config.momentum, dampening=config.momentum, fused=True
        )
    if config.optimizer == "rmsprop":  # torch has no fused RMSprop
        return torch.optim.RMSprop(groups, lr=alpha, alpha=config.beta2, eps=1e-8, foreach=True)
    return torch.optim.Adam(
        groups, lr=alpha, betas=(config.momentum, config.beta2), eps=1e-8, fused=True
    )
