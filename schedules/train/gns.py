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
critical batch size, to first order).  Cost per micro-batch: one copy of a flat gradient
buffer (:class:`WindowNoise`); per window one matrix product and one read; nothing without
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

    **Cost.**  After the window's first backward its gradients are copied once into one flat buffer
    and every ``p.grad`` becomes a view of it, so the later backwards accumulate into the buffer (in
    place, as autograd does into an existing ``.grad``).  After each micro-batch the buffer is copied
    into the next row of a snapshot matrix of :data:`ROWS` rows: one single-tensor copy, no norm, no
    Python loop over the parameters and no read of a value per micro-batch.  At the end of the window
    (or when the rows are full) one matrix product, the Gram matrix of the snapshots ``F_j``, gives
    every ``|g_j|^2 = |F_j|^2 + |F_(j-1)|^2 - 2 F_j . F_(j-1)`` and ``|G_B|^2``, and one ``.tolist()``
    reads it: the only sync.  (The subtraction loses about ``A^2`` ulps of ``|g_j|^2`` in a window of
    ``A`` micro-batches: noise far below the estimator's own.)  Memory: ``ROWS + 1`` copies of the
    gradients.  Parameters without a gradient after the first micro-batch are left out.
    """

    #: Snapshot rows (row 0 stays zero: the accumulated gradient before the window's first backward).
    ROWS = 17

    def __init__(self, params: list[torch.Tensor], beta: float = 0.99):
        self.params = list(params)
        self.scale = NoiseScale(beta)
        self._live: list[torch.Tensor] = []  # the parameters in the snapshot rows
        self._flat: torch.Tensor | None = None  # the window's accumulated gradient (p.grad are views)
        self._views: list[torch.Tensor] = []
        self._snap: torch.Tensor | None = None  # (ROWS, n) accumulated gradients after each micro-batch
        self._grads: list[torch.Tensor] | None = None  # this window's .grad tensors (the views)
        self._filled = 0  # rows holding this window's snapshots (row 0 included)
        self._carried = False  # row 1 holds the last snapshot of a flush (its difference is counted)
        self._grams: list[torch.Tensor] = []  # Gram matrices of the snapshot rows, on the device
        self._weights: list[float] = []  # (B / b_j)^2: undoes the 1/B loss normalisation
        self._sum_inv = 0.0

    def _start(self) -> bool:
        """At the window's first micro-batch: the gradients to follow, and zeros in row 0."""
        live = [p for p in self.params if p.grad is not None]
        if not live:
            return False
        if len(live) != len(self._live) or any(p is not q for p, q in zip(live, self._live, strict=True)):
            if len({(p.grad.dtype, p.grad.device) for p in live}) > 1:
                return False  # mixed dtypes or devices: no estimate
            g0 = live[0].grad
            n = sum(p.numel() for p in live)
            self._flat = torch.empty(n, dtype=g0.dtype, device=g0.device)
            self._snap = torch.zeros((self.ROWS, n), dtype=g0.dtype, device=g0.device)
            self._views, offset = [], 0
            for p in live:
                self._views.append(self._flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
            self._live = live
        torch._foreach_copy_(self._views, [p.grad for p in live])
        for p, view in zip(live, self._views, strict=True):
            p.grad = view
        self._grads = self._views
        self._filled, self._carried = 1, False
        return True

    def _flush(self, carry: bool) -> None:
        """The Gram matrix of the filled rows (one ``mm``: every ``|F_j|^2`` and ``F_j . F_(j-1)``);
        with ``carry`` the last snapshot moves to row 1, the base of the next rows."""
        snap = self._snap
        assert snap is not None
        first = 1 if self._carried else 0  # rows before it were counted by the previous flush
        rows = snap[first : self._filled]
        self._grams.append(torch.mm(rows, rows.t()))
        if carry:
            snap[1].copy_(snap[self._filled - 1])
            self._filled, self._carried = 2, True

    def micro_batch(self, samples: int, window_samples: int, last: bool) -> None:
        if samples <= 0:
            return
        if self._grads is None and not self._start():
            return
        if self._filled == self.ROWS:
            self._flush(carry=True)
        self._snap[self._filled].copy_(self._flat)  # type: ignore[index, union-attr]
        self._filled += 1
        self._weights.append((window_samples / samples) ** 2)
        self._sum_inv += 1.0 / samples

    def end_window(self, grad_norm: float | None, window_samples: int) -> float:
        """``grad_norm``: the window's gradient norm, when the caller has it (else from the last snapshot)."""
        grads, weights, sum_inv = self._grads, self._weights, self._sum_inv
        count = len(weights)
        ok = grads is not None and count >= 2 and self._live[0].grad is grads[0]  # accumulated in place
        if ok:
            self._flush(carry=False)
            grams = self._grams
            # |g_j|^2 (times (b_j / B)^2) = |F_j - F_(j-1)|^2 = F_j.F_j + F_(j-1).F_(j-1) - 2 F_j.F_(j-1)
            contributions: list[float] = []
            # the one read (sync) per window (one per ROWS - 1 micro-batches in longer windows)
            gram_lists = [g.tolist() for g in grams]
            for g in gram_lists:
                contributions += [g[r][r] + g[r - 1][r - 1] - 2 * g[r][r - 1] for r in range(1, len(g))]
            big_sq = grad_norm**2 if grad_norm is not None else gram_lists[-1][-1][-1]
            small_sq = math.fsum(w * max(c, 0.0) for w, c in zip(weights, contributions, strict=True)) / count
            b_small = count / sum_inv  # harmonic mean of the micro-batch sizes
            if b_small < window_samples:
                self.scale.update(small_sq, b_small, big_sq, window_samples)
        self._grads, self._grams, self._weights, self._sum_inv, self._filled = None, [], [], 0.0, 0
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
