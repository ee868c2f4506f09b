"""The contract's current generation of ``core.*``: the same objects under its new names.

``mozaiks_infra.config.database``, ``mozaiks_infra.event_bus`` and
``mozaiks_infra.websocket_manager`` re-export the ``core`` modules of the same names.
"""
