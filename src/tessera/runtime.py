"""The composition root: one object that owns the store, identity, plugins and services.

``Runtime`` is built from :class:`~tessera.settings.Settings`, started once (opening the
store, binding ``core.*``, loading plugins) and stopped once. The HTTP layer, the CLI and
the test harness all drive the same object.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.auth.accounts import AccountStore
from tessera.auth.authenticator import Authenticator
from tessera.auth.identity import Identity
from tessera.auth.oidc import OIDCVerifier
from tessera.auth.secret import load_or_create_secret
from tessera.auth.tokens import LocalTokens
from tessera.cluster.shared import SharedFile
from tessera.datafolder import prepare_data_folder
from tessera.entitlements.setup import build_gate
from tessera.governance import Governor
from tessera.governance.shared import SharedGovernor
from tessera.governance.watchdog import LoopWatchdog, describe_block
from tessera.isolation.modes import CollectionModes
from tessera.metrics import Metrics
from tessera.plugins.executor import Executor, Outcome
from tessera.plugins.manifest import Manifest
from tessera.plugins.registry import Plugin, PluginRegistry
from tessera.plugins.shared_switches import SharedSwitches
from tessera.plugins.state import PluginStates
from tessera.plugins.watcher import watch
from tessera.sandbox.host import Sandbox
from tessera.sandbox.pool import PoolSettings
from tessera.services.database import SYSTEM_DATABASE, Databases
from tessera.services.database import bind as bind_databases
from tessera.services.database import unbind as unbind_databases
from tessera.services.wiring import Services, start_services, stop_services
from tessera.settings import Settings
from tessera.store import open_client
from tessera.store.engine import ttl

if TYPE_CHECKING:
    from tessera.cluster.link import Cluster
    from tessera.entitlements.gate import Gate
    from tessera.plugins.switches import PluginSwitches

logger = logging.getLogger("tessera")


ACCOUNTS_DATABASE = "_tessera_accounts"


def build_authenticator(settings: Settings, accounts_store: Any) -> Authenticator:
    """Local accounts and HS256 tokens, or an OIDC verifier, as the settings say.

    ``accounts_store`` is a store client of its own (see the ``accounts_store_uri``
    setting): no handle on the app data leads to password hashes.
    """
    if settings.auth_mode == "oidc":
        missing = [
            s for s in ("oidc_jwks_url", "oidc_issuer", "oidc_audience") if not settings.values[s]
        ]
        if missing:
            names = ", ".join("TESSERA_" + m.upper() for m in missing)
            raise ValueError(f"OIDC mode needs {names}")
        verifier = OIDCVerifier(
            settings.oidc_jwks_url,
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            default_app_id=settings.app_id,
            algorithms=settings.oidc_algorithms,
            user_id_claim=settings.oidc_user_id_claim,
            username_claim=settings.oidc_username_claim,
            roles_claim=settings.oidc_roles_claim,
            superadmin_claim=settings.oidc_superadmin_claim,
            app_id_claim=settings.oidc_app_id_claim,
            plan_claim=settings.oidc_plan_claim,
        )
        return Authenticator(oidc=verifier)
    tokens = local_tokens(settings)
    accounts = AccountStore(accounts_store[ACCOUNTS_DATABASE]["accounts"])
    return Authenticator(
        tokens=tokens, accounts=accounts, allow_registration=settings.allow_registration
    )


def local_tokens(settings: Settings) -> LocalTokens:
    """The HS256 token issuer of the data folder (also used by ``tessera token``)."""
    secret = load_or_create_secret(Path(settings.data))
    return LocalTokens(secret, default_app_id=settings.app_id, ttl_seconds=settings.token_ttl)


async def move_accounts(store: Any, accounts: AccountStore) -> None:
    """Accounts of an earlier version lived in the app store's system database: move them
    to the accounts store once (copied first, then deleted), so none is lost."""
    old = store[SYSTEM_DATABASE]["accounts"]
    moved = 0
    for account in await old.find({}).to_list(None):
        moved += await accounts.adopt(account)
        await old.delete_one({"_id": account["_id"]})
    if moved:
        logger.info("moved %d local accounts to the accounts store", moved)


class Runtime:
    """Everything one Tessera process serves, started and stopped as a unit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Any = None
        #: Local accounts, in a store of their own (None in OIDC mode).
        self.accounts_store: Any = None
        #: What ``db`` uses: the store, isolation mode and manifests (set at start).
        self.databases: Databases | None = None
        #: The link to the cluster's Redis, when ``redis_url`` is set.
        self.cluster: Cluster | None = None
        #: The file the workers of ``serve --workers N`` share, without Redis.
        self.shared: SharedFile | None = None
        self.switches: PluginSwitches | SharedSwitches | None = None
        #: Plans and entitlements; None when no plans file is configured (all allowed).
        self.entitlements: Gate | None = None
        self.auth: Authenticator | None = None
        self.plugins = PluginRegistry(Path(settings.plugins))
        #: The event bus, WebSockets, notifications, settings, profiles and user records.
        self.services = Services.made()
        #: The worker pools of sandboxed plugins (all of them with --isolation sandbox).
        self.sandbox = Sandbox(
            settings.isolation == "sandbox",
            PoolSettings.sized(
                settings.sandbox_workers,
                settings.sandbox_memory_mb,
                settings.sandbox_total_workers,
            ),
            hidden=(Path(settings.data),),
            escalating=settings.sandbox_escalation,
            networked=settings.sandbox_network,
        )
        self.plugins.sandbox = self.sandbox
        self.plugins.on_unload(self.sandbox.unload)
        self.sandbox.import_failed = self.plugins.failed
        self.executor = Executor(Governor(settings), threads=settings.plugin_threads)
        self.metrics = Metrics()
        self.metrics.registry.register(self.sandbox)
        self.executor.add_listener(self._count_call)
        self.watchdog = (
            LoopWatchdog(settings.watchdog_threshold, self._loop_blocked)
            if settings.watchdog_threshold > 0
            else None
        )
        self._stop_watching = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        #: Seconds between the passes removing what TTL indexes expired (tests lower it).
        self.ttl_interval = ttl.INTERVAL_SECONDS
        self.ttl_monitor: ttl.TTLMonitor | None = None
        self.started = False

    def _count_call(
        self, plugin: Plugin, action: str, identity: Identity, outcome: Outcome
    ) -> None:
        self.metrics.record_call(plugin.name, outcome.status, outcome.duration)

    def _loop_blocked(self, package: str, action: str, seconds: float, collecting: float) -> None:
        name = next(
            (p.name for p in self.plugins if p.code and p.code.package.endswith("." + package)),
            package,
        )
        self.metrics.loop_blocked.labels(name).inc()
        logger.warning(describe_block(name, action, seconds, collecting))

    async def start(self) -> None:
        """Open the store, bind the plugin services, load every plugin."""
        prepare_data_folder(self.settings)
        self.store = open_client(self.settings.store)
        self.ttl_monitor = ttl.TTLMonitor(self.store, self.ttl_interval)
        self.ttl_monitor.start()
        if self.settings.redis_url:
            # Here: the redis package is needed only by a cluster.
            from tessera.cluster.link import Cluster
            from tessera.governance.cluster import ClusterGovernor

            self.cluster = Cluster(self.settings.redis_url)
            self.executor.governor = ClusterGovernor(self.settings, self.cluster)
        elif self.settings.workers > 1:
            self.shared = SharedFile(Path(self.settings.data))
            await self.shared.start()
            self.executor.governor = SharedGovernor(self.settings, self.shared)
        self.entitlements = self.services.entitlements = await build_gate(self)
        if self.settings.auth_mode == "local":
            self.accounts_store = open_client(self.settings.accounts_store)
        self.auth = build_authenticator(self.settings, self.accounts_store)
        if self.auth.accounts is not None:
            await self.auth.accounts.ensure_indexes()
            await move_accounts(self.store, self.auth.accounts)
        modes = CollectionModes(self.store[SYSTEM_DATABASE]["collection_modes"], self._confined)
        await modes.ensure_indexes()
        self.databases = Databases(
            self.store,
            default_app=self.settings.app_id,
            # Sandbox mode enforces isolation; the sandbox adds the workers.
            isolation="enforce"
            if self.settings.isolation == "sandbox"
            else self.settings.isolation,
            manifest_of=self._manifest_of,
            may_escalate=self._may_escalate,
            modes=modes,
        )
        bind_databases(self.databases)
        await start_services(self)
        self.plugin_states = PluginStates(self.store[SYSTEM_DATABASE]["plugin_states"])
        await self.plugin_states.ensure_indexes()
        self.plugins.overrides = await self.plugin_states.load()
        await self.sandbox.start()
        self.plugins.load_all()
        await self.sandbox.settle()
        if self.cluster is not None:
            from tessera.plugins.switches import PluginSwitches

            self.switches = PluginSwitches(self.cluster, self.plugins, self.plugin_states)
            self.switches.start()
        elif self.shared is not None:
            self.switches = SharedSwitches(self.shared, self.plugins, self.plugin_states)
            self.switches.start()
        if self.settings.reload:
            self._stop_watching.clear()
            self._watcher = asyncio.create_task(watch(self.plugins, self._stop_watching))
        if self.watchdog is not None:
            await self.watchdog.start()
        self.started = True

    def _manifest_of(self, name: str) -> Manifest | None:
        plugin = self.plugins.get(name)
        return plugin.manifest if plugin is not None else None

    def _may_escalate(self, name: str) -> bool:
        plugin = self.plugins.get(name)
        return plugin is not None and self.sandbox.may_escalate(name, plugin.manifest)

    def _confined(self, name: str) -> bool:
        """Whether loaded plugin ``name`` is sandboxed and not listed to escalate."""
        plugin = self.plugins.get(name)
        return plugin is not None and not self.sandbox.may_escalate(name, plugin.manifest)

    async def set_plugin_enabled(self, name: str, enabled: bool, by: str) -> None:
        """Enable or disable a plugin now and for every later start."""
        self.plugins.set_enabled(name, enabled)
        await self.plugin_states.save(name, enabled, by)
        if self.switches is not None:
            await self.switches.announce("enable" if enabled else "disable", name)

    async def reload_plugin(self, name: str) -> Plugin | None:
        """Load plugin ``name`` again from its folder, in every process of the cluster."""
        plugin = self.plugins.reload(name)
        if self.switches is not None:
            await self.switches.announce("reload", name)
        return plugin

    async def stop(self) -> None:
        """Unload plugins, unbind the services and close the store."""
        self.started = False
        if self._watcher is not None:
            self._stop_watching.set()
            await self._watcher
        if self.watchdog is not None:
            await self.watchdog.stop()
        if self.switches is not None:
            await self.switches.stop()
            self.switches = None
        for plugin in list(self.plugins):
            self.plugins.unload(plugin.name)
        await self.sandbox.stop()
        await stop_services(self.services)
        if self.databases is not None:
            unbind_databases(self.databases)
        self.executor.close()
        if self.ttl_monitor is not None:
            await self.ttl_monitor.stop()
            self.ttl_monitor = None
        if self.store is not None:
            await self.store.close()
        if self.accounts_store is not None:
            await self.accounts_store.close()
            self.accounts_store = None
        if self.cluster is not None:
            await self.cluster.close()
            self.cluster = None
        if self.shared is not None:
            await self.shared.close()
            self.shared = None
