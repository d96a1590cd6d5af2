"""Glorot-normal initialisation with Keras semantics."""

from __future__ import annotations

import math

import torch

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
