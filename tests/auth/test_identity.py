from tessera.auth import Identity


def test_context_has_exactly_the_contract_keys() -> None:
    identity = Identity("u1", "alice", "app1", roles=("admin", "editor"), is_superadmin=True)
    assert identity.context() == {
        "app_id": "app1",
        "user_id": "u1",
        "username": "alice",
        "roles": ["admin", "editor"],
        "is_superadmin": True,
    }


def test_context_is_a_fresh_copy_plugins_cannot_use_to_change_the_identity() -> None:
    identity = Identity("u1", "alice", "app1", roles=("admin",))
    identity.context()["roles"].append("superuser")
    assert identity.roles == ("admin",)


def test_defaults_and_hashability() -> None:
    identity = Identity("u1", "alice", "app1")
    assert identity.roles == ()
    assert identity.is_superadmin is False
    assert dict(identity.entitlements) == {}
    assert hash(identity) == hash(Identity("u1", "alice", "app1"))
