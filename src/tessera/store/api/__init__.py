"""PyMongo's async API over the embedded engine: `client`, `database`, `collection` (its
index methods in `collection_indexes`), `cursor`, the `options` the methods accept, and
the writes PyMongo's methods start over many documents (`bulk` for ``insert_many`` and
``bulk_write``, `many` for ``update_many`` and ``delete_many``). It leans on every other
room, and only `engine.ttl`'s monitor, handed a client, calls back into it;
``from tessera.store import Client, open_client`` is its way in.
"""
