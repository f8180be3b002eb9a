"""The typed errors every backend translates its SDK's failures into; pages catch only these."""

from __future__ import annotations


class PlaygroundError(Exception):
    """Base of every error a page or the CLI shows to a person."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def user_message(self) -> str:
        """One sentence (plus an optional hint) a person can act on."""
        return f"{self.message} {self.hint}".strip()


class BadRequest(PlaygroundError):
    """The request itself is wrong: empty prompt, bad parameter, unknown target, too long."""


class BackendUnavailable(PlaygroundError):
    """The runtime or server cannot be reached or is not installed or configured."""


class BackendTimeout(PlaygroundError):
    """The backend did not answer within its time budget."""


class RateLimited(PlaygroundError):
    """The provider refused for now; retry_after is seconds to wait when known."""

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str = ""):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class AuthFailed(PlaygroundError):
    """The key is missing, wrong, or lacks permission."""


class ContentFiltered(PlaygroundError):
    """The provider's content filter blocked the prompt or the answer."""


class IncompleteGeneration(PlaygroundError):
    """The stream broke after some text arrived; partial_text keeps what came."""

    def __init__(self, message: str, *, partial_text: str = "", hint: str = ""):
        super().__init__(message, hint=hint)
        self.partial_text = partial_text


class MediaError(PlaygroundError):
    """An uploaded image or video cannot be used; the message names the problem."""
