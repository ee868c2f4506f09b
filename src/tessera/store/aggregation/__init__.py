"""Aggregation pipelines over plain Python documents: `aggregate` runs the stages, `pipeline`
holds what the stages share, `group` folds ``$group`` and ``$bucket``, `stages/` keeps the
larger stages and `expressions/` the expression language (which filters' ``$expr`` and
update pipelines use too). It leans on `query` (``$match``, ``$sort``, regular
expressions), `values` and `bounds`, and knows nothing of SQLite: ``$lookup`` and
``$unionWith`` read other collections through the callable their caller passes in.
"""
