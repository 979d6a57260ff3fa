"""A hand-derived DAGMM training step for tanh networks on the CPU.

Autograd records a node for every tensor operation of a step and replays the
graph backward; at the paper's sizes (a 1024-row batch, layers of 1 to 120
units, K = 4, D = 3) each operation costs microseconds, so on a CPU the
bookkeeping of some 400 operations, not the arithmetic, bounds the step. This
module runs the same step (forward, Eq. 7, the gradients of every parameter)
as a fixed sequence of batched matrix multiplies and elementwise kernels: the
network's backward is the textbook one for dense tanh layers, the
reconstruction features' in closed form below, and the mixture's from
:func:`dagmm.mixture.energy_and_penalty_gradients_numpy`. The large products
run in torch; everything on per-row vectors and (K, N) memberships (features,
softmax, mixture and their gradients) runs as compiled passes over the rows
(:mod:`dagmm._kernels`, numba) or, without numba, in numpy, whose
per-operation cost on arrays of a few thousand elements is a fraction of
torch's. Both paths' gradients agree with autograd's to float32 rounding
(``tests/test_fused.py``).

It serves the default case (tanh activations, CPU, one process); the training
loop uses the autograd step everywhere else, and for any batch whose
covariance needs more jitter than ``reg_covar`` (the autograd composition
escalates it and warns).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import _kernels
from ._torch import is_compiling
from .graphs import gather_rows
from .mixture import CholeskyFallbackNeeded, energy_and_penalty_gradients_numpy
from .network import (
    _TORCH_TANH_FAST,
    NORM_FLOOR,
    DAGMMNet,
    EnsembleLinear,
    _numpy_tanh_ok,
    _tanh_inplace,
    row_products,
)

__all__ = ["FusedStep", "fused_step_supported"]


def fused_step_supported(net: DAGMMNet, x: Tensor, distributed: bool) -> bool:
    """Whether :class:`FusedStep` computes this network's step (else use autograd)."""
    return (
        net.activation == "tanh"
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and all(p.dtype == torch.float32 for p in net.parameters())
        and not distributed
        and not is_compiling()
    )


class _Dense(NamedTuple):
    """A layer's parameters and gradient buffers, without the member dimension when S = 1."""

    weight: Tensor
    bias: Tensor
    weight_grad: Tensor
    bias_grad: Tensor


def _views(layer: EnsembleLinear, single: bool) -> _Dense:
    weight_grad, bias_grad = layer.weight.grad, layer.bias.grad
    assert weight_grad is not None and bias_grad is not None  # FusedStep allocates them
    tensors = (layer.weight, layer.bias, weight_grad, bias_grad)
    return _Dense(*(t[0] if single else t for t in tensors))


class _Workspace:
    """The step's intermediate tensors, kept from one step to the next by name.

    A 20-member step on the KDDCUP network writes 63 MiB of activations and
    gradients. Allocated afresh every step, much of that memory went back to the
    kernel at each free and came back as page faults (281 to 1,035 a step); with
    the tensors kept, ``fit_ensemble`` runs 1.09x as fast (paired median against
    the step that allocated them, ``docs/performance.md``). Each name holds one
    tensor that every step overwrites, so nothing a step returns may be one of them.
    """

    def __init__(self) -> None:
        self._tensors: dict[tuple, Tensor] = {}

    def __call__(self, key: tuple, shape: Sequence[int], dtype: torch.dtype) -> Tensor:
        tensor = self._tensors.get(key)
        if tensor is None or tensor.shape != tuple(shape) or tensor.dtype != dtype:
            tensor = torch.empty(tuple(shape), dtype=dtype, device="cpu")
            self._tensors[key] = tensor
        return tensor


def _affine(layer: _Dense, h: Tensor, out: Tensor) -> Tensor:
    # One member works on 2-D tensors: a plain GEMM beats a batch of one, and
    # every member-dimension view it avoids is a dispatch saved.
    if h.dim() == 2:
        return torch.addmm(layer.bias, h, layer.weight, out=out)
    return torch.baddbmm(layer.bias, h, layer.weight, out=out)


def _mm(a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
    return torch.mm(a, b, out=out) if a.dim() == 2 else torch.bmm(a, b, out=out)


# Members' hidden layers are stored feature-major, (S, units, N), and handed on as
# their (S, N, units) views: MKL's batched products run about a fifth faster with
# the rows as the long, contiguous axis at these shapes (thin layers of 1 to 30
# units most; `benchmarks/bench_ensemble.py --step-split`), and a view costs nothing.
# One model keeps row-major 2-D products, which are faster that way round.


def _storage_shape(h: Tensor, units: int) -> tuple[int, ...]:
    """The shape of the storage of a layer of ``units`` outputs on input ``h``."""
    if h.dim() == 2:
        return (h.shape[0], units)
    return (h.shape[0], units, h.shape[1])


def _hidden_affine(layer: _Dense, h: Tensor, out: Tensor) -> Tensor:
    """``bias + h @ weight`` of a hidden layer into ``out`` (its storage, see
    :func:`_storage_shape`); for members a view of feature-major storage."""
    if h.dim() == 2:
        return torch.addmm(layer.bias, h, layer.weight, out=out)
    return torch.baddbmm(
        layer.bias.transpose(-1, -2), layer.weight.transpose(-1, -2), h.transpose(-1, -2), out=out
    ).transpose(-1, -2)


def _input_grad(grad: Tensor, weight: Tensor, out: Tensor) -> Tensor:
    """``grad @ weight.T``, the gradient of a layer's input, into ``out`` (its storage,
    see :func:`_storage_shape`); for members feature-major."""
    if grad.dim() == 2:
        return torch.mm(grad, weight.t(), out=out)
    return torch.bmm(weight, grad.transpose(-1, -2), out=out).transpose(-1, -2)


def _tanh_affine(layer: _Dense, h: Tensor, out: Tensor, threads: int) -> Tensor:
    # Where torch's tanh is as fast per thread as numpy's, torch's kernel splits
    # the layer over the step's threads (numpy's runs on one). Elsewhere tanh_
    # picks numpy's AVX-512 kernel, the compiled pass or the sigmoid form, on the
    # contiguous storage.
    result = _hidden_affine(layer, h, out)
    if _TORCH_TANH_FAST or not _numpy_tanh_ok(out):
        out.tanh_()
    else:
        _tanh_inplace(out, threads)
    return result


def _mlp_backward(
    layers: Sequence[_Dense],
    inputs: Sequence[Tensor],
    hidden: Sequence[Tensor],
    grad_out: Tensor,
    input_grad: bool,
    workspace: _Workspace,
    name: str,
    dropped: Sequence[Tensor | None] | None = None,
) -> Tensor | None:
    """Write the layers' weight and bias gradients; return the gradient of the MLP input.

    ``inputs[i]`` is what layer ``i`` received, ``hidden[i]`` the tanh output of
    hidden layer ``i`` before dropout and ``dropped[i]`` its dropout multiplier
    (``mask / keep``) or None; the last layer is linear. The intermediate
    gradients live in ``workspace`` under ``name``.
    """
    grad = grad_out
    last = len(layers) - 1
    for i in range(last, -1, -1):
        layer = layers[i]
        if i < last:
            # grad is layer i + 1's input gradient, this step's own buffer: overwrite it
            if dropped is not None and (multiplier := dropped[i]) is not None:
                grad.mul_(multiplier)
            grad = torch.ops.aten.tanh_backward.grad_input(grad, hidden[i], grad_input=grad)
        _mm(inputs[i].transpose(-1, -2), grad, out=layer.weight_grad)
        torch.sum(grad, dim=-2, keepdim=True, out=layer.bias_grad)
        if i > 0 or input_grad:
            storage = _storage_shape(grad, layer.weight.shape[-2])
            grad = _input_grad(
                grad, layer.weight, workspace((name, i, "input"), storage, grad.dtype)
            )
    return grad if input_grad else None


class FusedStep:
    """Loss terms and parameter gradients of one training step, without autograd.

    Parameters
    ----------
    net : DAGMMNet
        A tanh network (see :func:`fused_step_supported`); its parameters'
        ``.grad`` are overwritten by each call.
    lambda_energy, lambda_cov, reg_covar : float
        Eq. 7's weights and the covariance jitter.
    reconstruction_loss : {"sum", "mean"}
    """

    def __init__(
        self,
        net: DAGMMNet,
        lambda_energy: float,
        lambda_cov: float,
        reg_covar: float,
        reconstruction_loss: str = "sum",
    ) -> None:
        self.net = net
        self.lambda_energy = float(lambda_energy)
        self.lambda_cov = float(lambda_cov)
        self.reg_covar = float(reg_covar)
        self.reconstruction_loss = reconstruction_loss
        # net.parameters() walks the module tree; the list is fixed for the net's life.
        self._params = list(net.parameters())
        self._layers: tuple | None = None
        self._grads: list[Tensor | None] = []
        self._workspace = _Workspace()

    def _layer_views(self) -> tuple[list[_Dense], list[_Dense], list[_Dense]]:
        for p in self._params:
            if p.grad is None:  # the autograd step frees them (zero_grad(set_to_none=True))
                p.grad = torch.empty_like(p)
        if self._layers is None or any(
            p.grad is not g for p, g in zip(self._params, self._grads, strict=True)
        ):
            net = self.net
            single = net.n_members == 1
            self._layers = tuple(
                [_views(layer, single) for layer in part]
                for part in (net.encoder, net.decoder, net.estimation)
            )
            self._grads = [p.grad for p in self._params]
        return self._layers

    def gather(self, x: Tensor, rows: Tensor) -> Tensor:
        """``x[rows]`` for ``rows`` (S, width): the ``(S, width, F)`` batch of a call, in
        a buffer of the workspace (overwritten by the next ``gather``)."""
        out = self._workspace(("batch",), (*rows.shape, x.shape[-1]), x.dtype)
        return gather_rows(x, rows, out=out)

    def __call__(self, batch: Tensor, mask: Tensor | None = None) -> tuple[Tensor, ...]:
        """Run the step on a gathered ``(S, N, F)`` batch.

        Returns
        -------
        total, reconstruction, energy, penalty : Tensor, shape (S,)
            Eq. 7 per member, as :func:`dagmm.training.dagmm_objective`.

        Raises
        ------
        CholeskyFallbackNeeded
            Before any gradient is written.
        """
        net = self.net
        encoder, decoder, estimation = self._layer_views()
        n_members, n_rows, n_features = batch.shape
        single = n_members == 1
        offset, scale = net.input_offset, net.input_scale
        if single:
            batch, offset, scale = batch[0], offset[0], scale[0]

        workspace = self._workspace
        f32 = torch.float32
        # The compiled passes loop over the members; with several, torch's OpenMP
        # threads share them out (they would otherwise spin idle beside one core).
        threads = 1 if single else torch.get_num_threads()

        def affine(name: str, layer: _Dense, h: Tensor) -> Tensor:
            shape = (*h.shape[:-1], layer.weight.shape[-1])
            return _affine(layer, h, workspace((name,), shape, f32))

        def tanh_affine(key: tuple, layer: _Dense, h: Tensor) -> Tensor:
            storage = _storage_shape(h, layer.weight.shape[-1])
            return _tanh_affine(layer, h, workspace(key, storage, f32), threads)

        with torch.no_grad():
            x = torch.addcmul(offset, batch, scale, out=workspace(("x",), batch.shape, f32))
            enc_inputs, h = [x], x
            for i, layer in enumerate(encoder[:-1]):
                h = tanh_affine(("encoder", i), layer, h)
                enc_inputs.append(h)
            z_c = affine("z_c", encoder[-1], h)
            dec_inputs, h = [z_c], z_c
            for i, layer in enumerate(decoder[:-1]):
                h = tanh_affine(("decoder", i), layer, h)
                dec_inputs.append(h)
            x_hat = affine("x_hat", decoder[-1], h)
            latent = z_c.shape[-1]
            members = (n_members, n_rows)
            compiled = _kernels.available()
            if compiled:
                x3, x_hat3 = x.numpy().reshape(*members, -1), x_hat.numpy().reshape(*members, -1)
                products, z_np = _kernels.reconstruction_features(
                    x3, x_hat3, z_c.numpy().reshape(*members, -1), NORM_FLOOR, threads
                )
                squared_error = products[0]
                z_np = z_np.reshape(*z_c.shape[:-1], -1)
            else:
                se, xx, hh, xh = (t.numpy() for t in row_products(x, x_hat))
                features = _ReconstructionFeatures(se, xx, hh, xh)
                squared_error = features.squared_error.reshape(members)
                z_np = features.representation(z_c.numpy())
            z = torch.from_numpy(z_np)

            est_inputs, h = [z], z
            est_hidden: list[Tensor] = []
            est_dropped: list[Tensor | None] = []
            keep = 1.0 - net.dropout
            for i, layer in enumerate(estimation[:-1]):
                t = tanh_affine(("estimation", i), layer, h)
                est_hidden.append(t)
                if net.dropout > 0.0 and net.training:
                    drop = torch.rand(
                        t.shape,
                        generator=net.dropout_generator,
                        out=workspace(("drop", i), t.shape, f32),
                    )
                    drop_np = drop.numpy()
                    np.less(drop_np, keep, out=drop_np, casting="unsafe")
                    drop_np *= 1.0 / keep
                    est_dropped.append(drop)
                    dropped = workspace(("dropped", i), t.shape, f32)
                    h = torch.from_numpy(np.multiply(t.numpy(), drop_np, out=dropped.numpy()))
                else:
                    est_dropped.append(None)
                    h = t
                est_inputs.append(h)
            last = estimation[-1]
            logits_t = (torch.addmm if single else torch.baddbmm)(
                last.bias.transpose(-1, -2), last.weight.transpose(-1, -2), h.transpose(-1, -2)
            )
            mask_np = None if mask is None else mask.numpy().reshape(members)
            lambdas = np.full(n_members, self.lambda_energy)
            lambdas_cov = np.full(n_members, self.lambda_cov)
            if compiled:
                step = _kernels.mixture_step(
                    z_np.reshape(*members, -1),
                    logits_t.numpy().reshape(n_members, -1, n_rows),
                    mask_np,
                    self.reg_covar,
                    lambdas,
                    lambdas_cov,
                    threads,
                )
                if step is None:
                    raise CholeskyFallbackNeeded
                mean_energy, penalty, grad_z64, grad_logits_t = step
            else:
                gamma_t = _softmax_over_components(logits_t.numpy().astype(np.float64))
                mean_energy, penalty, grad_z64, grad_gamma_t = energy_and_penalty_gradients_numpy(
                    z_np.astype(np.float64).reshape(*members, -1),
                    gamma_t.reshape(n_members, -1, n_rows),
                    self.reg_covar,
                    lambdas,
                    lambdas_cov,
                    mask_np,
                )
                # Backward through the softmax, in float64.
                grad_gamma_t = grad_gamma_t.reshape(gamma_t.shape)
                weighted = (gamma_t * grad_gamma_t).sum(-2, keepdims=True)
                grad_logits_t = (gamma_t * (grad_gamma_t - weighted)).astype(np.float32)
            per_feature = 1.0 if self.reconstruction_loss == "sum" else 1.0 / n_features
            row_weight, reconstruction = _reconstruction_term(squared_error, mask_np, per_feature)
            mean_energy = mean_energy.astype(np.float32)
            penalty = penalty.astype(np.float32)
            total = reconstruction + self.lambda_energy * mean_energy + self.lambda_cov * penalty

            # Backward: estimation network, features, decoder, encoder.
            grad_z = _mlp_backward(
                estimation,
                est_inputs,
                est_hidden,
                torch.from_numpy(grad_logits_t.reshape(logits_t.shape)).transpose(-1, -2),
                True,
                workspace,
                "estimation",
                est_dropped,
            )
            assert grad_z is not None  # input_grad=True
            grad_z_np = grad_z.numpy()
            grad_z_np += grad_z64.reshape(grad_z_np.shape).astype(np.float32)
            if compiled:
                grad_x_hat = torch.from_numpy(
                    _kernels.reconstruction_gradient(
                        x3,
                        x_hat3,
                        products,
                        # contiguous: the members' gradient is a feature-major view
                        np.ascontiguousarray(grad_z_np.reshape(*members, -1)),
                        row_weight,
                        NORM_FLOOR,
                        out=workspace(("grad_x_hat",), x3.shape, f32).numpy(),
                        threads=threads,
                    ).reshape(x_hat.shape)
                )
            else:
                coefficients = features.reconstruction_coefficients(
                    grad_z_np[..., latent],
                    grad_z_np[..., latent + 1],
                    row_weight.reshape(features.squared_error.shape),
                )
                c_x_hat, c_x = coefficients
                grad_x_hat = _reconstruction_gradient(
                    x, x_hat, (torch.from_numpy(c_x_hat), torch.from_numpy(c_x))
                )
            grad_z_c = _mlp_backward(
                decoder, dec_inputs, dec_inputs[1:], grad_x_hat, True, workspace, "decoder"
            )
            assert grad_z_c is not None
            grad_z_c_np = grad_z_c.numpy()
            grad_z_c_np += grad_z_np[..., :latent]
            _mlp_backward(
                encoder, enc_inputs, enc_inputs[1:], grad_z_c, False, workspace, "encoder"
            )
        return tuple(torch.from_numpy(a) for a in (total, reconstruction, mean_energy, penalty))


def _reconstruction_gradient(
    x: Tensor, x_hat: Tensor, coefficients: tuple[Tensor, Tensor]
) -> Tensor:
    """``c_x_hat * x_hat + c_x * x`` for ``coefficients = (c_x_hat, c_x)``, each (..., N, 1).

    Member by member for an ensemble, as :func:`dagmm.network.row_products`: the
    product stays in cache for the sum.
    """
    c_x_hat, c_x = coefficients
    if x.dim() == 2:
        return torch.addcmul(x_hat * c_x_hat, x, c_x)
    grad = torch.empty_like(x_hat)
    for s in range(x.shape[0]):
        torch.mul(x_hat[s], c_x_hat[s], out=grad[s]).addcmul_(x[s], c_x[s])
    return grad


def _reconstruction_term(
    squared_error: np.ndarray, mask: np.ndarray | None, per_feature: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's weight in the reconstruction term, (..., N), and the term, (...,).

    The term is the (masked) mean over rows of ``per_feature * |x - x_hat|^2``.
    """
    if mask is None:
        n_rows = squared_error.shape[-1]
        row_weight = np.full(squared_error.shape, per_feature / n_rows, squared_error.dtype)
        return row_weight, squared_error.mean(-1).reshape(-1) * per_feature
    valid = mask.astype(squared_error.dtype)
    row_weight = valid * (per_feature / np.maximum(valid.sum(-1, keepdims=True), 1.0))
    return row_weight, (squared_error * row_weight).sum(-1).reshape(-1)


class _ReconstructionFeatures:
    """Relative distance and cosine from the per-row dot products, and their backward.

    Mirrors :func:`dagmm.network._features_and_error` (the same clamps, so the
    same values up to the rounding of ``sqrt`` and, where a clamp binds, the same
    zero gradients). All arrays are numpy, (..., N).
    """

    def __init__(
        self,
        squared_error: np.ndarray,
        xx: np.ndarray,
        hh: np.ndarray,
        xh: np.ndarray,
        eps: float = NORM_FLOOR,
    ) -> None:
        tiny = np.finfo(squared_error.dtype).tiny
        self.squared_error = squared_error
        self.se_on = squared_error >= tiny
        self.hh_on = hh >= tiny
        self.distance = np.sqrt(np.maximum(squared_error, tiny))
        self.x_norm = np.sqrt(np.maximum(xx, tiny))
        self.x_hat_norm = np.sqrt(np.maximum(hh, tiny))
        self.x_norm_c = np.maximum(self.x_norm, eps)
        norms = self.x_norm * self.x_hat_norm
        self.norms_on = norms >= eps
        self.denominator = np.maximum(norms, eps)
        self.xh = xh

    def representation(self, z_c: np.ndarray) -> np.ndarray:
        """``z = [z_c, relative distance, cosine]``, (..., N, L + 2)."""
        latent = z_c.shape[-1]
        z = np.empty((*z_c.shape[:-1], latent + 2), dtype=z_c.dtype)
        z[..., :latent] = z_c
        np.divide(self.distance, self.x_norm_c, out=z[..., latent])
        np.divide(self.xh, self.denominator, out=z[..., latent + 1])
        return z

    def reconstruction_coefficients(
        self, grad_relative: np.ndarray, grad_cosine: np.ndarray, row_weight: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(c_x_hat, c_x)``, each (..., N, 1): the gradient w.r.t. ``x_hat`` of
        ``sum_i row_weight_i |x_i - x_hat_i|^2`` + features is ``c_x_hat x_hat + c_x x``.
        """
        # d relative / d |x - x_hat|^2 = 1 / (2 distance x_norm), zero where the clamp binds.
        g_se = row_weight + np.where(
            self.se_on, grad_relative * 0.5 / (self.distance * self.x_norm_c), 0.0
        )
        g_xh = grad_cosine / self.denominator
        # d cosine / d |x_hat|^2 through the clamped product of the norms.
        g_hh = np.where(
            self.norms_on & self.hh_on,
            -grad_cosine
            * self.xh
            / np.square(self.denominator)
            * self.x_norm
            * 0.5
            / self.x_hat_norm,
            0.0,
        )
        # d/dx_hat of g_se |x - x_hat|^2 + g_hh |x_hat|^2 + g_xh x . x_hat
        return (2.0 * (g_se + g_hh))[..., None], (g_xh - 2.0 * g_se)[..., None]


def _softmax_over_components(logits_t: np.ndarray) -> np.ndarray:
    """Softmax over axis -2 of (..., K, N) logits, in place."""
    logits_t -= logits_t.max(-2, keepdims=True)
    np.exp(logits_t, out=logits_t)
    logits_t /= logits_t.sum(-2, keepdims=True)
    return logits_t
