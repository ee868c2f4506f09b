import pytest

from tessera.auth import ClaimMap, InvalidClaims
from tessera.auth.claims import claim


def test_dotted_path_walks_nested_claims() -> None:
    claims = {"realm_access": {"roles": ["admin"]}}
    assert claim(claims, "realm_access.roles") == ["admin"]


def test_literal_key_with_dots_wins_over_a_path() -> None:
    claims = {"https://example.com/roles": ["a"], "https://example": {"com/roles": ["b"]}}
    assert claim(claims, "https://example.com/roles") == ["a"]


def test_identity_uses_defaults_for_absent_claims() -> None:
    identity = ClaimMap().identity({"sub": "u1"}, default_app_id="app")
    assert (identity.user_id, identity.username, identity.app_id) == ("u1", "u1", "app")
    assert identity.roles == ()
    assert identity.is_superadmin is False


def test_superadmin_needs_a_real_true() -> None:
    claim_map = ClaimMap()
    assert not claim_map.identity(
        {"sub": "u", "is_superadmin": "true"}, default_app_id="a"
    ).is_superadmin
    assert claim_map.identity({"sub": "u", "is_superadmin": True}, default_app_id="a").is_superadmin


def test_space_separated_role_string_is_split() -> None:
    identity = ClaimMap().identity({"sub": "u", "roles": "admin editor"}, default_app_id="a")
    assert identity.roles == ("admin", "editor")


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"sub": ""},
        {"sub": None},
        {"sub": ["u"]},
        {"sub": "u", "roles": [1, 2]},
        {"sub": "u", "roles": {"admin": True}},
        {"sub": "u", "username": 7},
        {"sub": "u", "app_id": ["a"]},
    ],
)
def test_unusable_claims_are_refused(claims: dict) -> None:
    with pytest.raises(InvalidClaims):
        ClaimMap().identity(claims, default_app_id="a")
