import tessera.isolation


def test_all_is_sorted_and_matches_the_public_namespace() -> None:
    public = {
        name
        for name in vars(tessera.isolation)
        if not name.startswith("_")
        and not isinstance(getattr(tessera.isolation, name), type(tessera))
    }
    assert tessera.isolation.__all__ == sorted(tessera.isolation.__all__)
    assert set(tessera.isolation.__all__) == public
