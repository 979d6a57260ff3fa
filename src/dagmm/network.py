"""DAGMM networks as ensemble-native modules.

Every parameter carries a leading member dimension S, so one module holds S
independent DAGMMs (one per seed) that train together in batched matrix
multiplies; a single model is the case S = 1. Inputs are ``(S, N, n_features)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ACTIVATIONS", "DAGMMNet", "EnsembleLinear", "NetworkOutput", "reconstruction_features"]

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "elu": F.elu,
    "gelu": F.gelu,
    "leaky_relu": F.leaky_relu,
}


class EnsembleLinear(nn.Module):
    """S independent dense layers applied with one batched matmul.

    Parameters
    ----------
    n_members : int
    in_features, out_features : int
    """

    def __init__(self, n_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(n_members, 1, out_features))

    def reset_member(self, member: int, generator: torch.Generator) -> None:
        """Glorot-uniform weights and zero biases (the paper's TensorFlow defaults)."""
        bound = math.sqrt(6.0 / (self.in_features + self.out_features))
        with torch.no_grad():
            values = torch.rand(self.in_features, self.out_features, generator=generator)
            self.weight[member].copy_((values * 2.0 - 1.0) * bound)
            self.bias[member].zero_()

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(S, N, in_features)`` to ``(S, N, out_features)``."""
        return torch.baddbmm(self.bias, x, self.weight)


def _safe_norm(x: Tensor) -> Tensor:
    # sqrt of a clamped sum of squares: finite value AND finite gradient at the zero vector.
    return x.square().sum(-1).clamp_min(torch.finfo(x.dtype).tiny).sqrt()


def reconstruction_features(x: Tensor, x_hat: Tensor, eps: float = 1e-8) -> Tensor:
    """Relative Euclidean distance and cosine similarity (PAPER.md step 2), guarded.

    Parameters
    ----------
    x, x_hat : Tensor, shape (..., N, F)
    eps : float
        Floor of the norms in the denominators: an all-zero row or an all-zero
        reconstruction gives finite features (the paper adds no epsilon).

    Returns
    -------
    Tensor, shape (..., N, 2)
    """
    x_norm = _safe_norm(x)
    x_hat_norm = _safe_norm(x_hat)
    relative_distance = _safe_norm(x - x_hat) / x_norm.clamp_min(eps)
    cosine = (x * x_hat).sum(-1) / (x_norm * x_hat_norm).clamp_min(eps)
    return torch.stack([relative_distance, cosine], dim=-1)


class NetworkOutput(NamedTuple):
    """What one forward pass produces (all with leading ``(S, N)``)."""

    x: Tensor  # scaled input, (S, N, F)
    x_hat: Tensor  # reconstruction, (S, N, F)
    z: Tensor  # [z_c, z_r], (S, N, latent_dim + 2)
    gamma: Tensor  # soft memberships, (S, N, K)


class DAGMMNet(nn.Module):
    """Compression network, reconstruction features and estimation network.

    Parameters
    ----------
    n_features : int
        Width of the numeric input.
    hidden_sizes : sequence of int
        Encoder hidden layers; the decoder mirrors them.
    latent_dim : int
        Size of the code ``z_c``.
    estimation_hidden_sizes : sequence of int
        Hidden layers of the estimation network.
    n_components : int
        K, the number of mixture components.
    activation : str
        Hidden activation, one of :data:`ACTIVATIONS`.
    dropout : float
        Drop probability after each estimation hidden layer (0.5 in the paper),
        active only in training mode.
    n_members : int
        Number of independent models held (ensemble size S).

    Notes
    -----
    The buffers ``input_offset`` and ``input_scale`` (shape ``(S, 1, F)``) hold
    each member's feature scaling, applied as ``x * scale + offset`` before the
    encoder, so members trained on different rows scale them differently.
    """

    def __init__(
        self,
        n_features: int,
        hidden_sizes: Sequence[int],
        latent_dim: int,
        estimation_hidden_sizes: Sequence[int],
        n_components: int,
        activation: str = "tanh",
        dropout: float = 0.5,
        n_members: int = 1,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.n_features = n_features
        self.n_members = n_members
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.activation = activation
        self.dropout = dropout
        self._act = ACTIVATIONS[activation]
        enc = [n_features, *hidden_sizes, latent_dim]
        dec = enc[::-1]
        est = [latent_dim + 2, *estimation_hidden_sizes, n_components]
        self.encoder = nn.ModuleList(
            EnsembleLinear(n_members, a, b) for a, b in itertools.pairwise(enc)
        )
        self.decoder = nn.ModuleList(
            EnsembleLinear(n_members, a, b) for a, b in itertools.pairwise(dec)
        )
        self.estimation = nn.ModuleList(
            EnsembleLinear(n_members, a, b) for a, b in itertools.pairwise(est)
        )
        self.register_buffer("input_offset", torch.zeros(n_members, 1, n_features))
        self.register_buffer("input_scale", torch.ones(n_members, 1, n_features))

    def reset_parameters(self, seeds: Sequence[int]) -> None:
        """Initialise member ``s`` from its own generator seeded with ``seeds[s]``."""
        if len(seeds) != self.n_members:
            raise ValueError(f"need {self.n_members} seeds, got {len(seeds)}")
        layers = [*self.encoder, *self.decoder, *self.estimation]
        for member, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(int(seed))
            for layer in layers:
                layer.reset_member(member, generator)

    def _mlp(self, layers: nn.ModuleList, h: Tensor, dropout: float = 0.0) -> Tensor:
        for layer in layers[:-1]:
            h = self._act(layer(h))
            if dropout > 0.0:
                h = F.dropout(h, dropout, self.training)
        return layers[-1](h)

    def scale(self, x: Tensor) -> Tensor:
        """Apply each member's feature scaling to raw ``(S, N, F)`` inputs."""
        return x * self.input_scale + self.input_offset

    def forward(self, x: Tensor) -> NetworkOutput:
        """Run all members on ``x`` of shape ``(S, N, F)`` (or ``(1, N, F)`` broadcast)."""
        x = self.scale(x)
        z_c = self._mlp(self.encoder, x)
        x_hat = self._mlp(self.decoder, z_c)
        z = torch.cat([z_c, reconstruction_features(x, x_hat)], dim=-1)
        logits = self._mlp(self.estimation, z, self.dropout)
        return NetworkOutput(x, x_hat, z, torch.softmax(logits, dim=-1))

    def member(self, index: int) -> DAGMMNet:
        """A single-member copy of member ``index``."""
        single = DAGMMNet(
            self.n_features,
            [layer.out_features for layer in self.encoder[:-1]],
            self.latent_dim,
            [layer.out_features for layer in self.estimation[:-1]],
            self.n_components,
            self.activation,
            self.dropout,
            n_members=1,
        )
        state = {k: v[index : index + 1].detach().clone() for k, v in self.state_dict().items()}
        single.load_state_dict(state)
        return single.to(self.input_scale.device)
