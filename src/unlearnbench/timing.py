"""Honest wall-clock timing for CPU and GPU work."""

from __future__ import annotations

import time

import torch


class Stopwatch:
    """Wall-clock timer that waits for queued CUDA work, so GPU timings are honest."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.seconds = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __enter__(self) -> Stopwatch:
        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self._start

    def elapsed(self) -> float:
        """Seconds since the stopwatch was entered (while it is still running)."""
        return time.perf_counter() - self._start
