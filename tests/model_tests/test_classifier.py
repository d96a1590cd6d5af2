"""BNSoftmaxNet against the maths: batch norm by hand, running averages, eval-mode consistency."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import BNSoftmaxNet


def _net(seed: int = 0, **kwargs: object) -> BNSoftmaxNet:
    params: dict[str, object] = dict(n_features=8, n_classes=3, n_layers=2, hidden_units=16)
    params.update(kwargs)
    return BNSoftmaxNet(**params, generator=torch.Generator().manual_seed(seed))  # type: ignore[arg-type]


def test_training_mode_batch_norm_is_the_seed_formula() -> None:
    torch.manual_seed(0)
    net = _net()
    block = net.hidden[0]
    with torch.no_grad():  # non-trivial gamma and beta so both terms are exercised
        block.bn.weight.uniform_(0.5, 2.0)
        block.bn.bias.uniform_(-1.0, 1.0)
    x = torch.randn(128, 8)
    block.train()
    out = block.bn(block.linear(x)).detach().numpy().astype(np.float64)

    z = (x @ block.linear.weight.T).detach().numpy().astype(np.float64)
    mu = z.mean(axis=0)
    sigma2 = z.var(axis=0)  # biased: the mini-batch's own variance
    z_norm = (z - mu) / np.sqrt(sigma2 + block.bn.eps)
    gamma = block.bn.weight.detach().numpy()
    beta = block.bn.bias.detach().numpy()
    np.testing.assert_allclose(out, gamma * z_norm + beta, rtol=1e-4, atol=1e-5)


def test_eval_mode_uses_the_exponential_moving_averages() -> None:
    torch.manual_seed(1)
    momentum = 0.2
    net = _net(bn_momentum=momentum)
    bn, linear = net.hidden[0].bn, net.hidden[0].linear
    mu_ema, var_ema = np.zeros(16), np.ones(16)
    net.train()
    for _ in range(5):
        x = torch.randn(64, 8) * 3 + 1
        net(x)
        z = (x @ linear.weight.T).detach().numpy().astype(np.float64)
        mu_ema = (1 - momentum) * mu_ema + momentum * z.mean(axis=0)
        var_ema = (1 - momentum) * var_ema + momentum * z.var(axis=0, ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), mu_ema, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), var_ema, rtol=1e-4, atol=1e-5)

    net.eval()
    x = torch.randn(10, 8)
    z = (x @ linear.weight.T).detach().numpy()
    expected = (z - mu_ema) / np.sqrt(var_ema + bn.eps)  # gamma = 1, beta = 0 untrained
    with torch.no_grad():
        np.testing.assert_allclose(bn(linear(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_one_row_alone_equals_the_same_row_in_a_batch() -> None:
    net = _net(seed=3)
    net.train()
    for _ in range(3):
        net(torch.randn(32, 8))
    batch = torch.randn(64, 8)
    together = net.predict_proba(batch)
    alone = net.predict_proba(batch[17:18])
    torch.testing.assert_close(alone[0], together[17])
    assert net.training, "predict_proba must restore the training mode it found"


def test_softmax_rows_sum_to_one() -> None:
    proba = _net(n_classes=5).predict_proba(torch.randn(50, 8) * 10)
    torch.testing.assert_close(proba.sum(dim=1), torch.ones(50))
    assert bool((proba >= 0).all())


def test_hidden_linears_have_no_bias_and_zero_layers_is_softmax_regression() -> None:
    net = _net(n_layers=3)
    assert all(block.linear.bias is None for block in net.hidden)
    assert len(net.hidden) == 3
    regression = _net(n_layers=0)
    assert len(regression.hidden) == 0
    assert regression.output.in_features == 8


def test_bn_starts_at_gamma_one_beta_zero() -> None:
    bn = _net().hidden[1].bn
    assert torch.equal(bn.weight, torch.ones(16))
    assert torch.equal(bn.bias, torch.zeros(16))


@pytest.mark.parametrize(
    "kwargs",
    [{"n_classes": 1}, {"n_layers": -1}, {"hidden_units": 0}, {"activation": "swishy"}],
)
def test_bad_shapes_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _net(**kwargs)
