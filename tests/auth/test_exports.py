import tessera.auth


def test_all_is_sorted_and_matches_the_public_namespace() -> None:
    public = {
        name
        for name in vars(tessera.auth)
        if not name.startswith("_") and not isinstance(getattr(tessera.auth, name), type(tessera))
    }
    assert tessera.auth.__all__ == sorted(tessera.auth.__all__)
    assert set(tessera.auth.__all__) == public
