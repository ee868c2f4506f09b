"""Auth fixtures: a real JWKS served over HTTP on 127.0.0.1, with RSA and EC keys."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tessera.auth import AccountStore
from tessera.store import open_client


@dataclass
class Provider:
    """A stand-in identity provider: its keys, its JWKS, and a token factory."""

    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    issuer: str = "https://id.example.test/realms/tessera"
    audience: str = "tessera-api"
    jwks: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    fetches: int = 0
    delay: float = 0.0
    down: bool = False

    def publish(self, *entries: tuple[str, Any]) -> None:
        """Serve the public halves of ``(kid, private_key)`` pairs as the JWKS."""
        keys = []
        for kid, key in entries:
            codec = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
            jwk = codec.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig"})
        self.jwks = {"keys": keys}

    def token(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: Any = None,
        kid: str | None = "rsa-1",
        algorithm: str = "RS256",
        **overrides: Any,
    ) -> str:
        """A token from this provider; ``overrides`` replace or (``None``) drop claims."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "user-42",
            "preferred_username": "alice",
            "iat": now,
            "exp": now + 300,
            **(claims or {}),
        }
        for name, value in overrides.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        headers = {"kid": kid} if kid is not None else {}
        signing_key = key if key is not None else self.rsa_key
        return jwt.encode(payload, signing_key, algorithm=algorithm, headers=headers)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def provider(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Iterator[Provider]:
    """A provider whose JWKS (``rsa-1`` and ``ec-1``) is served on an ephemeral port."""
    state = Provider(rsa_key=rsa_key, ec_key=ec_key)
    state.publish(("rsa-1", rsa_key), ("ec-1", ec_key))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            time.sleep(state.delay)
            if state.down:
                self.send_error(503)
                return
            body = json.dumps(state.jwks).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def account_collection() -> AsyncIterator[Any]:
    """The accounts collection of a fresh in-memory embedded store."""
    client = open_client("sqlite://:memory:")
    yield client["_tessera"]["accounts"]
    await client.close()


@pytest.fixture
async def accounts(account_collection: Any) -> AccountStore:
    """An account store with its indexes, as the runtime sets it up."""
    store = AccountStore(account_collection)
    await store.ensure_indexes()
    return store
