"""Hostile: walks gc.get_objects(), sys.modules and every frame for a store client or the
server's services, anything that would reach data without the caller's scope."""

import gc
import sys

SUSPECT_MODULES = ("tessera.store", "tessera.services.database", "tessera.runtime", "motor")
SUSPECT_TYPES = ("Client", "Database", "Databases", "Collection", "Runtime", "Engine")


def suspicious(obj) -> bool:
    kind = type(obj)
    module = getattr(kind, "__module__", "")
    if not isinstance(module, str):  # a C type's can be a descriptor (uvloop's)
        module = ""
    if not module.startswith(("tessera", "pymongo", "motor", "sqlite3")):
        return False
    if module.startswith("tessera.sandbox.remote"):
        return False  # the proxies: they hold names, not data
    return any(kind.__name__.endswith(t) for t in SUSPECT_TYPES) or module.startswith(
        SUSPECT_MODULES
    )


async def execute(data: dict) -> dict:
    found = {f"{type(o).__module__}.{type(o).__name__}" for o in gc.get_objects() if suspicious(o)}
    # PyMongo's modules may be there (a plugin may import it); a client would be an object.
    modules = sorted(m for m in sys.modules if m.startswith(SUSPECT_MODULES))
    frame = sys._getframe()
    while frame is not None:
        found.update(
            f"frame {frame.f_code.co_name}: {name}"
            for name, value in {**frame.f_globals, **frame.f_locals}.items()
            if suspicious(value)
        )
        frame = frame.f_back
    return {"objects": sorted(found), "modules": modules, "gc_seen": len(gc.get_objects())}
