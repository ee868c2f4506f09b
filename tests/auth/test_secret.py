import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tessera.auth import LocalTokens, SecretFileError, load_or_create_secret
from tessera.auth.secret import SECRET_FILENAME


def test_secret_is_created_once_and_reloaded(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    second = load_or_create_secret(tmp_path)
    assert first == second
    assert len(first) >= 32


def test_secret_file_is_private(tmp_path: Path) -> None:
    load_or_create_secret(tmp_path)
    mode = stat.S_IMODE((tmp_path / SECRET_FILENAME).stat().st_mode)
    assert mode == 0o600


def test_missing_data_folder_is_created(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    load_or_create_secret(data)
    assert (data / SECRET_FILENAME).is_file()


def test_different_data_folders_get_different_secrets(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path / "a") != load_or_create_secret(tmp_path / "b")


def test_tokens_survive_a_restart(tmp_path: Path) -> None:
    token = LocalTokens(load_or_create_secret(tmp_path), default_app_id="app").issue("u1")
    restarted = LocalTokens(load_or_create_secret(tmp_path), default_app_id="app")
    assert restarted.verify(token).user_id == "u1"


def test_concurrent_starts_agree_on_one_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        secrets = list(pool.map(lambda _: load_or_create_secret(tmp_path), range(16)))
    assert len(set(secrets)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILENAME]


def test_operator_supplied_secret_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILENAME).write_text("an-operator-chosen-secret-of-40-bytes!!!\n")
    assert load_or_create_secret(tmp_path) == b"an-operator-chosen-secret-of-40-bytes!!!"


def test_secret_readable_by_others_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_or_create_secret(tmp_path)
    (tmp_path / SECRET_FILENAME).chmod(0o644)
    load_or_create_secret(tmp_path)
    assert "chmod 600" in caplog.text


@pytest.mark.parametrize("content", ["", "short", " " * 64])
def test_too_short_secret_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / SECRET_FILENAME).write_text(content)
    with pytest.raises(SecretFileError, match="at least 32"):
        load_or_create_secret(tmp_path)
