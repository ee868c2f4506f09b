"""Local-mode tokens: HS256 JWTs signed with the data folder's secret."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import jwt

from tessera.auth.cache import DEFAULT_CACHE_SIZE, VerifiedTokens
from tessera.auth.claims import ClaimMap
from tessera.auth.errors import ExpiredToken, InvalidClaims, InvalidToken
from tessera.auth.identity import Identity

DEFAULT_TTL_SECONDS = 86400
_ALGORITHM = "HS256"
_CLAIMS = ClaimMap()


class LocalTokens:
    """Issues and verifies the HS256 tokens of local mode.

    :param secret: the signing key, from ``load_or_create_secret``.
    :param default_app_id: the app id of tokens that carry none.
    :param ttl_seconds: lifetime of issued tokens unless ``issue`` says otherwise.
    :param cache_size: how many verified tokens to remember (0 disables the cache).
    """

    def __init__(
        self,
        secret: bytes,
        *,
        default_app_id: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._secret = secret
        self.default_app_id = default_app_id
        self.ttl_seconds = ttl_seconds
        self._verified = VerifiedTokens(cache_size)

    def issue(
        self,
        user_id: str,
        *,
        username: str | None = None,
        roles: Iterable[str] = (),
        superadmin: bool = False,
        app_id: str | None = None,
        ttl_seconds: int | None = None,
        plan: str | None = None,
    ) -> str:
        """A signed token for ``user_id``, valid for ``ttl_seconds`` from now."""
        if not user_id:
            raise ValueError("A token needs a non-empty user_id.")
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user_id,
            "username": username or user_id,
            "roles": list(roles),
            "is_superadmin": superadmin,
            "app_id": app_id or self.default_app_id,
            "iat": now,
            "exp": now + (self.ttl_seconds if ttl_seconds is None else ttl_seconds),
        }
        if plan:
            claims["plan"] = plan
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Identity:
        """The identity in ``token``; ``AuthError`` unless it is an unexpired HS256 token
        signed with this secret. Verified tokens are cached until they expire."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"require": ["sub", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredToken("Token has expired; log in again.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidClaims(f"Token lacks the required claim {exc.claim!r}.") from None
        except jwt.InvalidSignatureError:
            # Most often a token minted with another data folder's secret (a mistyped --data).
            raise InvalidToken(
                "Token signature does not verify: tokens are signed by the secret in the "
                "server's data folder (tessera token --data DIR)."
            ) from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken(f"Token must be signed with {_ALGORITHM}.") from None
        except jwt.PyJWTError:
            raise InvalidToken("Token is malformed or invalid.") from None
        identity = _CLAIMS.identity(claims, default_app_id=self.default_app_id)
        self._verified.put(token, identity, float(claims["exp"]))
        return identity
