"""Configuration modules of the plugin contract."""
