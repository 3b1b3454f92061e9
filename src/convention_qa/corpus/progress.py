"""How an ingest stands, for a person watching it: chunks written, rate, share read, time left."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["IngestProgress", "Progress"]


@dataclass(frozen=True)
class IngestProgress:
    """Where an ingest stands: chunks written (and embedded) so far, the share of the corpus's
    bytes read, and what that makes the rate and the time left."""

    chunks: int
    embedded: int
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    seconds: float

    @property
    def rate(self) -> float:
        """Chunks embedded a second so far."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the bytes read so far; None until there is anything to go by."""
        if self.bytes_done <= 0 or self.seconds <= 0:
            return None
        return max(0.0, self.seconds * (self.bytes_total - self.bytes_done) / self.bytes_done)

    def describe(self) -> str:
        """One line for a person: chunks, rate, share done and time left."""
        share = f"{100 * self.bytes_done / self.bytes_total:.0f}%" if self.bytes_total else "100%"
        eta = self.eta
        left = "" if eta is None else f", about {_duration(eta)} left"
        return (
            f"{self.files_done}/{self.files_total} files ({share}), {self.chunks} chunks, "
            f"{self.rate:.1f} chunks/s{left}"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


Progress = Callable[[IngestProgress], None]
