"""Decoders for dreaming in a code space (activation maximisation in code space).

A decoder maps codes ``(B, k)`` to series ``(B, T, F)``; with
``SequenceDreaming(...).attribute(..., decoder=...)`` the code is optimised and
the model sees the decoded series, so every dream lies in the decoder's range.
:class:`PCADecoder` is the linear one: the affine span of the leading principal
components of a data set.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..._validation import check_positive_int

__all__ = ["PCADecoder"]


class PCADecoder(nn.Module):
    r"""``decode(z) = mean + z @ V_k``: the affine span of the first ``k``
    principal components of a data set (series flattened over time and features).

    ``encode(x) = (x - mean) @ V_k^T`` is the orthogonal projection's coordinates,
    so ``encode(decode(z)) == z`` and ``decode(encode(x))`` is the point of the
    span nearest to ``x``. Fit it with :meth:`fit`; ``mean`` ``(T*F,)`` and
    ``components`` ``(k, T*F)`` are buffers (moved by ``.to``, saved in the
    ``state_dict``).

    >>> data = torch.randn(20, 30, 2)
    >>> pca = PCADecoder.fit(data, n_components=3)
    >>> pca(torch.zeros(4, 3)).shape
    torch.Size([4, 30, 2])
    """

    mean: Tensor
    components: Tensor

    def __init__(self, mean: Tensor, components: Tensor, series_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("components", components)
        self.series_shape = tuple(series_shape)

    @property
    def n_components(self) -> int:
        """The code size ``k``."""
        return self.components.shape[0]

    @classmethod
    def fit(cls, data: Tensor, n_components: int) -> PCADecoder:
        """Principal components of ``data`` ``(N, T, F)``, by an SVD of the centred,
        flattened series computed in float64; stored in the data's dtype and device.

        ``n_components`` must not exceed ``min(N, T*F)``.
        """
        if not isinstance(data, Tensor):
            raise TypeError(f"`data` must be a torch.Tensor, got {type(data).__name__}.")
        if data.dim() != 3:
            raise ValueError(
                f"`data` must be a batch of series (N, T, F), got shape {tuple(data.shape)}; "
                "a univariate set is (N, T, 1)."
            )
        if not data.is_floating_point():
            raise TypeError(f"`data` must be a floating-point tensor, got {data.dtype}.")
        if not bool(torch.isfinite(data).all()):
            raise ValueError("`data` contains NaN or Inf values; drop or fill them before fitting.")
        check_positive_int(n_components, "n_components")
        flat = data.detach().flatten(1).double()
        if n_components > min(flat.shape):
            raise ValueError(
                f"`n_components`={n_components} exceeds min(N, T*F) = {min(flat.shape)} for `data` of "
                f"shape {tuple(data.shape)}."
            )
        mean = flat.mean(0)
        _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        return cls(mean.to(data.dtype), vh[:n_components].to(data.dtype), tuple(data.shape[1:]))

    def forward(self, z: Tensor) -> Tensor:
        """Series ``(B, T, F)`` from codes ``(B, k)``, in the wider of the two dtypes."""
        if z.dim() != 2 or z.shape[1] != self.n_components:
            raise ValueError(f"codes must have shape (B, {self.n_components}), got {tuple(z.shape)}.")
        dtype = torch.promote_types(z.dtype, self.components.dtype)
        flat = self.mean.to(dtype) + z.to(dtype) @ self.components.to(dtype)
        return flat.reshape(z.shape[0], *self.series_shape)

    decode = forward

    def encode(self, x: Tensor) -> Tensor:
        """Codes ``(B, k)`` of series ``(B, T, F)``: the coordinates of their
        orthogonal projection onto the span."""
        if tuple(x.shape[1:]) != self.series_shape:
            raise ValueError(
                f"series must have shape (B, {', '.join(map(str, self.series_shape))}), got {tuple(x.shape)}."
            )
        dtype = torch.promote_types(x.dtype, self.components.dtype)
        return (x.flatten(1).to(dtype) - self.mean.to(dtype)) @ self.components.to(dtype).T

    def extra_repr(self) -> str:
        return f"n_components={self.n_components}, series_shape={self.series_shape}"
