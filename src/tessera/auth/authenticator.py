"""The one object the HTTP layer asks "who is this?", in local or OIDC mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from tessera.auth.accounts import AccountStore
from tessera.auth.errors import InvalidToken, MissingCredentials
from tessera.auth.identity import Identity
from tessera.auth.oidc import OIDCVerifier
from tessera.auth.tokens import LocalTokens


class Authenticator:
    """Verifies bearer tokens with local HS256 tokens or an OIDC provider, never both.

    :param tokens: local-mode token issuer and verifier.
    :param accounts: local-mode account store (register and login need it).
    :param oidc: OIDC-mode verifier; give it instead of ``tokens`` and ``accounts``.
    :param allow_registration: whether ``POST /api/auth/register`` creates accounts.
    """

    def __init__(
        self,
        *,
        tokens: LocalTokens | None = None,
        accounts: AccountStore | None = None,
        oidc: OIDCVerifier | None = None,
        allow_registration: bool = True,
    ) -> None:
        if (tokens is None) == (oidc is None):
            raise ValueError("Give the Authenticator either local tokens or an OIDC verifier.")
        if oidc is not None and accounts is not None:
            raise ValueError("OIDC mode has no local accounts; identity comes from the provider.")
        self._tokens = tokens
        self._accounts = accounts
        self._oidc = oidc
        self.allow_registration = allow_registration

    @property
    def mode(self) -> Literal["local", "oidc"]:
        """``"local"`` or ``"oidc"``."""
        return "oidc" if self._oidc is not None else "local"

    @property
    def tokens(self) -> LocalTokens | None:
        """The local token issuer, or None in OIDC mode."""
        return self._tokens

    @property
    def accounts(self) -> AccountStore | None:
        """The local account store, or None in OIDC mode or without accounts."""
        return self._accounts

    async def authenticate(self, credentials: str | None) -> Identity:
        """The identity behind an ``Authorization`` header value (``Bearer <token>``) or
        a raw token; ``AuthError`` when it is missing or does not verify."""
        token = bearer_token(credentials)
        if self._oidc is not None:
            return await self._oidc.verify(token)
        assert self._tokens is not None
        return self._tokens.verify(token)

    def token_for(self, account: Mapping[str, Any]) -> str:
        """A local token for an account from the ``AccountStore``, with its roles."""
        if self._tokens is None:
            raise RuntimeError("Local tokens are not available in OIDC mode.")
        return self._tokens.issue(
            account["user_id"],
            username=account["username"],
            roles=account.get("roles") or (),
            superadmin=account.get("is_superadmin") is True,
        )


def bearer_token(credentials: str | None) -> str:
    """The token of an ``Authorization`` value (``Bearer <token>``) or a raw token;
    ``AuthError`` when there is none or the scheme is not Bearer."""
    if credentials is None or not credentials.strip():
        raise MissingCredentials("Authentication required: send 'Authorization: Bearer <token>'.")
    scheme, _, rest = credentials.strip().partition(" ")
    if not rest:
        return scheme
    if scheme.lower() != "bearer":
        raise InvalidToken(f"Unsupported authorization scheme {scheme!r}; use Bearer.")
    token = rest.strip()
    if not token or " " in token:
        raise InvalidToken("Authorization header must be 'Bearer <token>'.")
    return token
