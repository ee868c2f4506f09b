"""Plugin enable, disable and reload reach every process within a second."""

from __future__ import annotations

import httpx

from tests.scaleout.conftest import Cluster, Node, eventually


def admin(node: Node, path: str) -> httpx.Response:
    with node.client("root", superadmin=True) as client:
        return client.post(f"/api/admin/plugins/{path}")


def status(node: Node) -> int:
    return node.call("lena", "toggle").status_code


def test_disabling_a_plugin_on_one_process_takes_effect_on_the_others(pair: Cluster):
    a, b = pair.nodes
    assert status(b) == 200
    assert admin(a, "toggle/disable").status_code == 200
    eventually(lambda: status(b) == 404, seconds=1, what="disabled on the other process")
    assert admin(b, "toggle/enable").status_code == 200
    eventually(lambda: status(a) == 200, seconds=1, what="enabled again on the first process")
    assert status(b) == 200


def test_reloading_a_plugin_on_one_process_reloads_it_on_the_others(pair: Cluster):
    a, b = pair.nodes
    logic = pair.folder / "plugins" / "toggle" / "logic.py"
    original = logic.read_text()
    try:
        logic.write_text(original.replace('{"on": True}', '{"on": "again"}'))
        assert admin(a, "toggle/reload").status_code == 200
        eventually(
            lambda: b.call("lena", "toggle").json() == {"on": "again"},
            seconds=1,
            what="the new code answering on the other process",
        )
    finally:
        logic.write_text(original)
        admin(a, "toggle/reload")
