"""BNSoftmaxNet: hidden blocks of Linear (no bias) -> BatchNorm -> activation, then softmax logits.

Batch norm, per hidden unit over a mini-batch of m rows:
    mu = mean(Z), sigma^2 = var(Z) (biased), Z_norm = (Z - mu) / sqrt(sigma^2 + eps),
    Z_out = gamma * Z_norm + beta.
BN's beta does the bias's job, so the Linear before it has none. At test time mu and sigma^2 are
the exponential moving averages gathered in training (torch.nn.BatchNorm1d's running statistics:
running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.settings import check_shape

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
}


class BNBlock(nn.Module):
    """One hidden layer: Z = W a (no bias), batch norm with learned gamma and beta, activation."""

    def __init__(
        self, n_in: int, n_out: int, activation: str, bn_momentum: float, eps: float
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, bias=False)
        self.bn = nn.BatchNorm1d(n_out, eps=eps, momentum=bn_momentum)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        # The functional calls skip BatchNorm1d.forward's Python (input checks and a
        # num_batches_tracked increment, read only when momentum is None): ~5% of a training
        # step at batch 256. Training normalises by the batch's mu and sigma^2 and updates their
        # moving averages; eval mode uses those averages.
        z = nn.functional.batch_norm(
            nn.functional.linear(a, self.linear.weight),
            bn.running_mean,
            bn.running_var,
            bn.weight,
            bn.bias,
            self.training,
            bn.momentum if bn.momentum is not None else 0.0,
            bn.eps,
        )
        return self.activation(z)  # type: ignore[no-any-return]


class BNSoftmaxNet(nn.Module):
    """A batch-norm softmax classifier over ``n_classes``; ``n_layers=0`` is softmax regression."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        n_layers: int,
        hidden_units: int,
        activation: str = "relu",
        bn_momentum: float = 0.1,
        eps: float = 1e-5,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_shape(n_features, n_classes, n_layers, hidden_units, activation)
        widths = [n_features] + [hidden_units] * n_layers
        self.hidden = nn.Sequential(
            *(
                BNBlock(n_in, n_out, activation, bn_momentum, eps)
                for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
            )
        )
        self.output = nn.Linear(widths[-1], n_classes)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-normal weights, zero output bias, BN gamma = 1 and beta = 0."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                glorot_normal_(module.weight, generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm1d):
                module.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (the softmax is folded into the cross-entropy loss for numerical stability)."""
        return self.output(self.hidden(x))  # type: ignore[no-any-return]

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities in eval mode (BN on its running averages)."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                return torch.softmax(self(x), dim=1)
        finally:
            self.train(was_training)


# Standard deviation of a standard normal truncated to [-2, 2]. Keras divides by it so that the
# truncated samples, not the untruncated distribution, have the Glorot standard deviation.
_TRUNCATED_STD = 0.87962566103423978


def glorot_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill a weight in place from tf.keras.initializers.GlorotNormal's distribution.

    A normal with stddev sqrt(2 / (fan_in + fan_out)) / 0.8796, cut at two of its own standard
    deviations, so the kept samples have standard deviation sqrt(2 / (fan_in + fan_out)).
    """
    if tensor.dim() < 2:
        raise ValueError("glorot_normal_ needs a weight with at least two dimensions")
    fan_in, fan_out = _fans(tensor)
    std = math.sqrt(2.0 / (fan_in + fan_out)) / _TRUNCATED_STD
    with torch.no_grad():
        return torch.nn.init.trunc_normal_(
            tensor, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std, generator=generator
        )


def _fans(tensor: torch.Tensor) -> tuple[int, int]:
    # torch stores Linear weights as (out_features, in_features); any trailing dims are a kernel.
    receptive = math.prod(tensor.shape[2:]) if tensor.dim() > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive
