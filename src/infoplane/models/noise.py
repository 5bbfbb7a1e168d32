"""Stochastic layers: the relative Gaussian noise of Butakov et al. (2024), "Information bottleneck
analysis of deep neural networks via lossy compression" (ICLR 2024), which keeps I(X;T) finite, and
the additive Gaussian noise of the noisy networks of Goldfeld et al. (2019), "Estimating
information flow in deep neural networks" (ICML 2019)."""

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


class AdditiveGaussianNoise(torch.nn.Module):
    """``x + beta * eps`` with ``eps ~ N(0, 1)`` elementwise: the noisy hidden layer
    T = S + Z, Z ~ N(0, beta^2 I), of Goldfeld et al. (ICML 2019), in training *and* evaluation.

    :attr:`enabled` (True) switches the noise off for the recording pass: a noisy-additive
    network's recorded activations are its noiseless layer outputs S (see
    :mod:`infoplane.training`). The draws come from the explicit generator passed to
    :meth:`forward`, as :class:`RelativeGaussianNoise`'s do.

    Parameters
    ----------
    beta : float >= 0
        Standard deviation of the noise (in the units of the activations); 0 = the identity.
    """

    def __init__(self, beta: float) -> None:
        super().__init__()
        if not beta >= 0:
            raise ValueError(f"additive noise beta={beta!r} must be >= 0")
        self.beta = float(beta)
        self.enabled = True

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.beta == 0.0 or not self.enabled:
            return x
        if generator is None:
            raise ValueError(
                "AdditiveGaussianNoise needs an explicit torch.Generator (model.additive_noise > 0); "
                "pass generator= to forward / forward_layers"
            )
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
        return torch.add(x, eps.to(x.device), alpha=self.beta)  # x + beta * eps, one kernel

    def extra_repr(self) -> str:
        return f"beta={self.beta}"
