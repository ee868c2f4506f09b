"""The services of the MozaiksCore plugin contract, as plugins import them.

Thin re-exports of Tessera's services, so ``from core.config.database import db`` works in
plugins, in tests and in an IDE.
"""
