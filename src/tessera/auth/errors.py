"""Errors of the identity layer; every message is safe to show a client.

AuthError               the caller is not authenticated (the HTTP layer answers 401)
├── MissingCredentials  no token was sent
├── InvalidToken        malformed, wrongly signed, or signed with a refused algorithm
├── ExpiredToken        the token's ``exp`` has passed
├── InvalidClaims       wrong issuer or audience, or a required claim is missing
└── LoginFailed         unknown username or wrong password (one message for both)
AccountError            a registration was refused
├── InvalidAccount      username, password or email fails validation
└── UsernameTaken       another account already has this username
SecretFileError         the token secret file in the data folder is unusable
HashingBusy             too many password hashes running and waiting (the HTTP layer: 503)
"""

from __future__ import annotations


class AuthError(Exception):
    """The caller could not be authenticated; ``str(error)`` is safe to show the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingCredentials(AuthError):
    """Raised when a request carries no token at all."""


class InvalidToken(AuthError):
    """Raised for a malformed token, a bad signature or a refused algorithm."""


class ExpiredToken(AuthError):
    """Raised when the token's expiry time has passed."""


class InvalidClaims(AuthError):
    """Raised for a wrong issuer or audience, or a missing or mistyped claim."""


class LoginFailed(AuthError):
    """Raised by a login with an unknown username or a wrong password."""


class AccountError(Exception):
    """A registration was refused; ``field`` names the offending input, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidAccount(AccountError):
    """Raised when a username, password or email fails validation."""


class UsernameTaken(AccountError):
    """Raised when the username already belongs to another account."""


class SecretFileError(Exception):
    """Raised when the token secret file exists but cannot be used."""


class HashingBusy(Exception):
    """Every password-hashing thread is busy and the line behind them is full; the caller
    may retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
