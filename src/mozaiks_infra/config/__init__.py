"""Configuration modules of the plugin contract (current generation)."""
