"""K BNSoftmaxNets of one depth held as stacked tensors: one batched matmul per layer for all K.

Model k's hidden layer l is ``W[l][k]`` of shape (in, out), its batch norm gamma, beta and running
averages row k of (K, H) tensors. Widths may differ: every model is padded to the widest, and the
padding stays exactly inert: padded weights start at zero and their gradients are masked to zero,
so a padded unit's pre-activation is 0 in every row, batch norm maps it to beta = 0 with running
mean 0, and the weights out of it are 0, so it adds exact zeros to the real units. Batch norm runs
as torch's own kernel over a (rows, K * H) view, one channel per (model, unit), so each model's
statistics and moving averages are computed exactly as its own BatchNorm1d would.

``StackedAdam`` and friends update all K models in a few tensor operations with per-model
hyperparameters (torch's optimizers take one learning rate per tensor, not per row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from models.net import ACTIVATIONS, BNBlock, BNSoftmaxNet


class StackedNet:
    """The stacked parameters and buffers of K same-depth networks, and their forward pass."""

    def __init__(self, nets: Sequence[BNSoftmaxNet], activation: str) -> None:
        first = nets[0]
        blocks = _blocks(first)
        self.n_layers = len(blocks)
        self.widths = [net.output.in_features for net in nets]
        self.width = max(self.widths)
        self.activation = ACTIVATIONS[activation]()
        bn = blocks[0].bn if self.n_layers else None
        self.bn_momentum = float(bn.momentum) if bn is not None and bn.momentum else 0.0
        self.eps = float(bn.eps) if bn is not None else 1e-5
        like = first.output.weight
        k, h, c = len(nets), self.width, first.output.out_features
        n_in = [blocks[0].linear.in_features if self.n_layers else 0] + [h] * self.n_layers
        self.weights = [like.new_zeros(k, n_in[i], h) for i in range(self.n_layers)]
        self.gammas = [like.new_zeros(k, h) for _ in range(self.n_layers)]
        self.betas = [like.new_zeros(k, h) for _ in range(self.n_layers)]
        self.means = [like.new_zeros(k * h) for _ in range(self.n_layers)]
        self.vars = [like.new_ones(k * h) for _ in range(self.n_layers)]
        n_last = h if self.n_layers else first.output.in_features
        self.out_weight = like.new_zeros(k, n_last, c)
        self.out_bias = like.new_zeros(k, c)
        with torch.no_grad():
            for i, net in enumerate(nets):
                self._load(i, net)
        self.masks = self._masks() if len(set(self.widths)) > 1 else None
        self.params = [*self.weights, *self.gammas, *self.betas, self.out_weight, self.out_bias]
        for p in self.params:
            p.requires_grad_(True)

    @property
    def size(self) -> int:
        return self.out_bias.shape[0]

    @property
    def decayed(self) -> list[bool]:
        """Which of ``params`` are weight matrices (decayed); gamma, beta and bias are not."""
        return [True] * self.n_layers + [False] * (2 * self.n_layers) + [True, False]

    def _load(self, i: int, net: BNSoftmaxNet) -> None:
        w, h = self.widths[i], self.width
        for layer, block in enumerate(_blocks(net)):
            weight = block.linear.weight.detach().T  # (in, out)
            self.weights[layer][i, : weight.shape[0], :w] = weight
            self.gammas[layer][i, :w] = block.bn.weight.detach()
            self.betas[layer][i, :w] = block.bn.bias.detach()
            mu, sigma2 = block.bn.running_mean, block.bn.running_var
            assert mu is not None and sigma2 is not None  # BNBlock always tracks them
            self.means[layer].view(-1, h)[i, :w] = mu
            self.vars[layer].view(-1, h)[i, :w] = sigma2
        self.out_weight[i, :w] = net.output.weight.detach().T
        self.out_bias[i] = net.output.bias.detach()

    def _masks(self) -> list[torch.Tensor | None]:
        """Per parameter: True where a gradient may flow, None where none can reach the padding.

        Only weights leaving a padded unit need a mask: the unit's activation is act(0), which
        is 0.5 for the sigmoid. Into a padded unit the gradient is exactly zero already (batch
        norm's backward of a zero output gradient), and so are its gamma's and beta's.
        """
        units = torch.arange(self.width) < torch.tensor(self.widths).unsqueeze(1)  # (K, H)
        rows = units.unsqueeze(2)  # (K, H, 1): the input side of a (K, in, out) weight
        weights: list[torch.Tensor | None] = [None] + [rows] * (self.n_layers - 1)
        out = rows if self.n_layers else None
        return [*weights, *([None] * (2 * self.n_layers)), out, None]

    def logits(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """(K, B, C) logits of (K, B, F) inputs; training uses and updates batch statistics."""
        a = x
        for layer in range(self.n_layers):
            z = torch.bmm(a, self.weights[layer])
            k, b, h = z.shape
            z = nn.functional.batch_norm(
                z.transpose(0, 1).reshape(b, k * h),
                self.means[layer],
                self.vars[layer],
                self.gammas[layer].view(-1),
                self.betas[layer].view(-1),
                training,
                self.bn_momentum,
                self.eps,
            )
            a = self.activation(z.view(b, k, h)).transpose(0, 1)
        return torch.baddbmm(self.out_bias.unsqueeze(1), a, self.out_weight)

    def state_dict_of(self, i: int) -> dict[str, torch.Tensor]:
        """Model ``i``'s weights and buffers, unpadded, keyed as its BNSoftmaxNet names them."""
        w, h, state = self.widths[i], self.width, {}
        n_in = self.weights[0].shape[1] if self.n_layers else 0
        for layer in range(self.n_layers):
            prefix = f"hidden.{layer}."
            rows = n_in if layer == 0 else w
            state[prefix + "linear.weight"] = self.weights[layer][i, :rows, :w].detach().T.clone()
            state[prefix + "bn.weight"] = self.gammas[layer][i, :w].detach().clone()
            state[prefix + "bn.bias"] = self.betas[layer][i, :w].detach().clone()
            state[prefix + "bn.running_mean"] = self.means[layer].view(-1, h)[i, :w].clone()
            state[prefix + "bn.running_var"] = self.vars[layer].view(-1, h)[i, :w].clone()
            state[prefix + "bn.num_batches_tracked"] = torch.tensor(0)
        rows = w if self.n_layers else self.out_weight.shape[1]
        state["output.weight"] = self.out_weight[i, :rows].detach().T.clone()
        state["output.bias"] = self.out_bias[i].detach().clone()
        return state

    def keep(self, rows: torch.Tensor) -> None:
        """Only the models at ``rows`` stay in the stack (the others stopped or diverged)."""
        h = self.width

        def take(t: torch.Tensor) -> torch.Tensor:
            return t.detach()[rows].clone().requires_grad_(t.requires_grad)

        self.weights = [take(t) for t in self.weights]
        self.gammas = [take(t) for t in self.gammas]
        self.betas = [take(t) for t in self.betas]
        self.means = [t.view(-1, h)[rows].reshape(-1) for t in self.means]
        self.vars = [t.view(-1, h)[rows].reshape(-1) for t in self.vars]
        self.out_weight, self.out_bias = take(self.out_weight), take(self.out_bias)
        self.widths = [self.widths[i] for i in rows.tolist()]
        if self.masks is not None:
            self.masks = [None if m is None else m[rows] for m in self.masks]
        self.params = [*self.weights, *self.gammas, *self.betas, self.out_weight, self.out_bias]


def _blocks(net: BNSoftmaxNet) -> list[BNBlock]:
    return [cast(BNBlock, block) for block in net.hidden]


class StackedOptimizer:
    """torch's SGD (with dampened momentum), RMSprop or Adam, per-model hyperparameters.

    Written as torch's single-tensor implementations write them, so that K models stepped here
    follow the trajectories torch.optim gives each alone (to rounding; float64 to ~1e-12). All
    parameters are stepped as one (K, P) matrix: the gradients gathered by one ``cat``, the
    moments kept flat, the step scattered back by one ``_foreach_sub_``; a loop over the
    parameter tensors measured 40% of a fused step on seattle-weather.
    """

    def __init__(self, kind: str, stack: StackedNet, hyper: dict[str, Any]) -> None:
        self.kind = kind
        like = stack.out_bias
        # Per-model hyperparameters as (K, 1) columns: momentum (beta1), beta2, weight decay.
        self.hyper = {n: torch.tensor(v, dtype=like.dtype).unsqueeze(1) for n, v in hyper.items()}
        self.state: dict[str, torch.Tensor] = {}
        self.steps = 0
        k = stack.size
        self.mask = None if stack.masks is None else _flat(
            [torch.ones_like(p, dtype=torch.bool) if m is None else m.expand_as(p)
             for p, m in zip(stack.params, stack.masks, strict=True)], k
        )  # fmt: skip
        decayed = _flat(
            [
                torch.full_like(p, float(d))
                for p, d in zip(stack.params, stack.decayed, strict=True)
            ],
            k,
        )
        wd = self.hyper["weight_decay"]
        self.decay = decayed * wd if bool((wd > 0).any()) else None

    def keep(self, rows: torch.Tensor) -> None:
        self.hyper = {n: v[rows] for n, v in self.hyper.items()}
        self.state = {n: s[rows] for n, s in self.state.items()}
        self.mask = None if self.mask is None else self.mask[rows]
        self.decay = None if self.decay is None else self.decay[rows]

    def step(self, params: Sequence[torch.Tensor], lr: torch.Tensor) -> None:
        """One step of every model; ``lr`` holds each model's learning rate, shape (K,)."""
        self.steps += 1
        k = lr.shape[0]
        with torch.no_grad():
            grad = _flat([p.grad for p in params if p.grad is not None], k)
            if self.mask is not None:  # the padding's gradients to exactly zero
                grad = torch.where(self.mask, grad, 0.0)
            if self.decay is not None:
                grad = grad + self.decay * _flat([p.detach() for p in params], k)
            update = self._update(grad) * lr.unsqueeze(1)
            sizes = [p[0].numel() for p in params]
            torch._foreach_sub_(
                [p.view(k, -1) for p in params], list(torch.split(update, sizes, dim=1))
            )

    def _update(self, grad: torch.Tensor) -> torch.Tensor:
        """The step direction before the learning rate, updating the moment estimates."""
        if self.kind == "sgd":
            return grad
        if self.kind == "momentum":
            beta = self.hyper["momentum"]
            if "buf" not in self.state:  # torch starts the buffer at the first gradient
                self.state["buf"] = grad.clone()
            else:
                self.state["buf"].mul_(beta).add_((1 - beta) * grad)
            return self.state["buf"]
        beta2 = self.hyper["beta2"]
        square = self.state.setdefault("square", torch.zeros_like(grad))
        square.mul_(beta2).addcmul_(grad, grad * (1 - beta2))
        if self.kind == "rmsprop":
            return grad.div_(square.sqrt().add_(1e-8))
        beta1 = self.hyper["momentum"]
        mean = self.state.setdefault("mean", torch.zeros_like(grad))
        mean.lerp_(grad, 1 - beta1)
        correction1 = 1 - beta1**self.steps
        # In place where it can be: each pass over the (K, P) matrix is a measurable share.
        denom = square.sqrt().div_((1 - beta2**self.steps).sqrt()).add_(1e-8)
        return denom.reciprocal_().mul_(mean).div_(correction1)


def _flat(tensors: Sequence[torch.Tensor], k: int) -> torch.Tensor:
    """(K, ...) tensors side by side as one (K, P) matrix."""
    return torch.cat([t.reshape(k, -1) for t in tensors], dim=1)
