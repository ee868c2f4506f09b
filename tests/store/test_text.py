"""Text indexes and ``$text`` search, with the MongoDB manual's examples (these run on
MongoDB too when ``TESSERA_TEST_MONGODB_URI`` is set)."""

import asyncio

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure

from tessera.store import open_client
from tessera.store.engine import fts, slices

ARTICLES = [
    {"_id": 1, "subject": "coffee", "author": "xyz", "views": 50},
    {"_id": 2, "subject": "Coffee Shopping", "author": "efg", "views": 5},
    {"_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90},
    {"_id": 4, "subject": "baking", "author": "xyz", "views": 100},
    {"_id": 5, "subject": "Café Con Leche", "author": "abc", "views": 200},
    {"_id": 6, "subject": "Сырники", "author": "jkl", "views": 80},
    {"_id": 7, "subject": "coffee and cream", "author": "efg", "views": 10},
    {"_id": 8, "subject": "Cafe con Leche", "author": "xyz", "views": 10},
]


@pytest.fixture
async def articles(db):
    await db.articles.insert_many([dict(doc) for doc in ARTICLES])
    await db.articles.create_index([("subject", "text")])
    return db.articles


async def ids(coll, search, **options):
    found = await coll.find({"$text": {"$search": search, **options}}).to_list(None)
    return sorted(doc["_id"] for doc in found)


async def test_words_are_ored_stemmed_and_folded(articles):
    assert await ids(articles, "coffee") == [1, 2, 7]
    assert await ids(articles, "bake coffee cake") == [1, 2, 3, 4, 7]
    assert await ids(articles, "CAFÉ") == [5, 8]  # case and diacritics ignored
    assert await ids(articles, "shops") == [2]  # "Shopping" and "shops" share a stem


async def test_words_split_at_punctuation_but_not_underscores(db):
    await db.code.insert_one({"_id": 1, "body": "rename my_var; see issue-22 (v3.14)"})
    await db.code.create_index([("body", "text")])
    assert await ids(db.code, "my_var") == [1]
    assert await ids(db.code, "var") == []
    assert await ids(db.code, "issue 14") == [1]


async def test_english_words_keep_their_apostrophes(db):
    """In English an apostrophe is part of the word: "coffee's" stems to coffee's stem,
    "don't" is a stop word, and "o'neil" is one word."""
    await db.quotes.insert_many(
        [{"_id": 1, "body": "the coffee's aroma"}, {"_id": 2, "body": "ask O'Neil, don't wait"}]
    )
    await db.quotes.create_index([("body", "text")])
    assert await ids(db.quotes, "coffee") == [1]
    assert await ids(db.quotes, "o'neil") == [2]
    assert await ids(db.quotes, "neil") == []
    assert await ids(db.quotes, "don't") == []
    found = db.quotes.find({"$text": {"$search": "aroma"}}, {"s": {"$meta": "textScore"}})
    assert [d["s"] for d in await found.to_list(None)] == [pytest.approx(0.75)]


async def test_stop_words_match_nothing(articles):
    assert await ids(articles, "a and the") == []
    assert await ids(articles, "a cake") == [3]


async def test_phrases_must_all_appear_and_negations_exclude(articles):
    assert await ids(articles, '"coffee shop"') == [2]
    assert await ids(articles, 'coffee "con leche"') == [5, 8]
    assert await ids(articles, '"cafe" "leche"') == [5, 8]
    assert await ids(articles, "coffee -shop") == [1, 7]
    assert await ids(articles, 'coffee -"coffee shopping"') == [1, 7]
    assert await ids(articles, 'leche -"café con"') == []  # no diacritics: both hold it
    assert await ids(articles, "-coffee") == []  # only negations: nothing matches


async def test_case_and_diacritic_sensitive_searches(articles):
    assert await ids(articles, "Coffee", **{"$caseSensitive": True}) == [2]
    assert await ids(articles, "CAFÉ", **{"$diacriticSensitive": True}) == [5]
    assert await ids(articles, '"Café Con"', **{"$caseSensitive": True}) == [5]
    # A sensitive negation excludes the word as written only.
    assert await ids(articles, "Coffee -shopping", **{"$caseSensitive": True}) == [2]
    assert await ids(articles, "Coffee -shopping") == [1, 7]
    assert await ids(articles, "leche -café", **{"$diacriticSensitive": True}) == [8]


async def test_text_combines_with_other_conditions(articles):
    found = articles.find({"$text": {"$search": "coffee cake"}, "author": {"$in": ["abc", "efg"]}})
    assert sorted(d["_id"] for d in await found.to_list(None)) == [2, 3, 7]
    assert (
        await articles.count_documents({"$text": {"$search": "coffee"}, "views": {"$gt": 8}}) == 2
    )
    in_and = {"$and": [{"views": {"$gt": 8}}, {"$text": {"$search": "coffee"}, "author": "xyz"}]}
    assert [d["_id"] for d in await articles.find(in_and).to_list(None)] == [1]
    pipeline = [{"$match": {"$text": {"$search": "coffee"}}}, {"$match": {"views": {"$lt": 20}}}]
    assert sorted(d["_id"] for d in await articles.aggregate(pipeline).to_list(None)) == [2, 7]


async def test_text_score_in_projection_and_sort(articles):
    """MongoDB's formula: "cake" is one of the two terms of "Baking a cake": 0.75."""
    projection = {"subject": 1, "score": {"$meta": "textScore"}}
    found = await articles.find({"$text": {"$search": "cake"}}, projection).to_list(None)
    assert found == [{"_id": 3, "subject": "Baking a cake", "score": pytest.approx(0.75)}]
    ranked = articles.find({"$text": {"$search": "coffee cake"}}, {"score": {"$meta": "textScore"}})
    ranked = ranked.sort([("score", {"$meta": "textScore"}), ("_id", 1)])
    rows = [(d["_id"], d["score"]) for d in await ranked.to_list(None)]
    assert [i for i, _ in rows] == [1, 2, 3, 7]
    assert rows[0][1] == pytest.approx(1.0)
    assert [s for _, s in rows[1:]] == pytest.approx([0.75, 0.75, 0.75])


async def test_text_score_in_an_aggregation(articles):
    pipeline = [
        {"$match": {"$text": {"$search": "coffee"}}},
        {"$sort": {"score": {"$meta": "textScore"}, "_id": 1}},
        {"$project": {"_id": 1, "score": {"$meta": "textScore"}}},
    ]
    found = await articles.aggregate(pipeline).to_list(None)
    assert [d["_id"] for d in found] == [1, 2, 7]
    assert [d["score"] for d in found] == pytest.approx([1.0, 0.75, 0.75])


async def test_weights_rank_fields(db):
    await db.blog.insert_many(
        [
            {"_id": 1, "title": "gardening", "body": "notes on roses"},
            {"_id": 2, "title": "roses", "body": "notes on gardening"},
        ]
    )
    await db.blog.create_index(
        [("title", "text"), ("body", "text")], weights={"title": 10}, name="search"
    )
    found = db.blog.find({"$text": {"$search": "roses"}}, {"s": {"$meta": "textScore"}})
    found = await found.sort([("s", {"$meta": "textScore"})]).to_list(None)
    assert [d["_id"] for d in found] == [2, 1]
    assert found[0]["s"] > 5 * found[1]["s"]


async def test_the_index_is_listed_as_mongodb_shows_it_and_dropped(db):
    await db.notes.insert_one({"_id": 1, "body": "stemming words"})
    name = await db.notes.create_index([("body", "text")], default_language="none")
    assert name == "body_text"
    info = (await db.notes.index_information())["body_text"]
    assert info["key"] == [("_fts", "text"), ("_ftsx", 1)]
    assert info["weights"] == {"body": 1}
    assert info["default_language"] == "none"
    assert info["language_override"] == "language"
    assert info["textIndexVersion"] == 3
    # Language "none": no stemming, no stop words.
    assert await ids(db.notes, "stemming") == [1]
    assert await ids(db.notes, "stem") == []
    await db.notes.drop_index([("body", "text")])  # by the keys it was made with
    assert "body_text" not in await db.notes.index_information()
    with pytest.raises(OperationFailure) as missing:
        await db.notes.find({"$text": {"$search": "words"}}).to_list(None)
    assert missing.value.code == 27


async def test_one_text_index_per_collection(articles):
    with pytest.raises(OperationFailure) as second:
        await articles.create_index([("author", "text")])
    assert second.value.code == 85
    # The same index again is no change.
    assert await articles.create_index([("subject", "text")]) == "subject_text"


async def test_text_without_a_text_index_is_index_not_found(db):
    await db.plain.insert_one({"_id": 1, "a": "coffee"})
    for coll in (db.plain, db.missing):
        with pytest.raises(OperationFailure) as failed:
            await coll.find({"$text": {"$search": "coffee"}}).to_list(None)
        assert failed.value.code == 27


@pytest.mark.parametrize(
    "filter",
    [
        {"a": {"$elemMatch": {"$text": {"$search": "x"}}}},
        {"$nor": [{"$text": {"$search": "x"}}]},
        {"$and": [{"$text": {"$search": "x"}}, {"$text": {"$search": "y"}}]},
        {"$text": {"$search": 1}},
        {"$text": {"$search": "x", "$caseSensitive": "yes"}},
    ],
)
async def test_misplaced_or_malformed_text_is_refused(articles, filter):
    with pytest.raises(OperationFailure):
        await articles.find(filter).to_list(None)


async def test_text_under_or_is_refused_with_no_query_plan(articles):
    # MongoDB answers it only when every other clause of the $or has an index: never here.
    await articles.create_index("author")
    with pytest.raises(OperationFailure) as refused:
        await articles.find({"$or": [{"$text": {"$search": "x"}}, {"views": 1}]}).to_list(None)
    assert refused.value.code == 291


async def test_text_in_a_later_match_stage_is_refused(articles):
    pipeline = [{"$match": {"views": 1}}, {"$match": {"$text": {"$search": "coffee"}}}]
    with pytest.raises(OperationFailure) as refused:
        await articles.aggregate(pipeline).to_list(None)
    assert refused.value.code == 17313


async def test_a_text_score_without_a_text_search_is_refused(articles):
    with pytest.raises(OperationFailure) as refused:
        await articles.find({}, {"score": {"$meta": "textScore"}}).to_list(None)
    assert refused.value.code == 40218


async def test_the_index_follows_writes(articles):
    await articles.update_one({"_id": 1}, {"$set": {"subject": "green tea"}})
    await articles.replace_one({"_id": 4}, {"subject": "tea cake"})
    await articles.delete_one({"_id": 7})
    await articles.insert_one({"_id": 9, "subject": ["iced coffee", "tea"]})
    assert await ids(articles, "coffee") == [2, 9]
    assert await ids(articles, "tea") == [1, 4, 9]
    assert await ids(articles, "baking") == [3]
    await articles.delete_many({"subject": {"$exists": True}})
    assert await ids(articles, "tea coffee cake") == []


async def test_a_failed_write_leaves_the_index_as_it_was(articles):
    with pytest.raises(OperationFailure):
        await articles.insert_many([{"_id": 10, "subject": "espresso"}, {"_id": 1, "subject": "x"}])
    assert await ids(articles, "espresso") == [10]  # the ordered insert stopped at _id 1
    with pytest.raises(OperationFailure):
        await articles.update_one({"_id": 10}, {"$set": {"subject": "latte", "_id": 11}})
    assert await ids(articles, "espresso") == [10]
    assert await ids(articles, "latte") == []


async def test_the_index_survives_a_restart(tmp_path):
    path = str(tmp_path / "store.db")
    client = open_client(path)
    await client.t.notes.insert_one({"_id": 1, "body": "persistent search"})
    await client.t.notes.create_index([("body", "text")], weights={"body": 3})
    await client.close()
    client = open_client(path)
    try:
        notes = client.t.notes
        assert (await notes.index_information())["body_text"]["weights"] == {"body": 3}
        found = await notes.find(
            {"$text": {"$search": "searching"}}, {"s": {"$meta": "textScore"}}
        ).to_list(None)
        assert found == [{"_id": 1, "body": "persistent search", "s": pytest.approx(3 * 0.75)}]
        await notes.insert_one({"_id": 2, "body": "more search"})
        assert await ids(notes, "search") == [1, 2]
    finally:
        await client.close()


async def test_an_unsupported_language_is_refused_loudly(embedded_db):
    with pytest.raises(OperationFailure) as refused:
        await embedded_db.notes.create_index([("body", "text")], default_language="klingon")
    assert refused.value.code == 67
    await embedded_db.notes.create_index([("body", "text")])
    with pytest.raises(OperationFailure) as refused:
        await embedded_db.notes.insert_one({"body": "hola", "language": "klingon"})
    assert refused.value.code == 17262


@pytest.mark.parametrize("within_rows", [0, 5000])
async def test_other_conditions_narrow_the_search_either_way(embedded_db, monkeypatch, within_rows):
    """Past `fts.WITHIN_ROWS` rows of the other conditions, FTS5 answers and they filter:
    the same documents and scores."""
    monkeypatch.setattr(fts, "WITHIN_ROWS", within_rows)
    coll = embedded_db.articles
    await coll.insert_many([dict(doc) for doc in ARTICLES])
    await coll.create_index("author")
    await coll.create_index([("subject", "text")])
    search = {"$text": {"$search": "coffee cake -cream"}, "author": {"$in": ["abc", "efg"]}}
    found = await coll.find(search, {"s": {"$meta": "textScore"}}).to_list(None)
    assert [(d["_id"], d["s"]) for d in found] == [(2, 0.75), (3, 0.75)]


async def test_a_sliced_update_many_rechecks_text_on_each_document(embedded_db, monkeypatch):
    """Slices after the first read each document again: $text is then decided from the
    document's own words, so one changed meanwhile is left alone."""
    monkeypatch.setattr(slices, "SLICE_SECONDS", 0)
    coll = embedded_db.articles
    await coll.insert_many([dict(doc) for doc in ARTICLES])
    await coll.create_index([("subject", "text")])
    result = await coll.update_many({"$text": {"$search": "coffee -cream"}}, {"$set": {"hit": 1}})
    assert result.modified_count == 2
    assert sorted(d["_id"] for d in await coll.find({"hit": 1}).to_list(None)) == [1, 2]
    deleted = await coll.delete_many({"$text": {"$search": "leche"}, "views": {"$gt": 100}})
    assert deleted.deleted_count == 1
    assert await ids(coll, "leche") == [8]


async def test_a_text_cursor_streams_in_batches(db):
    """Unsorted, a text search is read a batch at a time in row order, each batch past
    the last: every match once, whatever the batch size."""
    await db.posts.insert_many(
        [{"_id": n, "body": "tea" if n % 3 else "coffee tea"} for n in range(250)]
    )
    await db.posts.create_index([("body", "text")])
    cursor = db.posts.find({"$text": {"$search": "coffee"}}, {"s": {"$meta": "textScore"}})
    found = [doc async for doc in cursor.batch_size(7)]
    assert sorted(d["_id"] for d in found) == list(range(0, 250, 3))
    assert all(d["s"] == pytest.approx(0.75) for d in found)
    skipped = db.posts.find({"$text": {"$search": "coffee"}}).skip(5).limit(30).batch_size(4)
    assert len([doc async for doc in skipped]) == 30


async def test_dropping_the_text_index_kills_an_open_cursor(embedded_db):
    await embedded_db.posts.insert_many([{"_id": n, "body": "coffee"} for n in range(50)])
    await embedded_db.posts.create_index([("body", "text")])
    cursor = embedded_db.posts.find({"$text": {"$search": "coffee"}}).batch_size(10)
    assert (await cursor.next())["_id"] == 0
    await embedded_db.posts.drop_index("body_text")
    with pytest.raises(OperationFailure) as killed:
        await cursor.to_list(None)
    assert killed.value.code == 175


async def test_a_write_refused_after_reindexing_rolls_the_index_back(db):
    """A duplicate key found after the text entries changed: the write's rollback takes
    them back too, among other writes committed together."""
    await db.pages.create_index("slug", unique=True)
    await db.pages.create_index([("body", "text")])
    await db.pages.insert_many([{"_id": 1, "slug": "a", "body": "old"}, {"_id": 2, "slug": "b"}])
    results = await asyncio.gather(
        db.pages.update_one({"_id": 1}, {"$set": {"body": "fresh words", "slug": "b"}}),
        db.pages.insert_one({"_id": 3, "slug": "c", "body": "fresh start"}),
        return_exceptions=True,
    )
    assert isinstance(results[0], DuplicateKeyError)
    assert await ids(db.pages, "fresh") == [3]
    assert await ids(db.pages, "old") == [1]


async def test_counting_matches(articles):
    async def count(search, **more):
        return await articles.count_documents({"$text": {"$search": search}, **more})

    assert await count("coffee cake") == 4  # from the index alone
    assert await count("coffee -shop") == 2
    assert await count('"con leche"') == 2  # phrases checked on the documents
    assert await count("coffee", author="efg") == 2
    assert await count("the") == 0
    assert await articles.count_documents({"$text": {"$search": "coffee"}}, skip=1, limit=1) == 1
