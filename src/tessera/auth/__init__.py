"""Identity: local accounts and tokens, OIDC verification, and the authenticator."""

from tessera.auth.accounts import AccountStore
from tessera.auth.authenticator import Authenticator
from tessera.auth.claims import ClaimMap
from tessera.auth.errors import (
    AccountError,
    AuthError,
    ExpiredToken,
    HashingBusy,
    InvalidAccount,
    InvalidClaims,
    InvalidToken,
    LoginFailed,
    MissingCredentials,
    SecretFileError,
    UsernameTaken,
)
from tessera.auth.identity import Identity
from tessera.auth.oidc import OIDCVerifier
from tessera.auth.passwords import hash_password, verify_password
from tessera.auth.secret import load_or_create_secret
from tessera.auth.tokens import LocalTokens

__all__ = [
    "AccountError",
    "AccountStore",
    "AuthError",
    "Authenticator",
    "ClaimMap",
    "ExpiredToken",
    "HashingBusy",
    "Identity",
    "InvalidAccount",
    "InvalidClaims",
    "InvalidToken",
    "LocalTokens",
    "LoginFailed",
    "MissingCredentials",
    "OIDCVerifier",
    "SecretFileError",
    "UsernameTaken",
    "hash_password",
    "load_or_create_secret",
    "verify_password",
]
