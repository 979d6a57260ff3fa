"""Baseline for the benchmarks: a plain eager PyTorch DAGMM written the way public ports do.

This is deliberately *not* package code. It follows the structure shared by the
widely copied PyTorch ports of DAGMM: an ``nn.Module`` of ``nn.Sequential``
``nn.Linear`` layers, a per-row ``torch.utils.data.Dataset`` batched by a
``DataLoader(batch_size=1024, shuffle=True)``, the mixture parameters from
broadcast sums, and the energy with a Python loop over the K components that
forms an explicit inverse and determinant of each covariance.

Two deliberate kindnesses to the baseline, so that ratios against it are
conservative: scoring runs under ``torch.no_grad`` (one port keeps autograd
graphs alive while scoring), and the covariance jitter is 1e-6 instead of the
1e-12 some ports add (which float32 cannot represent on an O(1) diagonal).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class RowDataset(Dataset):
    """One row per item, as the ports' KDDCUP ``Dataset`` classes do."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.labels = np.zeros(len(data), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        return np.float32(self.data[index]), np.float32(self.labels[index])


class PortDAGMM(nn.Module):
    """Compression + estimation network with the ports' layer layout."""

    def __init__(
        self,
        n_features: int = 120,
        hidden: tuple[int, ...] = (60, 30, 10),
        latent_dim: int = 1,
        n_gmm: int = 4,
    ) -> None:
        super().__init__()
        sizes = [n_features, *hidden, latent_dim]
        enc: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            enc += [nn.Linear(a, b), nn.Tanh()]
        self.encoder = nn.Sequential(*enc[:-1])
        back = sizes[::-1]
        dec: list[nn.Module] = []
        for a, b in itertools.pairwise(back):
            dec += [nn.Linear(a, b), nn.Tanh()]
        self.decoder = nn.Sequential(*dec[:-1])
        self.estimation = nn.Sequential(
            nn.Linear(latent_dim + 2, 10),
            nn.Tanh(),
            nn.Dropout(p=0.5),
            nn.Linear(10, n_gmm),
            nn.Softmax(dim=1),
        )
        self.eps = 1e-6

    @staticmethod
    def relative_euclidean_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).norm(2, dim=1) / a.norm(2, dim=1)

    def forward(self, x: torch.Tensor):
        enc = self.encoder(x)
        dec = self.decoder(enc)
        rec_cosine = nn.functional.cosine_similarity(x, dec, dim=1)
        rec_euclidean = self.relative_euclidean_distance(x, dec)
        z = torch.cat([enc, rec_euclidean.unsqueeze(-1), rec_cosine.unsqueeze(-1)], dim=1)
        gamma = self.estimation(z)
        return enc, dec, z, gamma

    def compute_gmm_params(self, z: torch.Tensor, gamma: torch.Tensor):
        n = gamma.size(0)
        sum_gamma = torch.sum(gamma, dim=0)
        phi = sum_gamma / n
        mu = torch.sum(gamma.unsqueeze(-1) * z.unsqueeze(1), dim=0) / sum_gamma.unsqueeze(-1)
        z_mu = z.unsqueeze(1) - mu.unsqueeze(0)
        z_mu_outer = z_mu.unsqueeze(-1) * z_mu.unsqueeze(-2)
        cov = torch.sum(gamma.unsqueeze(-1).unsqueeze(-1) * z_mu_outer, dim=0)
        cov = cov / sum_gamma.unsqueeze(-1).unsqueeze(-1)
        return phi, mu, cov

    def compute_energy(self, z, phi, mu, cov, size_average: bool = True):
        k, d, _ = cov.size()
        z_mu = z.unsqueeze(1) - mu.unsqueeze(0)
        cov_inverse, det_cov = [], []
        cov_diag = 0
        for i in range(k):
            cov_k = cov[i] + torch.eye(d, device=cov.device) * self.eps
            cov_inverse.append(torch.inverse(cov_k).unsqueeze(0))
            det_cov.append(torch.det(cov_k * (2 * np.pi)).unsqueeze(0))
            cov_diag = cov_diag + torch.sum(1 / cov_k.diag())
        cov_inverse = torch.cat(cov_inverse, dim=0)
        det_cov = torch.cat(det_cov)
        exp_term_tmp = -0.5 * torch.sum(
            torch.sum(z_mu.unsqueeze(-1) * cov_inverse.unsqueeze(0), dim=-2) * z_mu, dim=-1
        )
        max_val = torch.max(exp_term_tmp.clamp(min=0), dim=1, keepdim=True)[0]
        exp_term = torch.exp(exp_term_tmp - max_val)
        sample_energy = -max_val.squeeze() - torch.log(
            torch.sum(phi.unsqueeze(0) * exp_term / torch.sqrt(det_cov).unsqueeze(0), dim=1) + 1e-12
        )
        if size_average:
            sample_energy = torch.mean(sample_energy)
        return sample_energy, cov_diag

    def loss_function(self, x, x_hat, z, gamma, lambda_energy=0.1, lambda_cov_diag=0.005):
        recon_error = torch.sum((x - x_hat) ** 2, dim=1).mean()
        phi, mu, cov = self.compute_gmm_params(z, gamma)
        sample_energy, cov_diag = self.compute_energy(z, phi, mu, cov)
        loss = recon_error + lambda_energy * sample_energy + lambda_cov_diag * cov_diag
        return loss, sample_energy, recon_error, cov_diag


class PortSolver:
    """The ports' training and scoring loops around :class:`PortDAGMM`."""

    def __init__(
        self, n_features: int, hidden=(60, 30, 10), latent_dim=1, n_gmm=4, lr=1e-4, device="cpu"
    ):
        # The ports move each collated batch to the GPU (``to_var``/``.cuda()``); so here.
        self.device = torch.device(device)
        self.model = PortDAGMM(n_features, tuple(hidden), latent_dim, n_gmm).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)

    def step(self, batch: torch.Tensor) -> float:
        self.model.train()
        batch = batch.to(self.device)
        _, dec, z, gamma = self.model(batch)
        loss, _, _, _ = self.model.loss_function(batch, dec, z, gamma)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5)
        self.optimizer.step()
        return loss.item()

    def train(self, data: np.ndarray, epochs: int, batch_size: int = 1024) -> None:
        loader = DataLoader(RowDataset(data), batch_size=batch_size, shuffle=True)
        for _ in range(epochs):
            for batch, _labels in loader:
                self.step(batch)

    @torch.no_grad()
    def fit_mixture(self, data: np.ndarray, batch_size: int = 1024):
        """The ports' post-training pass: mixture parameters accumulated over the training set."""
        self.model.eval()
        loader = DataLoader(RowDataset(data), batch_size=batch_size, shuffle=False)
        n, mu_sum, cov_sum, gamma_sum = 0, 0, 0, 0
        for batch, _labels in loader:
            batch = batch.to(self.device)
            _, _, z, gamma = self.model(batch)
            _phi, mu, cov = self.model.compute_gmm_params(z, gamma)
            batch_gamma_sum = torch.sum(gamma, dim=0)
            gamma_sum = gamma_sum + batch_gamma_sum
            mu_sum = mu_sum + mu * batch_gamma_sum.unsqueeze(-1)
            cov_sum = cov_sum + cov * batch_gamma_sum.unsqueeze(-1).unsqueeze(-1)
            n += batch.size(0)
        self.phi = gamma_sum / n
        self.mu = mu_sum / gamma_sum.unsqueeze(-1)
        self.cov = cov_sum / gamma_sum.unsqueeze(-1).unsqueeze(-1)

    @torch.no_grad()
    def score(self, data: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        self.model.eval()
        loader = DataLoader(RowDataset(data), batch_size=batch_size, shuffle=False)
        energies = []
        for batch, _labels in loader:
            _, _, z, _ = self.model(batch.to(self.device))
            energy, _ = self.model.compute_energy(
                z, self.phi, self.mu, self.cov, size_average=False
            )
            energies.append(energy.data.cpu().numpy())
        return np.concatenate(energies)

    def fit(self, data: np.ndarray, epochs: int, batch_size: int = 1024) -> np.ndarray:
        """Train, fit the mixture, score the training rows (what ``DAGMM.fit`` does)."""
        self.train(data, epochs, batch_size)
        self.fit_mixture(data, batch_size)
        return self.score(data, batch_size)
