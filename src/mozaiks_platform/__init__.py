"""The contract's current generation of ``core.*``: the same objects under its new names.

``mozaiks_platform.notifications_manager`` and ``mozaiks_platform.settings_manager``
re-export the ``core`` modules of the same names.
"""
