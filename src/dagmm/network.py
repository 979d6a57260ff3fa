"""DAGMM networks as ensemble-native modules.

Every parameter carries a leading member dimension S, so one module holds S
independent DAGMMs (one per seed) that train together in batched matrix
multiplies; a single model is the case S = 1. Inputs are ``(S, N, n_features)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple, overload

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from . import _kernels
from ._torch import is_compiling

__all__ = [
    "ACTIVATIONS",
    "DAGMMNet",
    "EnsembleLinear",
    "LayerList",
    "NetworkOutput",
    "reconstruction_features",
]

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


class LayerList(nn.ModuleList):
    """The :class:`EnsembleLinear` layers of one part of the network, in order.

    A plain ``ModuleList`` whose items the type checker knows to be
    :class:`EnsembleLinear`.
    """

    if TYPE_CHECKING:

        def __iter__(self) -> Iterator[EnsembleLinear]: ...

        @overload
        def __getitem__(self, idx: slice) -> LayerList: ...

        @overload
        def __getitem__(self, idx: int) -> EnsembleLinear: ...

        def __getitem__(self, idx: int | slice) -> EnsembleLinear | LayerList: ...


#: Floor of the norms that divide in the reconstruction features, in scaled units
#: (the paper has none). Scaled rows have norms of order sqrt(n_features); only
#: rows that are (almost) all zeros reach it. A floor far below float32 resolution
#: (the former 1e-8) let ``|x_hat| / floor`` turn the last-bit differences of
#: float32 matrix products between batch shapes into energy differences of tens
#: of units for such rows; at 1e-3 they stay below 1e-8.
NORM_FLOOR = 1e-3


def _numpy_has_simd_tanh() -> bool:
    # numpy vectorises float32 tanh only for AVX-512 targets; there it ran about
    # six times faster than torch's kernel on one VM and as fast on another (per
    # thread; docs/performance.md), elsewhere (AVX2, Arm) 1.5x slower.
    # Decided by the CPU, never by a timing, so a machine always takes the same
    # path (and gives the same scores).
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import (  # type: ignore[no-redef]
            __cpu_features__ as features,
        )
    return any(features.get(name, False) for name in ("AVX512_SKX", "X86_V4"))


_NUMPY_SIMD_TANH = _numpy_has_simd_tanh()


def _cpu_vendor() -> str:
    """The x86 ``vendor_id`` from ``/proc/cpuinfo`` (Linux), else ``""``."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


#: Whether torch's own CPU ``tanh`` is as fast per thread as numpy's AVX-512 one,
#: so that the fused step can take it and split a layer over torch's threads.
#: Measured so on an Intel AVX-512 VM (0.28 ns per float32 element, as numpy's);
#: on two AMD AVX-512 VMs (Zen 4) it cost 2.6-3.6 ns, six times numpy's, which fits
#: torch's tanh going through MKL's vector math (fast on Intel CPUs only). Decided
#: by the CPU, never by a timing, so a machine always takes the same path.
_TORCH_TANH_FAST = _NUMPY_SIMD_TANH and _cpu_vendor() == "GenuineIntel"


def tanh_(array: np.ndarray, threads: int = 1) -> np.ndarray:
    """``tanh`` of a float32/float64 array in place, by the fastest kernel on this CPU.

    Where numpy has its AVX-512 kernel, numpy's ``tanh``. Elsewhere a C-contiguous
    float32 array takes the compiled rational approximation of
    :func:`dagmm._kernels.tanh_` where numba serves (within 5 float32 ulps, one pass),
    and anything else ``2 sigmoid(2 x) - 1``: torch's sigmoid costs half its tanh on
    AVX2 CPUs. Near zero that last form has an absolute (not relative) error of a few
    float32 ulps of 1, like the rounding of the matrix products around it. The
    compiled pass splits a large array over up to ``threads`` of torch's threads.
    """
    if _NUMPY_SIMD_TANH:
        np.tanh(array, out=array)
    elif _compiled_tanh_ok(array):
        _kernels.tanh_(array, threads)
    else:
        t = torch.from_numpy(array)
        torch.sigmoid(t.mul_(2.0), out=t).mul_(2.0).sub_(1.0)
    return array


def _compiled_tanh_ok(array: np.ndarray) -> bool:
    # Four dispatched torch passes over a layer's few thousand values cost about four
    # times one compiled pass on 2 threads (1024 x 60: 78-89 us against 21-32 us, Zen 3).
    return array.dtype == np.float32 and array.flags.c_contiguous and _kernels.available()


def _numpy_tanh_ok(h: Tensor) -> bool:
    # tanh is most of a step's elementwise work; :func:`tanh_` picks the faster
    # kernel. Inside torch.compile the compiler generates its own kernel instead.
    return (
        h.device.type == "cpu"
        and h.dtype in (torch.float32, torch.float64)
        and h.is_contiguous()
        and not is_compiling()
    )


def _tanh_inplace(h: Tensor, threads: int = 1) -> Tensor:
    """``tanh`` of a freshly allocated, contiguous CPU tensor, overwriting it."""
    tanh_(h.numpy(), threads)
    return h


class _LinearTanh(torch.autograd.Function):
    """``tanh(bias + x @ weight)`` batched over members, as one autograd node.

    The backward is what autograd would run for ``baddbmm`` followed by
    ``tanh``; fusing them saves a node and lets the forward use numpy's tanh.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        out = _tanh_inplace(torch.baddbmm(bias, x, weight))
        ctx.save_for_backward(x, weight, out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, weight, out = ctx.saved_tensors
        grad_h = torch.ops.aten.tanh_backward(grad, out)
        grad_x = grad_h.bmm(weight.transpose(-1, -2)) if ctx.needs_input_grad[0] else None
        grad_w = x.transpose(-1, -2).bmm(grad_h) if ctx.needs_input_grad[1] else None
        grad_b = grad_h.sum(-2, keepdim=True) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def _linear_tanh(layer: EnsembleLinear, h: Tensor) -> Tensor:
    if not _numpy_tanh_ok(h):
        return torch.tanh(layer(h))
    if torch.is_grad_enabled() and (
        h.requires_grad or layer.weight.requires_grad or layer.bias.requires_grad
    ):
        return _LinearTanh.apply(h, layer.weight, layer.bias)
    return _tanh_inplace(torch.baddbmm(layer.bias, h, layer.weight))


def reconstruction_features(x: Tensor, x_hat: Tensor, eps: float = NORM_FLOOR) -> Tensor:
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
    return _features_and_error(x, x_hat, eps)[0]


def _numpy_rows_ok(a: Tensor, b: Tensor) -> bool:
    # numpy may reduce these rows: CPU, one dtype, contiguous, nothing to differentiate.
    return (
        a.device.type == "cpu"
        and a.dtype == b.dtype
        and a.is_contiguous()
        and b.is_contiguous()
        and not (torch.is_grad_enabled() and (a.requires_grad or b.requires_grad))
        and not is_compiling()
    )


def row_dot(a: Tensor, b: Tensor | None = None) -> Tensor:
    """``sum_f a[..., f] * b[..., f]`` (``b`` defaults to ``a``).

    On the CPU numpy's einsum reduces each row in registers; ``torch.linalg.vecdot``
    materialises the full product first and then reduces it, several times slower
    (a pass over memory that costs more than the arithmetic once the rows leave the
    cache).
    """
    other = a if b is None else b
    if _numpy_rows_ok(a, other):
        a_np = a.detach().numpy()
        return torch.from_numpy(np.einsum("...f,...f->...", a_np, other.detach().numpy()))
    return torch.linalg.vecdot(a, other)


def row_products(x: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-row ``|x - x_hat|^2``, ``|x|^2``, ``|x_hat|^2`` and ``x . x_hat``, each (..., N).

    An ensemble's (S, N, F) arrays outgrow the L2 cache, and five passes over
    them (the difference, four reductions) would each stream them from memory;
    on the CPU the members are taken one at a time instead, each member's rows
    read once and reduced in cache. The values are :func:`row_dot`'s, bit for bit.
    """
    if x.dim() != 3 or not _numpy_rows_ok(x, x_hat):
        return row_dot(x - x_hat), row_dot(x), row_dot(x_hat), row_dot(x, x_hat)
    xs, x_hats = x.detach().numpy(), x_hat.detach().numpy()
    products = np.empty((4, *xs.shape[:-1]), dtype=xs.dtype)
    diff = np.empty_like(xs[0])
    for s, (x_s, x_hat_s) in enumerate(zip(xs, x_hats, strict=True)):
        np.subtract(x_s, x_hat_s, out=diff)
        pairs = ((diff, diff), (x_s, x_s), (x_hat_s, x_hat_s), (x_s, x_hat_s))
        for k, (a, b) in enumerate(pairs):
            np.einsum("nf,nf->n", a, b, out=products[k, s])
    return tuple(torch.from_numpy(products).unbind(0))  # type: ignore[return-value]


class _RowProducts(torch.autograd.Function):
    """Per-row ``|x - x_hat|^2``, ``|x|^2``, ``|x_hat|^2`` and ``x . x_hat`` as one node.

    Autograd of the four dot products would run nine full-width multiplies and
    four accumulations backward; the gradient in closed form needs two.
    """

    @staticmethod
    def forward(ctx, x: Tensor, x_hat: Tensor):  # type: ignore[override]
        ctx.save_for_backward(x, x_hat)
        return row_products(x, x_hat)

    @staticmethod
    def backward(ctx, g_sq, g_xx, g_hh, g_xh):  # type: ignore[override]
        x, x_hat = ctx.saved_tensors
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        g_sq = zero if g_sq is None else g_sq.unsqueeze(-1)
        g_xx = zero if g_xx is None else g_xx.unsqueeze(-1)
        g_hh = zero if g_hh is None else g_hh.unsqueeze(-1)
        g_xh = zero if g_xh is None else g_xh.unsqueeze(-1)
        grad_x = grad_x_hat = None
        # d|x - x_hat|^2 = 2 (x - x_hat) . (dx - dx_hat), d|v|^2 = 2 v . dv, d(x . x_hat) = ...
        if ctx.needs_input_grad[0]:
            grad_x = torch.addcmul(x * (2.0 * (g_sq + g_xx)), x_hat, g_xh - 2.0 * g_sq)
        if ctx.needs_input_grad[1]:
            grad_x_hat = torch.addcmul(x_hat * (2.0 * (g_sq + g_hh)), x, g_xh - 2.0 * g_sq)
        return grad_x, grad_x_hat


def _features_and_error(x: Tensor, x_hat: Tensor, eps: float = NORM_FLOOR) -> tuple[Tensor, Tensor]:
    """:func:`reconstruction_features` and the per-row squared error ``|x - x_hat|^2``.

    The squared error is the reconstruction loss's per-row term too, so one
    forward pass serves both.
    """
    tiny = torch.finfo(x.dtype).tiny
    if is_compiling():
        diff = x - x_hat
        products = (
            torch.linalg.vecdot(diff, diff),
            torch.linalg.vecdot(x, x),
            torch.linalg.vecdot(x_hat, x_hat),
            torch.linalg.vecdot(x, x_hat),
        )
    else:
        products = _RowProducts.apply(x, x_hat)
    squared_error, xx, hh, xh = products
    # sqrt of a clamped sum of squares: finite value AND finite gradient at the zero vector.
    x_norm = xx.clamp_min(tiny).sqrt()
    x_hat_norm = hh.clamp_min(tiny).sqrt()
    relative_distance = squared_error.clamp_min(tiny).sqrt() / x_norm.clamp_min(eps)
    cosine = xh / (x_norm * x_hat_norm).clamp_min(eps)
    return torch.stack([relative_distance, cosine], dim=-1), squared_error


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

    input_offset: Tensor
    input_scale: Tensor

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
        #: Where training draws its CPU dropout masks (the fit's own generator, set by
        #: :func:`dagmm.training.train_members`); None: torch's global generator. A fit
        #: that drew from the global one took other threads' draws and gave them its own.
        self.dropout_generator: torch.Generator | None = None
        self._act = ACTIVATIONS[activation]
        enc = [n_features, *hidden_sizes, latent_dim]
        dec = enc[::-1]
        est = [latent_dim + 2, *estimation_hidden_sizes, n_components]
        self.encoder = LayerList(
            EnsembleLinear(n_members, a, b) for a, b in itertools.pairwise(enc)
        )
        self.decoder = LayerList(
            EnsembleLinear(n_members, a, b) for a, b in itertools.pairwise(dec)
        )
        self.estimation = LayerList(
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

    def _mlp(self, layers: LayerList, h: Tensor, dropout: float = 0.0) -> Tensor:
        for layer in layers[:-1]:
            h = self._hidden(layer, h)
            if dropout > 0.0:
                h = self._dropout(h, dropout)
        return layers[-1](h)

    def _dropout(self, h: Tensor, p: float) -> Tensor:
        generator = self.dropout_generator
        if generator is None or not self.training or h.device != generator.device:
            return F.dropout(h, p, self.training)
        # what F.dropout computes on the CPU (the same draws from the same generator
        # state), from this generator
        noise = torch.empty_like(h).bernoulli_(1 - p, generator=generator).div_(1 - p)
        return h * noise

    def _hidden(self, layer: EnsembleLinear, h: Tensor) -> Tensor:
        if self.activation == "tanh":
            return _linear_tanh(layer, h)
        return self._act(layer(h))

    def scale(self, x: Tensor) -> Tensor:
        """Apply each member's feature scaling to raw ``(S, N, F)`` inputs."""
        return x * self.input_scale + self.input_offset

    def forward(self, x: Tensor) -> NetworkOutput:
        """Run all members on ``x`` of shape ``(S, N, F)`` (or ``(1, N, F)`` broadcast)."""
        x, x_hat, z, _ = self.represent(x)
        return NetworkOutput(x, x_hat, z, self.memberships_t(z).transpose(-1, -2))

    def represent(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Compression network and reconstruction features, without the estimation network.

        Returns
        -------
        x_scaled, x_hat : Tensor, shape (S, N, F)
        z : Tensor, shape (S, N, latent_dim + 2)
        squared_error : Tensor, shape (S, N)
            ``|x_scaled - x_hat|^2`` per row.
        """
        x = self.scale(x)
        z_c = self._mlp(self.encoder, x)
        x_hat = self._mlp(self.decoder, z_c)
        features, squared_error = _features_and_error(x, x_hat)
        return x, x_hat, torch.cat([z_c, features], dim=-1), squared_error

    def memberships_t(self, z: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """Soft memberships gamma, transposed: shape ``(S, K, N)``.

        The last layer is computed transposed so that the softmax runs over a
        contiguous row of N values per component, several times faster than
        over the K values of each sample. With ``dtype`` (float64 for the
        mixture statistics) the softmax runs in that precision, so that the
        memberships of each row sum to one to that precision.
        """
        h = z
        for layer in self.estimation[:-1]:
            h = self._hidden(layer, h)
            if self.dropout > 0.0:
                h = self._dropout(h, self.dropout)
        last = self.estimation[-1]
        logits_t = torch.baddbmm(
            last.bias.transpose(-1, -2), last.weight.transpose(-1, -2), h.transpose(-1, -2)
        )
        return torch.softmax(logits_t if dtype is None else logits_t.to(dtype), dim=-2)

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
