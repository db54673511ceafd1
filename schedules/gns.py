"""Gradient noise scale from the accumulation window (McCandlish et al. 2018, "An Empirical Model of
Large-Batch Training", appendix A.1).

With gradient accumulation every optimizer step sees small- and large-batch gradients for free: each
micro-batch's backward adds ``(b_j / B) * g_j`` to ``.grad`` (``g_j``: the mean gradient of its
``b_j`` samples, scaled by the loss normalisation ``1 / B``), and at the end of the window ``.grad``
is ``G_B``, the mean over all ``B`` samples.  Since ``E|G_n|^2 = |G|^2 + tr(Sigma) / n``, the mean of
the ``|g_j|^2`` (small batches, independent) and ``|G_B|^2`` (the large batch) give unbiased
estimates of both terms (with ``b`` the harmonic mean of the ``b_j``):

    tr(Sigma) ~  (mean_j |g_j|^2 - |G_B|^2) / (1/b - 1/B)
    |G|^2     ~  |G_B|^2 - tr(Sigma) / B          (= (B |G_B|^2 - b |G_b|^2) / (B - b))

Each is smoothed with a bias-corrected exponential moving average (the two separately, as the paper
does: their ratio is biased), and the *simple noise scale* ``B_simple = tr(Sigma) / |G|^2`` is the
ratio of the smoothed values: the batch size around which larger batches stop paying off (the
critical batch size, to first order).  Cost per micro-batch: one subtraction, one norm and one copy
of the gradients (fused ``torch._foreach_*`` kernels); nothing without accumulation.
"""

from __future__ import annotations

import math

import torch


class NoiseScale:
    """Running estimate of ``B_simple`` from one (small, large) pair of squared norms per window."""

    def __init__(self, beta: float = 0.99):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Expected beta in [0, 1), but got {beta}")
        self.beta = beta
        self.count = 0
        self._g2 = 0.0
        self._trace = 0.0

    def update(self, small_sq: float, b_small: float, big_sq: float, b_big: int) -> None:
        """One window's squared norms of the small- (``b_small`` samples, or the harmonic mean size
        when ``small_sq`` averages several) and large-batch mean gradients."""
        trace = (small_sq - big_sq) / (1.0 / b_small - 1.0 / b_big)
        g2 = big_sq - trace / b_big
        if not (math.isfinite(g2) and math.isfinite(trace)):
            return
        self.count += 1
        self._g2 = self.beta * self._g2 + (1 - self.beta) * g2
        self._trace = self.beta * self._trace + (1 - self.beta) * trace

    @property
    def grad_sq(self) -> float:
        """Smoothed ``|G|^2`` (bias-corrected)."""
        return self._g2 / (1 - self.beta**self.count) if self.count else math.nan

    @property
    def trace(self) -> float:
        """Smoothed ``tr(Sigma)`` (bias-corrected)."""
        return self._trace / (1 - self.beta**self.count) if self.count else math.nan

    @property
    def value(self) -> float:
        g2 = self.grad_sq
        return self.trace / g2 if self.count and g2 > 0 else math.nan


class WindowNoise:
    """Per-micro-batch gradients of each accumulation window, from the differences of ``.grad``.

    Call :meth:`micro_batch` after every micro-batch's backward, and :meth:`end_window` with the
    window's final gradient norm (before ``optimizer.step()``); it returns the smoothed ``B_simple``.
    """

    def __init__(self, params: list[torch.Tensor], beta: float = 0.99):
        self.params = params
        self.scale = NoiseScale(beta)
        self._prev: list[torch.Tensor] | None = None
        self._first = True
        self._sum_sq = 0.0
        self._sum_inv = 0.0
        self._count = 0

    @torch.no_grad()
    def micro_batch(self, samples: int, window_samples: int, last: bool) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads or samples <= 0:
            return
        if self._first:
            norms = torch._foreach_norm(grads)
        else:  # in place: prev <- prev - grads = -(this micro-batch's contribution); no allocation
            torch._foreach_sub_(self._prev, grads)
            norms = torch._foreach_norm(self._prev)
        if grads[0].device.type == "cpu":
            sq = math.fsum(float(n) ** 2 for n in norms)
        else:
            sq = float(torch.linalg.vector_norm(torch.stack(norms)) ** 2)
        self._sum_sq += sq * (window_samples / samples) ** 2  # |g_j|^2: undo the 1/B normalisation
        self._sum_inv += 1.0 / samples
        self._count += 1
        if not last:
            if self._prev is None or len(self._prev) != len(grads):
                self._prev = [torch.empty_like(g) for g in grads]
            torch._foreach_copy_(self._prev, grads)
            self._first = False

    def end_window(self, grad_norm: float, window_samples: int) -> float:
        count, sum_sq, sum_inv = self._count, self._sum_sq, self._sum_inv
        self._first, self._sum_sq, self._sum_inv, self._count = True, 0.0, 0.0, 0
        if count >= 2:
            b_small = count / sum_inv  # harmonic mean of the micro-batch sizes
            if b_small < window_samples:
                self.scale.update(sum_sq / count, b_small, grad_norm**2, window_samples)
        return self.scale.value


def compare_sentence(noise_scale: float, effective_batch: int) -> str:
    """One sentence comparing the estimated critical batch with the run's effective batch."""
    if not math.isfinite(noise_scale) or noise_scale <= 0:
        return (
            "No gradient noise scale yet: it needs accumulation (two or more micro-batches per optimizer step) "
            "and a positive estimate of |G|^2."
        )
    ratio = effective_batch / noise_scale
    if ratio < 0.5:
        verdict = "well below it: a larger batch (with a higher lr) would still use data about as efficiently"
    elif ratio <= 2:
        verdict = "close to it: a good trade-off between steps and samples"
    else:
        verdict = "above it: larger batches now mostly cost samples, a smaller batch would use data better"
    return (
        f"Gradient noise scale B_simple = {noise_scale:,.0f} (McCandlish et al. 2018); the effective batch "
        f"{effective_batch:,} is {verdict}."
    )
