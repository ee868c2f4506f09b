"""Aggregation stages kept in their own modules; `aggregate` registers them."""
