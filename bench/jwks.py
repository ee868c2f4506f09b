"""A local OIDC provider for the benchmarks: an RSA key generated for the run, its JWKS
served over HTTP on 127.0.0.1, and RS256 tokens signed with it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://id.bench.test/realms/tessera"
AUDIENCE = "tessera-bench"
KID = "bench-rsa-1"


def new_key_pem() -> bytes:
    """A new 2048-bit RSA private key, PEM-encoded."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


class LocalProvider:
    """Serves its JWKS from a thread until ``close``; ``settings()`` configures Tessera.

    :param key_pem: the signing key (``new_key_pem()``); a new one when not given. Key
        generation takes a varying number of instructions, which a count must leave out.
    """

    def __init__(self, key_pem: bytes | None = None) -> None:
        key = load_pem_private_key(key_pem or new_key_pem(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.key = key
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def token(self, user_id: str, ttl_seconds: int = 86400) -> str:
        """An RS256 token for ``user_id`` with the claims a provider such as Keycloak sends."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "preferred_username": user_id,
            "roles": [],
            "iat": now,
            "exp": now + ttl_seconds,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def settings(self) -> dict[str, str]:
        """The settings that put Tessera in OIDC mode against this provider."""
        return {
            "auth_mode": "oidc",
            "oidc_jwks_url": self.url,
            "oidc_issuer": ISSUER,
            "oidc_audience": AUDIENCE,
            "oidc_algorithms": "RS256",
        }

    def environ(self) -> dict[str, str]:
        """``settings()`` as the ``TESSERA_*`` variables ``tessera serve`` reads."""
        return {f"TESSERA_{name.upper()}": value for name, value in self.settings().items()}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
