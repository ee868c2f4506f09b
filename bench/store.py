"""Benchmark of the embedded store: the per-user workload plugins run, at 1M documents.

Run ``.venv/bin/python bench/store.py`` (``--users 100 --docs 100`` for a quick run). It
prints one table: Tessera's figures, the targets, and mongomock's figures on a smaller
collection (it scans every document) as ratios. ``--parts`` picks what runs: ``main``
(the per-user workload), ``stream`` (cursor memory), ``text`` (``$text`` over
``--text-docs`` documents, 1M by default).
"""

import argparse
import asyncio
import datetime
import gc
import itertools
import os
import random
import re
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bson.objectid import ObjectId

from tessera.store import open_client

STATUSES = ["open", "done", "archived"]
TAGS = ["red", "green", "blue", "work", "home", "urgent"]
BASE = datetime.datetime(2024, 1, 1)
SAMPLES = 300
CONCURRENT = 32


def make_docs(users: int, per_user: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Documents interleaved across users, as they would arrive."""
    rng = random.Random(seed)
    for i in range(per_user):
        for u in range(users):
            yield {
                "user_id": f"user{u:05d}",
                "created_at": BASE + datetime.timedelta(seconds=i * users + u),
                "title": f"item {i} of user {u}",
                "status": rng.choice(STATUSES),
                "tags": rng.sample(TAGS, 2),
            }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def timed(fn: Callable[[Any], Awaitable[Any]], args: list[Any]) -> list[float]:
    """Milliseconds per call of `fn(arg)`, one at a time."""
    out = []
    for arg in args:
        start = time.perf_counter()
        await fn(arg)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def paired(
    first: Callable[[Any], Awaitable[Any]], second: Callable[[Any], Awaitable[Any]], args: list[Any]
) -> tuple[float, float]:
    """Median milliseconds per call of `first(arg)` and `second(arg)`, called in turns, so
    the machine's drift in speed touches both alike."""
    a, b = [], []
    for arg in args:
        start = time.perf_counter()
        await first(arg)
        middle = time.perf_counter()
        await second(arg)
        b.append((time.perf_counter() - middle) * 1000)
        a.append((middle - start) * 1000)
    return statistics.median(a), statistics.median(b)


def timed_sync(fn: Callable[[Any], Any], args: list[Any]) -> list[float]:
    out = []
    for arg in args:
        start = time.perf_counter()
        fn(arg)
        out.append((time.perf_counter() - start) * 1000)
    return out


def peak_rss_mb() -> float:
    """Peak resident memory, counting the store file's pages the engine has memory-mapped
    (the OS page cache, shared and reclaimable: a read() would have cached them too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def anon_rss_mb() -> float:
    """Resident memory the process allocated itself, without mapped files."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"RssAnon:\s+(\d+) kB", status).group(1)) / 1024


async def run_tessera(path: str, users: int, per_user: int, batch_size: int) -> dict[str, float]:
    rng = random.Random(7)
    results: dict[str, float] = {}
    client = open_client(path)
    coll = client["bench"]["items"]
    await coll.create_index([("user_id", 1), ("created_at", -1)])
    ids: list[ObjectId] = []
    docs = make_docs(users, per_user)
    total = 0
    spent = 0.0  # time inside insert_many only, not building the documents
    cpu = 0.0  # the process's CPU time (every thread) meanwhile: steadier on a busy machine
    while batch := list(itertools.islice(docs, batch_size)):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = await coll.insert_many(batch)
        spent += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        total += len(batch)
        if len(ids) < 5000:
            ids.extend(result.inserted_ids[:50])
    results["insert docs/s"] = total / spent
    results["insert docs per CPU s"] = total / cpu
    anon = [anon_rss_mb()]

    user_ids = [f"user{rng.randrange(users):05d}" for _ in range(SAMPLES)]
    some_ids = [rng.choice(ids) for _ in range(SAMPLES)]

    async def recent(u: str) -> None:
        docs = await coll.find({"user_id": u}).sort("created_at", -1).limit(100).to_list(None)
        assert len(docs) == min(100, per_user)

    await timed(recent, user_ids[:20])  # warm the cache
    q = await timed(recent, user_ids)
    results["per-user query median ms"] = statistics.median(q)
    results["per-user query p99 ms"] = percentile(q, 0.99)
    await timed(coll.find_one, some_ids[:20])
    results["find_one _id ms"] = statistics.median(await timed(coll.find_one, some_ids))
    by_user = await timed(lambda u: coll.find_one({"user_id": u}), user_ids)
    results["find_one user_id ms"] = statistics.median(by_user)
    upd_id = await timed(
        lambda i: coll.update_one({"_id": i}, {"$set": {"status": "done"}}), some_ids
    )
    results["update_one _id ms"] = statistics.median(upd_id)
    upd_user = await timed(
        lambda u: coll.update_one({"user_id": u}, {"$set": {"status": "open"}}), user_ids
    )
    results["update_one user_id ms"] = statistics.median(upd_user)

    async def updater(worker: int) -> None:
        for k in range(40):
            target = ids[(worker * 40 + k) % len(ids)]
            await coll.update_one({"_id": target}, {"$set": {"n": k}})

    start = time.perf_counter()
    await asyncio.gather(*(updater(w) for w in range(CONCURRENT)))
    results["update_one x32 ops/s"] = CONCURRENT * 40 / (time.perf_counter() - start)
    counts = await timed(lambda u: coll.count_documents({"user_id": u}), user_ids)
    results["count_documents ms"] = statistics.median(counts)
    await scoped_point_ops(coll, ids, results)
    anon.append(anon_rss_mb())
    await client.close()

    start = time.perf_counter()
    client = open_client(path)
    await client["bench"]["items"].find_one({"_id": ids[0]})
    results["cold open s"] = time.perf_counter() - start
    await client.close()
    results["peak anonymous memory MB"] = max(anon)
    results["peak RSS MB, file mapped"] = peak_rss_mb()
    return results


async def scoped_point_ops(coll: Any, ids: list[ObjectId], results: dict[str, float]) -> None:
    """Isolation's point operations, ``{"user_id": u, "_id": i}`` (the pin first, as
    isolation sends it), each against its ``_id``-only form in turns; deletes last."""
    found = await coll.find({"_id": {"$in": ids[: 2 * SAMPLES]}}).to_list(None)
    owner = {doc["_id"]: doc["user_id"] for doc in found}
    reads = [i for i in ids[: 2 * SAMPLES] if i in owner]
    await paired(coll.find_one, coll.find_one, reads[:20])  # warm the cache
    by_id, scoped = await paired(
        lambda i: coll.find_one({"_id": i}),
        lambda i: coll.find_one({"user_id": owner[i], "_id": i}),
        reads * 5,
    )
    results["find_one _id (paired) ms"] = by_id
    results["find_one scoped ms"] = scoped
    results["find_one scoped / _id"] = scoped / by_id
    by_id, scoped = await paired(
        lambda i: coll.update_one({"_id": i}, {"$inc": {"n": 1}}),
        lambda i: coll.update_one({"user_id": owner[i], "_id": i}, {"$inc": {"n": 1}}),
        reads[:SAMPLES],
    )
    results["update_one scoped / _id"] = scoped / by_id
    pairs = list(zip(reads[0::2], reads[1::2], strict=False))
    by_id, scoped = await paired(
        lambda pair: coll.delete_one({"_id": pair[0]}),
        lambda pair: coll.delete_one({"user_id": owner[pair[1]], "_id": pair[1]}),
        pairs,
    )
    results["delete_one _id ms"] = by_id
    results["delete_one scoped / _id"] = scoped / by_id


async def stream_memory(path: str, count: int) -> dict[str, float]:
    """Growth of the process's own memory (RssAnon, peak sampled every 1,000 documents)
    while reading `count` documents of 2 KB through cursors: ``async for`` over
    ``find({})``, a sorted find read by index, and an aggregation."""
    client = open_client(path)
    coll = client["bench"]["big"]
    filler = "x" * 2000
    for start in range(0, count, 1000):
        await coll.insert_many(
            [{"_id": i, "n": i % 1000, "pad": filler} for i in range(start, start + 1000)]
        )
    await coll.create_index("n")
    gc.collect()
    base = anon_rss_mb()
    peak = base

    async def drain(cursor: Any) -> int:
        nonlocal peak
        seen = 0
        async for _ in cursor:
            seen += 1
            if seen % 1000 == 0:
                peak = max(peak, anon_rss_mb())
        return seen

    start = time.perf_counter()
    assert await drain(coll.find({})) == count
    seconds = time.perf_counter() - start
    assert await drain(coll.find({"n": {"$gte": 0}}).sort("n", 1)) == count
    assert (
        await drain(coll.aggregate([{"$match": {"n": {"$gte": 0}}}, {"$project": {"n": 1}}]))
        == count
    )
    await client.close()
    return {
        "stream 100k x 2 KB docs/s": count / seconds,
        "stream memory growth MB": peak - base,
    }


def run_mongomock(users: int, per_user: int) -> dict[str, float]:
    import mongomock

    rng = random.Random(7)
    coll = mongomock.MongoClient()["bench"]["items"]
    coll.create_index([("user_id", 1), ("created_at", -1)])
    docs = list(make_docs(users, per_user))
    start = time.perf_counter()
    for i in range(0, len(docs), 1000):
        coll.insert_many(docs[i : i + 1000])
    results = {"insert docs/s": len(docs) / (time.perf_counter() - start)}
    n = 30
    user_ids = [f"user{rng.randrange(users):05d}" for _ in range(n)]
    some_ids = [rng.choice(docs)["_id"] for _ in range(n)]
    q = timed_sync(
        lambda u: list(coll.find({"user_id": u}).sort("created_at", -1).limit(100)), user_ids
    )
    results["per-user query median ms"] = statistics.median(q)
    results["per-user query p99 ms"] = max(q)
    results["find_one _id ms"] = statistics.median(timed_sync(coll.find_one, some_ids))
    results["find_one user_id ms"] = statistics.median(
        timed_sync(lambda u: coll.find_one({"user_id": u}), user_ids)
    )
    results["update_one _id ms"] = statistics.median(
        timed_sync(lambda i: coll.update_one({"_id": i}, {"$set": {"status": "done"}}), some_ids)
    )
    results["update_one user_id ms"] = statistics.median(
        timed_sync(lambda u: coll.update_one({"user_id": u}, {"$set": {"s": 1}}), user_ids)
    )
    results["count_documents ms"] = statistics.median(
        timed_sync(lambda u: coll.count_documents({"user_id": u}), user_ids)
    )
    return results


TARGETS = {
    "text 2 terms <=100 hits median ms": ("<=", 5.0),
    "insert docs/s": (">=", 20_000),
    "per-user query median ms": ("<=", 1.0),
    "find_one _id ms": ("<=", 0.05),
    "update_one _id ms": ("<=", 0.3),
    "find_one scoped / _id": ("<=", 1.2),
    "update_one scoped / _id": ("<=", 1.2),
    "delete_one scoped / _id": ("<=", 1.2),
    "cold open s": ("<=", 0.5),
    "peak anonymous memory MB": ("<=", 200),
    "stream memory growth MB": ("<=", 64),
}
HIGHER_IS_BETTER = {
    "insert docs/s",
    "insert docs per CPU s",
    "update_one x32 ops/s",
    "stream 100k x 2 KB docs/s",
}


TEXT_COMMON = [f"{a}{b}" for a in ("tal", "mer", "dov", "kin", "sul") for b in "aeiouy"]
TEXT_RARE = 20_000  # rare words: each in --text-docs / 20,000 documents (50 at 1M)


async def text_search(path: str, count: int, users: int) -> dict[str, float]:
    """``$text`` over `count` documents of 12 words: a two-term search of rare words
    (about 100 hits at 1M documents), and a scoped search of two common words."""
    rng = random.Random(11)
    client = open_client(path)
    coll = client["bench"]["notes"]
    await coll.create_index("user_id")
    for start in range(0, count, 10_000):
        batch = [
            {
                "user_id": f"user{n % users:05d}",
                "body": " ".join([*rng.choices(TEXT_COMMON, k=11), f"rare{n % TEXT_RARE}"]),
            }
            for n in range(start, min(count, start + 10_000))
        ]
        await coll.insert_many(batch)
    began = time.perf_counter()
    await coll.create_index([("body", "text")])
    results = {"text index build s": time.perf_counter() - began}
    pairs = [f"rare{rng.randrange(TEXT_RARE)} rare{rng.randrange(TEXT_RARE)}" for _ in range(200)]

    async def rare(words: str) -> None:
        found = await coll.find(
            {"$text": {"$search": words}}, {"score": {"$meta": "textScore"}}
        ).to_list(None)
        assert 0 < len(found) <= 100, len(found)

    await timed(rare, pairs[:20])
    results["text 2 terms <=100 hits median ms"] = statistics.median(await timed(rare, pairs))

    async def scoped(user: str) -> None:
        search = {"$search": " ".join(rng.sample(TEXT_COMMON, 2))}
        await coll.find({"$text": search, "user_id": user}).limit(20).to_list(None)

    some = [f"user{rng.randrange(users):05d}" for _ in range(100)]
    results["text per-user median ms"] = statistics.median(await timed(scoped, some))
    await client.close()
    return results


def report(ours: dict[str, float], mock: dict[str, float] | None, size: str, msize: str) -> None:
    print(f"\nTessera embedded store: {size}; mongomock: {msize}\n")
    header = (
        f"{'metric':<28}{'tessera':>12}{'target':>12}{'ok':>5}{'mongomock':>12}{'x faster':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, value in ours.items():
        target = TARGETS.get(name)
        shown_target, ok = "", ""
        if target:
            op, limit = target
            shown_target = f"{op} {limit:g}"
            ok = "yes" if (value >= limit if op == ">=" else value <= limit) else "NO"
        other, ratio = "", ""
        if mock and name in mock:
            other = f"{mock[name]:.3f}" if mock[name] < 1000 else f"{mock[name]:,.0f}"
            if name in HIGHER_IS_BETTER:
                ratio = f"{value / mock[name]:.1f}"
            else:
                ratio = f"{mock[name] / value:.1f}" if value else ""
        shown = f"{value:.3f}" if value < 1000 else f"{value:,.0f}"
        print(f"{name:<28}{shown:>12}{shown_target:>12}{ok:>5}{other:>12}{ratio:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="number of users")
    parser.add_argument("--docs", type=int, default=1000, help="documents per user")
    parser.add_argument("--mongomock-users", type=int, default=100, help="users for mongomock")
    parser.add_argument("--no-mongomock", action="store_true", help="skip the mongomock run")
    parser.add_argument("--path", help="store file (default: a new temporary file)")
    # Each insert_many is one durable commit; PyMongo itself sends up to 100,000 documents
    # (48 MB) per batch, so 1,000 is the demanding case: every commit touches one index page
    # per user.
    parser.add_argument("--batch", type=int, default=1000, help="documents per insert_many")
    parser.add_argument(
        "--stream-docs", type=int, default=100_000, help="2 KB documents read by cursors (0: skip)"
    )
    parser.add_argument("--text-docs", type=int, default=1_000_000, help="documents searched")
    parser.add_argument(
        "--parts", default="main,stream,text", help="comma-separated: main, stream, text"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    folder = tempfile.mkdtemp(prefix="tessera-bench-")
    path = args.path or os.path.join(folder, "bench.db")
    streamed = {}
    if args.stream_docs and "stream" in parts:  # first, while the process is small
        stream_path = os.path.join(folder, "stream.db")
        streamed = asyncio.run(stream_memory(stream_path, args.stream_docs))
        os.remove(stream_path)
    ours = streamed
    if "main" in parts:
        ours = asyncio.run(run_tessera(path, args.users, args.docs, args.batch)) | ours
    if "text" in parts:
        text_path = os.path.join(folder, "text.db")
        ours |= asyncio.run(text_search(text_path, args.text_docs, args.users))
    main_run = "main" in parts and not args.no_mongomock
    mock = run_mongomock(args.mongomock_users, args.docs) if main_run else None
    report(
        ours,
        mock,
        f"{args.users:,} users x {args.docs:,} docs, insert_many of {args.batch:,}",
        f"{args.mongomock_users:,} users x {args.docs:,} docs",
    )
    if "main" in parts:
        print(f"\nstore file: {os.path.getsize(path) / 2**20:,.0f} MB")
    # Wall-clock figures are only comparable at a similar load; the CPU ones less so.
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if not args.path:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
