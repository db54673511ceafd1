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
critical batch size, to first order).  Cost per micro-batch: one subtraction, one dot product and one
copy on a flat gradient buffer (:class:`WindowNoise`), one read per window; nothing without
accumulation.
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

    **Cost.**  After the window's first backward the gradients are copied once into one flat buffer
    and every ``p.grad`` becomes a view of it, so the later backwards accumulate into the buffer in
    place (autograd adds into an existing ``.grad``).  Each later micro-batch then costs three
    single-tensor kernels on the flat buffer (subtract the previous total, a dot product, copy) and
    no Python loop over the parameters; the squared norms are summed on the device and read once
    per window (one ``.item()``, the only sync).  Parameters without a gradient after the first
    micro-batch are left out of the estimate.
    """

    def __init__(self, params: list[torch.Tensor], beta: float = 0.99):
        self.params = list(params)
        self.scale = NoiseScale(beta)
        self._live: list[torch.Tensor] = []  # the parameters in the buffer (those with a gradient)
        self._flat: torch.Tensor | None = None  # the window's accumulated gradient (p.grad are views)
        self._views: list[torch.Tensor] = []
        self._prev: torch.Tensor | None = None  # the accumulated gradient after the previous micro-batch
        self._norms: list[torch.Tensor] = []  # |g_j| / |F_j - F_(j-1)| per micro-batch, on the device
        self._weights: list[float] = []  # (B / b_j)^2: undoes the 1/B loss normalisation
        self._sum_inv = 0.0

    def _install(self) -> torch.Tensor | None:
        """Copy the gradients into the flat buffer and make them views of it (once per window)."""
        params = self.params
        live = self._live
        if len(live) != len(params) or any(
            p.grad is None or p is not q for p, q in zip(params, live, strict=True)
        ):
            live = [p for p in params if p.grad is not None]
            if not live or len({(p.grad.dtype, p.grad.device) for p in live}) > 1:
                return None  # no gradients, or mixed dtypes / devices: no estimate
            g0 = live[0].grad
            self._flat = torch.empty(sum(p.numel() for p in live), dtype=g0.dtype, device=g0.device)
            self._prev = torch.empty_like(self._flat)
            self._views, offset = [], 0
            for p in live:
                self._views.append(self._flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
            self._live = live
        torch._foreach_copy_(self._views, [p.grad for p in live])
        for p, view in zip(live, self._views, strict=True):
            p.grad = view
        return self._flat

    @torch.no_grad()
    def micro_batch(self, samples: int, window_samples: int, last: bool) -> None:
        if samples <= 0:
            return
        if not self._norms:
            flat = self._install()
            if flat is None:
                return
            self._norms.append(torch.linalg.vector_norm(flat))
        else:
            flat, prev = self._flat, self._prev
            assert flat is not None and prev is not None
            self._norms.append(torch.dist(flat, prev))  # |this micro-batch's contribution|
        self._weights.append((window_samples / samples) ** 2)
        self._sum_inv += 1.0 / samples
        if not last:
            assert self._prev is not None and self._flat is not None
            self._prev.copy_(self._flat)

    def end_window(self, grad_norm: float | None, window_samples: int) -> float:
        """``grad_norm``: the window's gradient norm, when the caller has it (else taken from the buffer)."""
        norms, weights, sum_inv = self._norms, self._weights, self._sum_inv
        self._norms, self._weights, self._sum_inv = [], [], 0.0
        count = len(norms)
        if count >= 2:
            if grad_norm is None:
                assert self._flat is not None
                norms.append(torch.linalg.vector_norm(self._flat))
            values = torch.stack(norms).tolist()  # the one read (sync) per window
            big = grad_norm if grad_norm is not None else values[count]
            small_sq = math.fsum(w * v * v for w, v in zip(weights, values, strict=False)) / count
            b_small = count / sum_inv  # harmonic mean of the micro-batch sizes
            if b_small < window_samples:
                self.scale.update(small_sq, b_small, big**2, window_samples)
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
