"""The contract's current generation of ``core.*``: the same objects under its new names.

``mozaiks_platform.notifications_manager``, ``mozaiks_platform.settings_manager`` and
``mozaiks_platform.entitlements``
re-export the ``core`` modules of the same names.
"""
