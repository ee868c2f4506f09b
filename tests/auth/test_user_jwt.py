"""In OIDC mode a plugin that asks for ``user_jwt`` gets the provider's token as sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


def test_a_plugin_gets_the_providers_token_to_call_other_services(
    serve: Any, provider: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "plugins" / "forwarder"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"needs_user_jwt": true}')
    (folder / "logic.py").write_text(
        "async def execute(data):\n    return {'user_jwt': data['user_jwt']}\n"
    )
    live = serve(
        tmp_path / "plugins",
        auth_mode="oidc",
        oidc_jwks_url=provider.url,
        oidc_issuer=provider.issuer,
        oidc_audience=provider.audience,
    )
    token = provider.token()
    response = httpx.post(
        f"{live.url}/api/execute/forwarder", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"user_jwt": token}
