import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import CatalogSpeller, Product, Settings, Store, ingest_products
from tests.conftest import FIXTURE_MAPPING, CountingEmbedder

CATALOG = [
    "Sioux Chief 1/2 in. PVC Conduit Sch 40",
    "PVC conduit elbow",
    "Werner 16 ft. Aluminum Extension Ladder",
    "Frigidaire 10,000 BTU Window Air Conditioner",
    "Window air conditioner cover",
    "Lodge 12 in. Cast Iron Skillet",
    "Swann 8 Camera DVR Security System SWDVK-846808MQBWF",
    "Moen faucet with soap dispenser",
]
SPELLER = CatalogSpeller.from_texts(CATALOG)


def test_misspelt_words_become_the_catalog_word_one_or_two_edits_away() -> None:
    assert SPELLER.correct("1/2 condiut") == "1/2 conduit"
    assert SPELLER.correct("aluminuim ladder") == "aluminum ladder"  # two edits
    assert SPELLER.correct("12 in skilets") == "12 in skillet"  # via the singular, one edit


def test_swapped_letters_are_one_edit() -> None:
    speller = CatalogSpeller.from_texts(["Garden hose 50 ft", "Cordless drill 18V", "Hose reel"])
    assert speller.correct("hsoe reel") == "hose reel"
    assert speller.correct("cordless dirll") == "cordless drill"


def test_a_rarer_word_one_edit_away_wins_over_commoner_words_two_edits_away() -> None:
    """ "hsoe" and "home" share "hoe" after one deletion each; "home" is commoner, but two edits from "hsoe"."""
    speller = CatalogSpeller.from_texts(["Home Decorators house number", "Home and house decor"] * 5 + ["Garden hose"])
    assert speller.correct("50 ft garden hsoe") == "50 ft garden hose"


def test_everyday_english_words_are_never_turned_into_catalog_words() -> None:
    speller = CatalogSpeller.from_texts(["Cooking pot", "Cooking oil 1 l"])
    assert speller.correct("looking for a cookng pot") == "looking for a cooking pot"


def test_the_slot_speller_also_knows_the_grammar_words() -> None:
    from assistant import SlotSpeller

    speller = SlotSpeller(CatalogSpeller.from_texts(["Samsung 55 inch TV", "LG OLED TV"]))
    assert speller.correct("chepa samsng tv 55 inch undr 600") == "cheap samsung tv 55 inch under 600"


def test_glued_words_are_split_into_two_catalog_words() -> None:
    assert SPELLER.correct("10000 btu windowair conditioner") == "10000 btu window air conditioner"


def test_catalog_words_plurals_short_words_and_model_codes_are_kept() -> None:
    for query in ("pvc conduits", "faucets", "tap", "SWDVK-846808MQBWG", "x9000 dvrs", "Moen faucet"):
        assert SPELLER.correct(query) == query


def test_words_far_from_every_catalog_word_are_kept() -> None:
    assert SPELLER.correct("kayak paddle") == "kayak paddle"


def test_an_empty_catalog_changes_nothing() -> None:
    assert CatalogSpeller.from_texts([]).correct("condiut") == "condiut"


@given(st.text(alphabet=st.sampled_from("aceilnorstuw dx-19"), max_size=40))
@settings(max_examples=300, deadline=None)
def test_corrections_only_lead_to_catalog_words_and_are_stable(query: str) -> None:
    corrected = SPELLER.correct(query)
    assert SPELLER.correct(corrected) == corrected
    vocabulary = {word for text in CATALOG for word in re.findall(r"[a-z]+", text.lower())}
    introduced = set(re.findall(r"[a-z]+", corrected.lower())) - set(re.findall(r"[a-z]+", query.lower()))
    assert introduced <= vocabulary


def test_search_corrects_towards_the_ingested_catalog_and_can_be_turned_off(
    embedder: CountingEmbedder, products_csv: Path
) -> None:
    for correcting in (True, False):
        store = Store.ephemeral(settings=Settings(spelling_correction=correcting), embedder=embedder)
        try:
            ingest_products(store, products_csv, FIXTURE_MAPPING)
            assert store.products.correct_spelling("hedphones") == ("headphones" if correcting else "hedphones")
            hits = store.products.search("hedphones", k=5)
            lexical = [hit.product.id for hit in hits if hit.lexical_rank is not None]
            assert bool(lexical) == correcting
            if correcting:
                assert {"hp-1", "hp-2"} <= set(lexical)
        finally:
            store.close()


def test_the_vocabulary_follows_each_ingest(store: Store) -> None:
    store.products.ingest([Product(id="a", title="Garden hose reel", price=10.0)])
    assert store.products.correct_spelling("sprinkeler") == "sprinkeler"
    store.products.ingest([Product(id="b", title="Oscillating sprinkler", price=20.0)])
    assert store.products.correct_spelling("sprinkeler") == "sprinkler"
