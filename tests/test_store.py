import subprocess
import sys
import threading
from pathlib import Path

import pytest

from retrieval import (
    DataDirBusyError,
    IndexMismatchError,
    LoadError,
    Product,
    SearchFilters,
    Store,
    ingest_products,
)
from retrieval._chroma_access import ChromaAccess
from tests.conftest import FIXTURE_MAPPING, FIXTURES, CountingEmbedder


def _rewrite(source: Path, target: Path, replacements: dict[str, str], drop_prefixes: tuple[str, ...] = ()) -> Path:
    lines = [line for line in source.read_text().splitlines() if not line.startswith(drop_prefixes)]
    text = "\n".join(lines) + "\n"
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    target.write_text(text)
    return target


def test_reingesting_an_unchanged_catalog_embeds_nothing(
    store: Store, embedder: CountingEmbedder, products_csv: Path
) -> None:
    first = ingest_products(store, products_csv, FIXTURE_MAPPING).report
    assert (first.added, first.embedded) == (12, 12)
    embedded_before = embedder.texts_embedded
    again = ingest_products(store, products_csv, FIXTURE_MAPPING).report
    assert (again.added, again.updated, again.unchanged, again.embedded) == (0, 0, 12, 0)
    assert embedder.texts_embedded == embedded_before


def test_changed_rows_are_re_embedded_and_served(store: Store, products_csv: Path, tmp_path: Path) -> None:
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    changed = _rewrite(products_csv, tmp_path / "v2.csv", {"$229.99": "$199.99"})
    report = ingest_products(store, changed, FIXTURE_MAPPING).report
    assert (report.updated, report.unchanged, report.embedded) == (1, 11, 1)
    hits = store.products.search("TCL 43 inch 4K TV", k=3)
    tcl = [hit.product for hit in hits if hit.product.id == "tv-3"]
    assert tcl and tcl[0].price == 199.99
    assert len({hit.product.id for hit in hits}) == len(hits), "old vector version must not show up again"


def test_snapshot_deletes_absent_rows_but_upsert_keeps_them(store: Store, products_csv: Path, tmp_path: Path) -> None:
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    smaller = _rewrite(products_csv, tmp_path / "smaller.csv", {}, drop_prefixes=("cam-",))
    assert ingest_products(store, smaller, FIXTURE_MAPPING, mode="upsert").report.deleted == 0
    assert store.products.count() == 12
    report = ingest_products(store, smaller, FIXTURE_MAPPING, mode="snapshot").report
    assert report.deleted == 2
    assert store.products.count() == 10
    assert all(not hit.product.id.startswith("cam-") for hit in store.products.search("security camera DVR", k=10))


def test_snapshot_keeps_products_whose_row_was_rejected(store: Store, products_csv: Path, tmp_path: Path) -> None:
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    broken = _rewrite(products_csv, tmp_path / "broken.csv", {"$319.99": "call us"})
    outcome = ingest_products(store, broken, FIXTURE_MAPPING, mode="snapshot")
    assert outcome.report.deleted == 0 and outcome.report.skipped == 1
    assert "cam-1" in store.products.get(["cam-1"])


def test_strict_ingest_writes_nothing(store: Store, products_csv: Path, tmp_path: Path) -> None:
    broken = _rewrite(products_csv, tmp_path / "broken.csv", {"$319.99": "call us"})
    with pytest.raises(LoadError, match=r"broken.csv:12: price"):
        ingest_products(store, broken, FIXTURE_MAPPING, strict=True)
    assert store.products.count() == 0


@pytest.mark.parametrize("failing", ["vector write", "sqlite transaction"])
def test_failed_ingest_leaves_the_previous_catalog_serving(
    store: Store, products_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    from chromadb.api.models.Collection import Collection

    ingest_products(store, products_csv, FIXTURE_MAPPING)
    changed = _rewrite(products_csv, tmp_path / "v2.csv", {"$379.99": "$279.99", "$449.99": "$399.99"})
    original = Product.lexical_text

    def fail_on_lenovo(product: Product) -> str:
        if product.id == "lp-2":  # fails inside the SQLite transaction, after vectors were written
            raise RuntimeError("disk on fire")
        return original(product)

    def fail_to_write(*args: object, **kwargs: object) -> None:  # runs on the ingest's writer thread
        raise RuntimeError("disk on fire")

    if failing == "vector write":
        monkeypatch.setattr(Collection, "upsert", fail_to_write)
    else:
        monkeypatch.setattr(Product, "lexical_text", fail_on_lenovo)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_products(store, changed, FIXTURE_MAPPING)
    monkeypatch.undo()

    assert store.products.get(["tv-1"])["tv-1"].price == 379.99
    hits = store.products.search("Samsung Crystal UHD TV", k=5)
    samsung = [hit.product for hit in hits if hit.product.id == "tv-1"]
    assert samsung and samsung[0].price == 379.99
    assert len({hit.product.id for hit in hits}) == len(hits)

    report = ingest_products(store, changed, FIXTURE_MAPPING).report
    assert report.updated == 2
    assert store.products.get(["tv-1"])["tv-1"].price == 279.99


def test_persistent_store_survives_reopening_and_refuses_another_model(
    tmp_path: Path, embedder: CountingEmbedder, products_csv: Path
) -> None:
    store = Store.persistent(tmp_path, embedder=embedder)
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    store.close()

    reopened = Store.persistent(tmp_path, embedder=embedder)
    assert reopened.products.count() == 12
    assert reopened.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    reopened.close()

    other_model = Store.persistent(tmp_path, embedder=CountingEmbedder(embedder.inner, name="another-model"))
    with pytest.raises(IndexMismatchError, match="shopassist reindex"):
        other_model.products.search("tv")
    assert other_model.products.reindex() == 12
    assert other_model.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    other_model.close()


def test_filters_hold_for_every_result(loaded_store: Store) -> None:
    cases = [
        (SearchFilters(price_max=400), lambda p: p.price <= 400),
        (SearchFilters(price_min=300, price_max=1200), lambda p: 300 <= p.price <= 1200),
        (SearchFilters(categories=("TVs",)), lambda p: p.category == "TVs"),
        (SearchFilters(brands=("Apple",)), lambda p: p.brand == "Apple"),
        (SearchFilters(exclude_brands=("Apple", "Sony")), lambda p: p.brand not in ("Apple", "Sony")),
        (SearchFilters(rating_min=4.6), lambda p: p.rating is not None and p.rating >= 4.6),
        (SearchFilters(in_stock=True), lambda p: p.in_stock),
    ]
    for filters, holds in cases:
        hits = loaded_store.products.search("good quality", filters, k=12)
        assert hits, filters
        assert all(holds(hit.product) for hit in hits), filters


def test_fusion_brings_exact_model_numbers_to_the_top(loaded_store: Store) -> None:
    for query, expected in [("SWDVK-846808MQBWF", "cam-1"), ("75U8K", "tv-4"), ("UN55CU7000", "tv-1")]:
        hits = loaded_store.products.search(query, k=3)
        assert hits[0].product.id == expected, query
        assert hits[0].lexical_rank == 1


def test_dense_retrieval_finds_meaning_without_shared_words(loaded_store: Store) -> None:
    hits = loaded_store.products.search("something to block out airplane noise", k=3)
    assert {"hp-1", "hp-2"} & {hit.product.id for hit in hits[:2]}
    assert hits[0].dense_rank is not None


def test_filter_only_search_lists_best_rated(loaded_store: Store) -> None:
    hits = loaded_store.products.search("", SearchFilters(categories=("Laptops",)), k=3)
    assert [hit.product.id for hit in hits] == ["lp-3", "lp-1", "lp-2"]


def test_faq_score_separates_answerable_from_unanswerable(loaded_store: Store) -> None:
    answered = loaded_store.faq.answer("how do I return an item I bought?")
    assert answered is not None and answered.entry.id == "returns"
    assert loaded_store.faq.answer("where's my parcel") is not None
    for question in ["what's the weather like in Paris", "who won the football game yesterday"]:
        hit = loaded_store.faq.search(question, k=1)[0]
        assert hit.score < 0.5
        assert loaded_store.faq.answer(question) is None
    good = loaded_store.faq.search("how much is shipping", k=1)[0]
    assert 0 <= hit.score < good.score <= 1


def test_empty_store_and_blank_query_return_nothing(store: Store) -> None:
    assert store.products.search("anything") == []
    assert store.faq.answer("anything") is None


@pytest.mark.parametrize(
    ("model_string", "title_fragment"),
    [
        ("SWDVK-846808MQBWF", "SWDVK-846808MQBWF"),
        ("QN85C", "QN85C Series"),
        ("WH1000XM5", "WH1000XM5"),
        ("i9-13950HX", "i9-13950HX"),
    ],
)
def test_exact_model_strings_find_their_demo_product_in_the_top_3(
    demo_store: Store, model_string: str, title_fragment: str
) -> None:
    hits = demo_store.products.search(model_string, k=3)
    assert any(title_fragment in hit.product.title for hit in hits), [hit.product.title for hit in hits]


def test_demo_tv_search_puts_tvs_under_500_first(demo_store: Store) -> None:
    from assistant import Assistant, parse_request

    request = parse_request("4k tv under 500", Assistant(demo_store).lexicon())
    hits = demo_store.products.search(request.query, request.constraints.to_filters(), k=10)
    assert len(hits) == 10
    assert all(hit.product.category == "TVs" and hit.product.price <= 500 for hit in hits)


def test_progress_reports_the_total_then_every_written_document(store: Store, products_csv: Path) -> None:
    calls: list[tuple[int, int]] = []
    ingest_products(store, products_csv, FIXTURE_MAPPING, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 12)
    assert sum(done for done, _ in calls) == 12 and {total for _, total in calls} == {12}
    calls.clear()
    ingest_products(store, products_csv, FIXTURE_MAPPING, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 0)]


def test_a_server_sees_the_catalog_another_process_ingested(tmp_path: Path, embedder: CountingEmbedder) -> None:
    """Vocabularies (brands, categories, speller) follow every ingest, also one made by another Store/process."""
    serving = Store.persistent(tmp_path, embedder=embedder)
    ingest_products(serving, FIXTURES / "products.csv", FIXTURE_MAPPING)
    assert "Dabur" not in serving.products.lexicon().brands
    before = serving.products.version()

    # Another Store on the same folder: in this process, or with a Chroma server, in another one.
    other = Store.persistent(tmp_path, embedder=embedder)
    honey = Product(id="honey-1", title="Dabur Honey 500 g", brand="Dabur", category="Honey", price=3.5)
    other.products.ingest([honey])
    other.close()

    assert serving.products.version() != before
    assert "Dabur" in serving.products.lexicon().brands
    assert serving.products.correct_spelling("dabru hony") == "dabur honey"
    serving.close()


def _hold_in_another_process(folder: Path, *, write: bool = False) -> subprocess.Popen[str]:
    """A second process that opens ``folder``'s vectors (to read, or to write) and keeps them until killed."""
    held = (
        "with lock.exclusive():\n    print('held', flush=True); time.sleep(600)"
        if write
        else ("print('held', flush=True); time.sleep(600)")
    )
    code = (
        "import time\nfrom pathlib import Path\nfrom retrieval._chroma_access import DataDirLock\n"
        f"lock = DataDirLock.of(Path({str(folder)!r}))\nlock.acquire()\n{held}"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_an_ingest_under_another_process_is_refused_and_the_catalog_keeps_serving(
    tmp_path: Path, embedder: CountingEmbedder, products_csv: Path
) -> None:
    """Embedded Chroma written by a second process breaks the first one's searches: one writer per data dir."""
    store = Store.persistent(tmp_path, embedder=embedder)
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    server = _hold_in_another_process(store.settings.chroma_path)
    try:
        honey = Product(id="honey-1", title="Dabur Honey 500 g", brand="Dabur", category="Honey", price=3.5)
        with pytest.raises(DataDirBusyError, match=r"in use by another process.*SHOPASSIST_CHROMA_URL") as refused:
            store.products.ingest([honey])
        assert str(store.settings.chroma_path) in str(refused.value)
        assert store.products.count() == 12
        assert store.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    finally:
        server.kill()
        server.wait()
    assert store.products.ingest([honey]).added == 1  # the other process is gone: its lock went with it
    store.close()


def test_a_store_cannot_open_vectors_another_process_is_writing(tmp_path: Path, embedder: CountingEmbedder) -> None:
    store = Store.persistent(tmp_path, embedder=embedder)
    writer = _hold_in_another_process(store.settings.chroma_path, write=True)
    try:
        with pytest.raises(DataDirBusyError, match="being written by another process"):
            store.products.search("tv")
    finally:
        writer.kill()
        writer.wait()
    assert store.products.search("tv") == []
    store.close()


def test_a_cold_store_opens_one_chroma_client_however_many_requests_come_first() -> None:
    opened: list[object] = []
    start = threading.Barrier(16)

    def open_client() -> object:
        opened.append(object())
        threading.Event().wait(0.05)  # long enough for every thread to ask before the first client exists
        return opened[-1]

    access = ChromaAccess(open_client)  # type: ignore[arg-type]
    clients: list[object] = []

    def first_request() -> None:
        start.wait()
        clients.append(access())

    threads = [threading.Thread(target=first_request) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 1
    assert len(clients) == 16 and all(client is opened[0] for client in clients)


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def test_an_ingest_killed_mid_way_leaves_the_previous_catalog_and_a_sound_database(
    tmp_path: Path, embedder: CountingEmbedder, products_csv: Path
) -> None:
    """kill -9 of `shopassist ingest` while it writes vectors (a synthetic 2,000-row catalog): the catalog
    before it serves, the database passes SQLite's integrity check, and the same ingest then completes."""
    import os
    import signal
    import sqlite3
    import time

    data_dir = tmp_path / "data"
    store = Store.persistent(data_dir, embedder=embedder)
    ingest_products(store, products_csv, FIXTURE_MAPPING)
    store.close()
    big = tmp_path / "big.csv"
    rows = [f"syn-{i},Synthetic garden hose {i} ft with brass fittings model GH{i:05d},Acme,Hoses,${i % 90 + 9}.99"
            for i in range(2000)]  # fmt: skip
    big.write_text("SKU,Name,Maker,Dept,Cost\n" + "\n".join(rows) + "\n")
    command = [str(Path(sys.executable).with_name("shopassist")), "--data-dir", str(data_dir), "ingest", "products"]
    command += [str(big), "--map", "id=SKU", "--map", "title=Name", "--map", "brand=Maker", "--map", "category=Dept"]
    command += ["--map", "price=Cost"]
    chroma = data_dir / "chroma"
    before = _folder_bytes(chroma)
    ingest = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while ingest.poll() is None and _folder_bytes(chroma) <= before:  # until it has written some vectors
            time.sleep(0.05)
        assert ingest.poll() is None, "the ingest finished before it could be killed mid-way"
        os.kill(ingest.pid, signal.SIGKILL)
    finally:
        ingest.wait()

    reopened = Store.persistent(data_dir, embedder=embedder)
    assert reopened.products.count() == 12
    assert reopened.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    with sqlite3.connect(reopened.settings.catalog_db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened.close()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    report = " ".join(completed.stderr.split())  # the summary goes to stderr, wrapped to the terminal's width
    assert completed.returncode == 0 and "2000 added" in report, report
    restored = Store.persistent(data_dir, embedder=embedder)
    assert restored.products.count() == 2012
    assert "syn-1234" in restored.products.get(["syn-1234"])
    assert restored.products.search("OLED65C3PUA", k=1)[0].product.id == "tv-2"
    restored.close()
