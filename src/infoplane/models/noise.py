"""The stochastic layer of Butakov et al. (2024), "Information bottleneck analysis of deep neural
networks via lossy compression" (ICLR 2024): relative Gaussian noise that keeps I(X;T) finite."""

from __future__ import annotations

import torch


class RelativeGaussianNoise(torch.nn.Module):
    """``x + sigma * x * eps`` with ``eps ~ N(0, 1)`` elementwise, in training *and* evaluation.

    The noise is drawn from an explicit :class:`torch.Generator` passed to :meth:`forward`, so a
    run is reproducible and resumable (the caller checkpoints the generator's state).

    Parameters
    ----------
    sigma : float >= 0
        Relative standard deviation; 0 makes the layer the identity.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        if not sigma >= 0:
            raise ValueError(f"noise sigma={sigma!r} must be >= 0")
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.sigma == 0.0:
            return x
        if generator is None:
            raise ValueError(
                "RelativeGaussianNoise needs an explicit torch.Generator (model.noise > 0); "
                "pass generator= to forward / forward_layers"
            )
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
        eps = eps.to(x.device)  # a CPU generator gives the same draws on every device
        return torch.addcmul(x, x, eps, value=self.sigma)  # x + sigma * x * eps, one kernel

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"
