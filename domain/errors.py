"""The project's exceptions: one root, one class per situation."""

from __future__ import annotations

from dataclasses import dataclass, field


class BatchDialError(Exception):
    """Root of every error batchdial raises on purpose."""


class ConfigError(BatchDialError):
    """Raised at start-up when a setting is invalid; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of an input: where it is (``rows[3].toNumber``) and what is wrong."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The JSON shape used in error ``details``."""
        return {"path": self.path, "message": self.message}


@dataclass
class InvalidInput(BatchDialError):
    """Raised when a request is refused as a whole; ``problems`` lists every problem."""

    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def one(cls, path: str, message: str) -> InvalidInput:
        """An error with a single problem."""
        return cls([Problem(path, message)])

    def __str__(self) -> str:
        return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in self.problems)


class MalformedBody(BatchDialError):
    """Raised when a request body is not JSON, not UTF-8, or of the wrong content type."""


class NotFound(BatchDialError):
    """Raised when a job, dial or workspace does not exist for the caller."""


class Unauthorized(BatchDialError):
    """Raised when an API key is missing or matches no workspace."""


class Conflict(BatchDialError):
    """Raised when a job's state does not allow the requested transition."""


class TooLarge(BatchDialError):
    """Raised when a request exceeds a size limit (body bytes, rows per job)."""
