import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import Constraints, parse_request
from retrieval import CatalogLexicon
from retrieval._parsing import brands_from_titles, canonical_spellings, parse_price, parse_rating
from retrieval.money import MAX_PLAUSIBLE_AMOUNT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$1,299.99", (1299.99, None, "USD")),
        ("1299.99", (1299.99, None, None)),
        ("$20.99 ", (20.99, None, "USD")),
        ("$299.99through-$449.99", (299.99, 449.99, "USD")),
        ("€12.50", (12.5, None, "EUR")),
        ("USD 30", (30.0, None, "USD")),
    ],
)
def test_prices_parse(raw: str, expected: tuple[float, float | None, str | None]) -> None:
    assert parse_price(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "-5", "12 apples", "$10 - $5", ""])
def test_bad_prices_are_rejected_with_the_value(raw: str) -> None:
    with pytest.raises(ValueError, match="price"):
        parse_price(raw)


@given(st.decimals(min_value=0, max_value=10_000_000, places=2))
def test_formatted_prices_round_trip(amount: object) -> None:
    value = float(amount)  # type: ignore[arg-type]
    assert parse_price(f"${value:,.2f}")[0] == pytest.approx(value)
    assert parse_price(f"{value:.2f}")[0] == pytest.approx(value)


def test_ratings() -> None:
    assert parse_rating("Rated 4.8 out of 5 stars based on 1,125 reviews.") == (4.8, 1125)
    assert parse_rating("4") == (4.0, None)
    assert parse_rating("No Reviews") == (None, None)
    with pytest.raises(ValueError, match="outside"):
        parse_rating("7.5")


def test_brands_are_learned_from_the_catalog_titles() -> None:
    titles = [
        "Apple Magic Keyboard",
        "Apple Magic Mouse",
        "Apple iPad Pro 11-inch",
        "MacBook Air 13-inch - Apple M2 chip",
        "MacBook Pro 14-inch - Apple M3 chip",
        "iPad 10.2-inch, 64GB",
        'Samsung 55" Class TV',
        "SAMSUNG Galaxy Tab S9",
        "Bowers & Wilkins Px7 S2 Headphones",
        "Skullcandy Sesh ANC Earbuds",
        "CHARGE 5 Portable Speaker",
        "My Arcade Gamestation Pro",
        "100 ft. Garden Hose",
        "Fan Light Kit",
        "Fan Blade Set",
        "Hugger 52 in. Ceiling Fan",
        "Brookhurst 52 in. Ceiling Fan",
        "Hunter Pedestal Fan",
    ]
    assert brands_from_titles(titles) == [
        "Apple",
        "Apple",
        "Apple",
        "Apple",  # its titles name Apple
        "Apple",
        "Apple",  # only Apple's titles mention iPad
        "Samsung",
        "Samsung",
        "Bowers & Wilkins",
        "Skullcandy",  # once, but no everyday word
        "",
        "",
        "",
        "",  # "Fan" opens two titles but is mostly a product word
        "",
        "",  # once, and an everyday word: not enough to call it a brand
        "Brookhurst",
        "",
    ]
    assert canonical_spellings(["SWANN", "Swann", "Swann"])["swann"] == "Swann"


# A small catalog's (title, category, brand): the parser learns categories, brands and product lines from it.
LISTINGS = [
    ('Samsung 55" Class Crystal 4K TV', "TVs", "Samsung"),
    ('LG 65" Class OLED evo 4K TV', "TVs", "LG"),
    ('Sony 50" Class Bravia 4K TV', "TVs", "Sony"),
    ("Samsung Galaxy Book3 15.6 inch Laptop", "Laptops & Notebook Computers", "Samsung"),
    ("Samsung Galaxy Book3 Pro 14 inch Laptop", "Laptops & Notebook Computers", "Samsung"),
    ("LG Gram 16 inch Laptop", "Laptops & Notebook Computers", "LG"),
    ("MSI Katana Gaming Laptop RTX 4060", "Gaming Laptops & Notebook Computers", "MSI"),
    ("MSI Raider Gaming Laptop RTX 4070", "Gaming Laptops & Notebook Computers", "MSI"),
    ("Sony WH1000XM5 Wireless Headphones", "Headphones & Earbuds", "Sony"),
    ("Bowers & Wilkins Px7 S2 Headphones", "Headphones & Earbuds", "Bowers & Wilkins"),
]
VOCABULARY = CatalogLexicon.from_listings(LISTINGS)


@pytest.mark.parametrize(
    ("text", "category", "price_min", "price_max"),
    [
        ("4k tv under 500", "TVs", None, 500),
        ("a laptop between $300 and $600", "Laptops & Notebook Computers", 300, 600),
        ("gaming laptop under 2k", "Gaming Laptops & Notebook Computers", None, 2000),
        ("earbuds around 200", "Headphones & Earbuds", 160, 240),
        ("tvs over $1,000", "TVs", 1000, None),
        ("headphones 100-250", "Headphones & Earbuds", 100, 250),
    ],
)
def test_request_constraints(text: str, category: str, price_min: float | None, price_max: float | None) -> None:
    constraints = parse_request(text, VOCABULARY).constraints
    assert constraints.category == [category]
    assert constraints.price_min == price_min
    assert constraints.price_max == price_max


def test_brand_rating_and_residual_query() -> None:
    request = parse_request("Samsung tv 4 stars and up under $800", VOCABULARY)
    assert request.constraints.brand == ["Samsung"]
    assert request.constraints.rating_min == 4
    assert request.constraints.price_max == 800
    assert request.query == "Samsung tv"


def test_4k_is_not_a_price() -> None:
    assert parse_request("4k tv", VOCABULARY).constraints.price_max is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises(text: str) -> None:
    request = parse_request(text, VOCABULARY)
    assert isinstance(request.query, str)


@settings(max_examples=20, deadline=None)
@given(
    st.sampled_from(["😀", "<script>alert(1)</script>", "'; DROP TABLE products; --", "ü", "\x00", "tv "]),
    st.integers(min_value=1, max_value=2500),
)
def test_parser_survives_huge_and_hostile_messages(fragment: str, repeat: int) -> None:
    text = (fragment * repeat)[:10_000]
    parse_request(text, VOCABULARY)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.lists(st.sampled_from(["Samsung", "LG", "Sony"]), max_size=5))
def test_parser_never_raises_with_results_on_screen(text: str, shown: list[str]) -> None:
    request = parse_request(text, VOCABULARY, shown)
    assert all(1 <= position <= max(len(shown), 5) for position in request.reference)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=99_999), st.sampled_from(["tv", "headphones", "laptop", ""]))
def test_prices_parse_the_same_however_they_are_written(amount: int, noun: str) -> None:
    for text in (f"{noun} under ${amount:,}", f"{noun} under {amount}", f"{noun} under {amount} dollars"):
        assert parse_request(text, VOCABULARY).constraints.price_max == amount, text
    low, high = amount, amount * 2
    constraints = parse_request(f"{noun} between ${low} and ${high}", VOCABULARY).constraints
    assert (constraints.price_min, constraints.price_max) == (low, high)


@pytest.mark.parametrize(
    ("text", "slots", "reference"),
    [
        ("not Samsung", {"exclude_brand": ["Samsung"]}, []),
        (
            "sony headphones, no refurbished",
            {"brand": "Sony", "category": "Headphones & Earbuds", "exclude_keywords": ["refurbished"]},
            [],
        ),
        ("cheapest first", {"sort": "price_asc"}, []),
        ("best rated tvs", {"sort": "rating_desc", "category": "TVs"}, []),
        ("65 inch tv in black", {"category": "TVs", "keywords": ["65 inch"]}, []),
        ("compare the first two", {}, [1, 2]),
        ("the last one", {}, [3]),
        ("does that LG have hdmi", {}, [2]),
        ("my budget is 800", {"price_max": 800}, []),
    ],
)
def test_dialogue_slots(text: str, slots: dict[str, object], reference: list[int]) -> None:
    request = parse_request(text, VOCABULARY, ["Samsung", "LG", "Sony"])
    assert request.constraints.as_slots() == slots
    assert request.reference == reference


def test_forget_and_relative_edits() -> None:
    assert parse_request("forget the budget", VOCABULARY).cleared == {"price_min", "price_max"}
    assert parse_request("any brand is fine", VOCABULARY).cleared == {"brand", "exclude_brand"}
    assert parse_request("anything cheaper?", VOCABULARY).relative == "cheaper"
    assert parse_request("show me more expensive ones", VOCABULARY).relative == "pricier"
    assert parse_request("cheaper than $300", VOCABULARY).relative is None


def test_the_catalog_teaches_brands_lines_and_spec_words() -> None:
    assert VOCABULARY.brand_lines["galaxy"] == "Samsung"  # only Samsung's listings say "Galaxy"
    request = parse_request("a galaxy book under 900", VOCABULARY)
    assert request.brand_hints == ["Samsung"] and request.constraints.brand == []
    assert parse_request("bowers and wilkins headphones", VOCABULARY).constraints.brand == ["Bowers & Wilkins"]
    assert "rtx" in VOCABULARY.spec_prefixes and "with" not in VOCABULARY.spec_prefixes


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("only LG or Samsung", {"brand": ["LG", "Samsung"]}),
        ("tvs but not LG or Sony", {"category": "TVs", "exclude_brand": ["LG", "Sony"]}),
        ("gaming laptop with rtx 4070", {"category": "Gaming Laptops & Notebook Computers", "keywords": ["rtx 4070"]}),
        ("laptop with at least 16GB ram", {"category": "Laptops & Notebook Computers", "keywords": ["16gb"]}),
        ("a 2 kg bag under 300", {"keywords": ["2kg"], "price_max": 300}),
        ("headphones for my tv", {"category": "Headphones & Earbuds"}),
        ("headphones or a tv", {"category": ["Headphones & Earbuds", "TVs"]}),
        ("a laptop but not gaming", {"category": "Laptops & Notebook Computers", "exclude_keywords": ["gaming"]}),
        ("a tv, not too expensive", {"category": "TVs"}),
    ],
)
def test_several_values_specs_and_purpose(text: str, slots: dict[str, object]) -> None:
    assert parse_request(text, VOCABULARY).constraints.as_slots() == slots


def test_a_list_of_positions_is_a_reference() -> None:
    assert parse_request("compare 1, 2 and 3", VOCABULARY, ["LG", "Sony", "LG", "Samsung"]).reference == [1, 2, 3]


def test_specs_must_hold_and_match_how_listings_write_them() -> None:
    from retrieval import Product

    def listing(title: str) -> Product:
        return Product(id=title, title=title, price=1.0)

    wanted = Constraints(keywords=["wifi 7", "16gb", "wireless"])
    assert wanted.specs() == ["wifi 7", "16gb"]
    assert wanted.admits(listing("Tri-Band Wi-Fi 7 Router, 16 GB"))
    assert not wanted.admits(listing("Tri-Band Wi-Fi 6E Router, 16 GB"))
    assert Constraints(keywords=["1kg"]).admits(listing("Basmati Rice 1 Kg Pouch"))


STORE_CURRENCIES = ["USD", "INR", "EUR", "GBP", "CAD", "JPY"]


@pytest.mark.parametrize(
    ("text", "price_max"),
    [
        ("rice under 200 rupees", 200),
        ("dal below ₹300", 300),
        ("tea Rs 300", 300),
        ("tea Rs. 300", 300),
        ("ghee under INR 300", 300),
        ("ghee 300 INR", 300),
        ("soap max 2k", 2000),
        ("oil under 1,500", 1500),
        ("rice under ₹1,50,000", 150_000),
        ("samsung tv 55 inch under 600", 600),
        ("tea upto 450", 450),
    ],
)
def test_rupee_budgets(text: str, price_max: float) -> None:
    rupees = CatalogLexicon.from_listings([("Basmati Rice 1 kg", "Rice", ""), ("Green Tea", "Tea", "")])
    assert parse_request(text, rupees, currency="INR").constraints.price_max == price_max


@pytest.mark.parametrize(
    ("text", "currency", "price_max"),
    [
        ("under €12", "EUR", 12),
        ("12 euros", "EUR", 12),
        ("under £5", "GBP", 5),
        ("USD 12", "USD", 12),
        ("12 dollars", "USD", 12),
        ("under 12 dollars", "INR", None),
        ("under €12", "USD", None),
        ("under £5", "INR", None),
        ("below ₹300", "USD", None),
        ("300 rupees", "EUR", None),
    ],
)
def test_a_budget_counts_only_in_the_store_currency(text: str, currency: str, price_max: float | None) -> None:
    request = parse_request(f"lamp {text}", CatalogLexicon.from_listings([]), currency=currency)
    assert request.constraints.price_max == price_max
    assert request.query == "lamp", "a price phrase never stays in the search words"


@pytest.mark.parametrize(
    "text", ["shampoo under 500 ml", "rice under 2kg", "tv under 55 inch", "over 50% off", "delivered within 2 days"]
)
def test_sizes_and_quantities_are_not_prices(text: str) -> None:
    constraints = parse_request(text, VOCABULARY).constraints
    assert (constraints.price_min, constraints.price_max) == (None, None)


_PRICE_FRAGMENTS = st.sampled_from(
    [
        "under ",
        "over ",
        "between ",
        " and ",
        "-",
        "around ",
        "$",
        "₹",
        "€",
        "Rs. ",
        "INR ",
        " rupees",
        " dollars",
        "k",
        " lakh",
        ",",
        ".",
        "e400",
        "9" * 309,
        "1" * 400,
        "0",
        "12",
        "1,500",
        "cheaper than ",
        "budget is ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PRICE_FRAGMENTS, st.text(max_size=8)), max_size=12), st.sampled_from(STORE_CURRENCIES))
def test_price_slots_are_always_finite_and_not_negative(pieces: list[str], currency: str) -> None:
    constraints = parse_request("".join(pieces), VOCABULARY, currency=currency).constraints
    for amount in (constraints.price_min, constraints.price_max):
        assert amount is None or (math.isfinite(amount) and 0 <= amount <= MAX_PLAUSIBLE_AMOUNT)
    assert all(label for _, _, label in constraints.chips())


def test_limits_read_exactly_as_applied() -> None:
    assert Constraints(price_max=49.96).phrase("price_max") == "under $49.96"
    assert Constraints(price_max=500.0).phrase("price_max") == "under $500"
    assert Constraints(price_min=1299.5, currency="INR").phrase("price_min") == "over ₹1,299.50"
    assert Constraints(price_min=10, price_max=19.99, currency="EUR").describe() == ["€10–€19.99"]
    assert Constraints(price_max=30, currency="CAD").describe() == ["under 30 CAD"]
    assert Constraints(currency="INR").is_empty() and "currency" not in Constraints(currency="INR").as_slots()
