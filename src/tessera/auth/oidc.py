"""OIDC mode: tokens signed by an identity provider, checked against its JWKS."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import jwt

from tessera.auth.cache import DEFAULT_CACHE_SIZE, VerifiedTokens
from tessera.auth.claims import ClaimMap
from tessera.auth.errors import ExpiredToken, InvalidClaims, InvalidToken
from tessera.auth.identity import Identity

logger = logging.getLogger("tessera.auth")

DEFAULT_ALGORITHMS = ("RS256", "ES256")
JWKS_MAX_AGE_SECONDS = 3600.0
# A token with an unknown key id triggers a refetch (the provider may have rotated its
# keys), but no more often than this, so forged key ids cannot flood the provider.
JWKS_MIN_REFRESH_SECONDS = 30.0
JWKS_FETCH_TIMEOUT_SECONDS = 10.0


class OIDCVerifier:
    """Verifies provider-signed JWTs: signature against the JWKS, then issuer, audience
    and expiry, then maps the configured claims to an ``Identity``.

    :param jwks_url: the provider's JWKS document (``jwks_uri`` in its discovery document).
    :param issuer: the exact ``iss`` tokens must carry.
    :param audience: the ``aud`` tokens must include (this server's client id).
    :param algorithms: the signature algorithms accepted; never ``none`` or HMAC.
    :param *_claim: the claim holding each identity part; dotted paths walk nested
        objects, e.g. ``roles_claim="realm_access.roles"`` for Keycloak.
    :param default_app_id: the app id when the token has no app id claim.
    :param leeway_seconds: clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str | Sequence[str],
        default_app_id: str,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        user_id_claim: str = "sub",
        username_claim: str = "preferred_username",
        roles_claim: str = "roles",
        superadmin_claim: str = "is_superadmin",
        app_id_claim: str = "app_id",
        plan_claim: str = "plan",
        leeway_seconds: float = 30.0,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        refused = [a for a in algorithms if a.lower() == "none" or a.upper().startswith("HS")]
        if refused or not algorithms:
            raise ValueError(
                f"OIDC algorithms must be asymmetric (e.g. RS256, ES256), not {refused or '[]'}."
            )
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.default_app_id = default_app_id
        self.algorithms = list(algorithms)
        self.leeway_seconds = leeway_seconds
        self._claims = ClaimMap(
            user_id=user_id_claim,
            username=username_claim,
            roles=roles_claim,
            superadmin=superadmin_claim,
            app_id=app_id_claim,
            plan=plan_claim,
        )
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._fetch_lock = asyncio.Lock()
        self._verified = VerifiedTokens(cache_size)

    async def verify(self, token: str) -> Identity:
        """The identity in ``token``; ``AuthError`` unless it verifies in every respect.

        A verified token is remembered until its ``exp``, or until a refetch of the JWKS
        drops or replaces the key that signed it; a remembered token costs what a local
        one does, the keys' age checked on the way.
        """
        cached = self._verified.get(token)
        if cached is not None:
            if time.monotonic() - self._fetched_at <= JWKS_MAX_AGE_SECONDS:
                return cached
            await self._refresh_stale()
            cached = self._verified.get(token)  # gone if its key left the JWKS
            if cached is not None:
                return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("Token is malformed or invalid.") from None
        if header.get("alg") not in self.algorithms:
            raise InvalidToken(f"Token must be signed with one of {', '.join(self.algorithms)}.")
        key_id, key = await self._key_for(header.get("kid"))
        claims = self._decode(token, key)
        identity = self._claims.identity(claims, default_app_id=self.default_app_id)
        if self._keys.get(key_id) is key:  # not if a refetch dropped the key meanwhile
            # Until the moment verifying it again would refuse it: exp plus the leeway.
            expires_at = float(claims["exp"]) + self.leeway_seconds
            self._verified.put(token, identity, expires_at, key_id)
        return identity

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredToken("Token has expired; sign in again.") from None
        except jwt.InvalidAudienceError:
            raise InvalidClaims("Token was issued for another audience.") from None
        except jwt.InvalidIssuerError:
            raise InvalidClaims("Token was issued by another issuer.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidClaims(f"Token lacks the required claim {exc.claim!r}.") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("Token signature does not verify.") from None
        except jwt.PyJWTError:
            raise InvalidToken("Token is malformed or invalid.") from None

    async def _refresh_stale(self) -> None:
        """Refetch keys older than ``JWKS_MAX_AGE_SECONDS`` (at most every
        ``JWKS_MIN_REFRESH_SECONDS``); while one request does, the others go on with the
        keys they have."""
        if self._fetch_lock.locked():
            return
        async with self._fetch_lock:
            due = time.monotonic() - self._attempted_at > JWKS_MIN_REFRESH_SECONDS
            if due and self._age() > JWKS_MAX_AGE_SECONDS:
                await self._refresh()

    async def _key_for(self, kid: object) -> tuple[str, jwt.PyJWK]:
        """The key id and signing key for ``kid``, refetching the JWKS when it is stale
        or the kid is unknown (the provider may have rotated its keys)."""
        found = self._lookup(kid)
        stale = self._age() > JWKS_MAX_AGE_SECONDS
        # While one request refreshes stale keys, the others keep using the current ones.
        if found is None or (stale and not self._fetch_lock.locked()):
            async with self._fetch_lock:
                # Another request may have refreshed the keys while this one waited.
                found = self._lookup(kid)
                due = time.monotonic() - self._attempted_at > JWKS_MIN_REFRESH_SECONDS
                if due and (found is None or self._age() > JWKS_MAX_AGE_SECONDS):
                    await self._refresh()
                    found = self._lookup(kid)
        if found is not None:
            return found
        if not self._keys:
            raise InvalidToken(
                "Cannot verify tokens: the identity provider's keys are unavailable."
            )
        raise InvalidToken("Token was signed with an unknown key.")

    def _age(self) -> float:
        return time.monotonic() - self._fetched_at

    def _lookup(self, kid: object) -> tuple[str, jwt.PyJWK] | None:
        if kid is None:
            # Without a key id, only an unambiguous single-key set can be used.
            return next(iter(self._keys.items())) if len(self._keys) == 1 else None
        if not isinstance(kid, str) or kid not in self._keys:
            return None
        return kid, self._keys[kid]

    async def _refresh(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            document = await asyncio.to_thread(_fetch_json, self.jwks_url)
            keys = _signing_keys(document)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            # Keep any keys we have: a provider outage must not log everyone out.
            logger.warning("Fetching the JWKS from %s failed: %s", self.jwks_url, exc)
            return
        # Tokens verified with a key the provider no longer publishes, or now publishes
        # with other material under the same id, are verified again (and refused).
        gone = {
            kid for kid, old in self._keys.items() if kid not in keys or keys[kid].key != old.key
        }
        self._keys = keys
        self._fetched_at = time.monotonic()
        if gone:
            self._verified.forget(gone)


def _fetch_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=JWKS_FETCH_TIMEOUT_SECONDS) as response:
        return json.loads(response.read())


def _signing_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """The signature keys of a JWKS document by key id (``""`` when a key has none)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("JWKS document has no 'keys' list.")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") == "oct":  # a shared secret has no place in a public key set
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type this server cannot use; others may still serve
        keys[key.key_id or ""] = key
    if not keys:
        raise ValueError("JWKS document has no usable signing keys.")
    return keys
