"""Building a runtime's :class:`Gate` from its settings: None without a plans file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.datafolder import prepare_data_folder
from tessera.entitlements.counters import Counters, DocumentCounters, SqliteCounters
from tessera.entitlements.errors import ConfigError
from tessera.entitlements.events import Events
from tessera.entitlements.gate import Gate
from tessera.entitlements.ledger import Ledger, StoreLedger
from tessera.entitlements.periods import utc_now
from tessera.entitlements.plans import read_plans
from tessera.entitlements.spec import PluginEntitlements
from tessera.entitlements.subscriptions import COLLECTION, Subscription, Subscriptions
from tessera.services.database import SYSTEM_DATABASE
from tessera.settings import Settings
from tessera.store import open_client
from tessera.store.engine.engine import Engine

if TYPE_CHECKING:
    from tessera.runtime import Runtime

USAGE_COLLECTION = "entitlement_usage"


async def build_gate(runtime: Runtime) -> Gate | None:
    """The runtime's gate; ValueError naming the file when the plans file is not valid."""
    path = runtime.settings.plans
    if not path:
        return None
    try:
        plans = read_plans(Path(path))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    system = runtime.store[SYSTEM_DATABASE]
    ledger: Ledger
    if runtime.cluster is not None:
        from tessera.entitlements.ledger_redis import RedisLedger  # only a cluster needs redis

        ledger = RedisLedger(runtime.cluster)
    elif runtime.shared is not None:
        from tessera.entitlements.ledger_shared import SharedLedger

        ledger = SharedLedger(runtime.shared, await store_counters(runtime.store))
    else:
        ledger = StoreLedger(await store_counters(runtime.store))
    subscriptions = Subscriptions(system[COLLECTION], plans)
    await subscriptions.ensure_collection()

    def spec_of(name: str) -> PluginEntitlements | None:
        plugin = runtime.plugins.get(name)
        return plugin.entitlements if plugin is not None else None

    return Gate(
        plans, subscriptions, ledger, Events(runtime.metrics, runtime.services.bus), spec_of
    )


async def store_counters(store: Any) -> Counters:
    """The embedded store's SQL counters, or a collection's documents on MongoDB."""
    engine = getattr(store, "engine", None)
    if isinstance(engine, Engine):
        counters = SqliteCounters(engine)
        await counters.prepare()
        return counters
    return DocumentCounters(store[SYSTEM_DATABASE][USAGE_COLLECTION])


async def set_plan_offline(
    settings: Settings, user_id: str, plan: str, app_id: str | None, trial_days: int | None
) -> Subscription:
    """``tessera plan set``: write the record in the server's store, read from its next call."""
    try:
        plans = read_plans(Path(settings.plans))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    prepare_data_folder(settings)
    store = open_client(settings.store)
    try:
        subscriptions = Subscriptions(store[SYSTEM_DATABASE][COLLECTION], plans)
        return await subscriptions.set_plan(
            app_id or settings.app_id, user_id, plan, utc_now(), by="cli", trial_days=trial_days
        )
    finally:
        await store.close()
