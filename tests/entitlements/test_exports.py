import tessera.entitlements as package


def test_all_is_sorted_and_matches_the_public_namespace() -> None:
    modules = type(package)
    public = {
        name
        for name in vars(package)
        if not name.startswith("_") and not isinstance(getattr(package, name), modules)
    }
    assert package.__all__ == sorted(package.__all__)
    assert set(package.__all__) == public
