"""glorot_normal_ follows tf.keras.initializers.GlorotNormal: truncated at 2 sd, rescaled."""

from __future__ import annotations

import math

import pytest
import torch

from models import glorot_normal_


def test_samples_are_truncated_and_have_the_glorot_standard_deviation() -> None:
    weight = torch.empty(512, 512)
    glorot_normal_(weight, generator=torch.Generator().manual_seed(0))
    target = math.sqrt(2.0 / (512 + 512))
    untruncated_sd = target / 0.87962566103423978
    assert weight.abs().max().item() <= 2 * untruncated_sd
    assert weight.std().item() == pytest.approx(target, rel=0.05)
    assert abs(weight.mean().item()) < 0.05 * target


def test_trailing_kernel_dimensions_count_in_both_fans() -> None:
    # Glorot needs only fan_in + fan_out, the same whichever way round a matrix is read; what can
    # go wrong is a kernel: (out, in, k) has fans in*k and out*k (sum 35 here), not a flat
    # (out, in*k) reading (sum 19), so a wrong reading is off by a factor of about 1.36.
    weight = torch.empty(40, 60, 5)
    glorot_normal_(weight, generator=torch.Generator().manual_seed(1))
    assert weight.std().item() == pytest.approx(math.sqrt(2.0 / ((40 + 60) * 5)), rel=0.05)


def test_same_generator_seed_same_weights() -> None:
    a, b = torch.empty(8, 4), torch.empty(8, 4)
    glorot_normal_(a, generator=torch.Generator().manual_seed(7))
    glorot_normal_(b, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="two dimensions"):
        glorot_normal_(torch.empty(5))
