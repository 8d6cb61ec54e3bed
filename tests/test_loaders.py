import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrieval import DEMO_PRODUCT_MAPPING, LoadError, demo_catalog_path, demo_faq_path, load_faq, load_products
from retrieval.loaders import parse_constants, parse_mapping
from tests.conftest import FIXTURE_MAPPING


def test_mapped_csv_loads_every_field(products_csv: Path) -> None:
    result = load_products(products_csv, FIXTURE_MAPPING)
    assert result.errors == []
    by_id = {product.id: product for product in result.records}
    assert len(by_id) == 12
    tv = by_id["tv-2"]
    assert (tv.title, tv.brand, tv.category, tv.price, tv.rating) == (
        "LG 65 inch OLED evo C3 4K TV OLED65C3PUA",
        "LG",
        "TVs",
        1799.99,
        4.8,
    )
    assert by_id["tv-4"].in_stock is False
    assert by_id["hp-3"].rating is None


def test_bad_rows_are_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(
        'title,price,rating\nGood TV,$100,4\nNo price TV,,4\n"Multi\nline title",abc,3\nOverrated,$5,9\n,10,\n'
    )
    result = load_products(path)
    assert [product.title for product in result.records] == ["Good TV"]
    found = {(error.line, error.field) for error in result.errors}
    assert found == {(3, "price"), (4, "price"), (6, "rating"), (7, "title")}
    assert all(error.source == str(path) for error in result.errors)
    assert "shop.csv:4: price: cannot parse 'abc' as a price" in str(result.errors[1])


def test_strict_mode_raises_with_every_row_error(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("title,price\nA,1\nB,x\nC,\n")
    with pytest.raises(LoadError) as raised:
        load_products(path).raise_if_errors(path)
    assert len(raised.value.row_errors) == 2
    assert "shop.csv:3: price" in str(raised.value)


def test_jsonl_and_parquet_with_mapping(tmp_path: Path) -> None:
    rows = [
        {"sku": "a", "name": "Alpha speaker", "cost": 10.5, "extra": {"color": "red"}},
        {"sku": "b", "name": "Beta speaker", "cost": "$1,000"},
    ]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in rows) + "\nnot json\n")
    mapping = {"id": "sku", "title": "name", "price": "cost", "attributes": "extra"}
    result = load_products(jsonl, mapping)
    assert [(p.id, p.price) for p in result.records] == [("a", 10.5), ("b", 1000.0)]
    assert result.records[0].attributes == {"color": "red"}
    assert [(error.line, error.field) for error in result.errors] == [(3, "row")]

    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist([{"sku": "a", "name": "Alpha", "cost": 3.0}]), parquet)
    assert load_products(parquet, {"id": "sku", "title": "name", "price": "cost"}).records[0].price == 3.0


def test_duplicate_explicit_ids_are_errors_and_derived_ids_are_numbered(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit.csv"
    explicit.write_text("id,title,price\nx,A,1\nx,B,2\n")
    result = load_products(explicit)
    assert [error.field for error in result.errors] == ["id"]
    assert "first on line 2" in result.errors[0].message

    derived = tmp_path / "derived.csv"
    derived.write_text("title,price\nSame,1\nSame,2\n")
    first, second = load_products(derived).records
    assert second.id == f"{first.id}-2"
    assert load_products(derived).records[0].id == first.id  # stable across loads


def test_mapping_syntax_errors() -> None:
    assert parse_mapping(["title=Name", "attributes.color=Colour"]) == {"title": "Name", "attributes.color": "Colour"}
    with pytest.raises(LoadError, match="unknown field 'colour'"):
        parse_mapping(["colour=Colour"])
    with pytest.raises(LoadError, match="field=Column"):
        parse_mapping(["title"])


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        load_products(tmp_path / "nope.csv")
    with pytest.raises(LoadError, match="pass --format"):
        load_products(tmp_path / "catalog.xlsx")


def test_demo_catalog_and_faq() -> None:
    catalog = load_products(demo_catalog_path(), DEMO_PRODUCT_MAPPING)
    assert len(catalog.records) == 642
    assert [(error.line, error.field) for error in catalog.errors] == [(211, "price")]
    brands = {product.brand for product in catalog.records}
    # Learned from the titles (no brand column): see docs/understanding.md.
    assert {"Samsung", "Swann", "Bowers & Wilkins", "Skullcandy"} <= brands and "SWANN" not in brands
    assert not {"My", "CHARGE", "100", "Bowers"} & brands
    faq = load_faq(demo_faq_path())
    assert faq.errors == [] and len(faq.records) >= 40
    tags = {tag for entry in faq.records for tag in entry.tags}
    assert {"shipping", "returns", "warranty", "payment", "price match", "pickup", "privacy", "gift cards"} <= tags


def test_faq_entries_are_validated_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text("- id: a\n  question: Q?\n  answer: A.\n- id: b\n  question: Missing answer\n")
    result = load_faq(path)
    assert [entry.id for entry in result.records] == ["a"]
    assert [(error.line, error.field) for error in result.errors] == [(4, "answer")]


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_a_mapping_to_a_missing_column_names_it_and_lists_the_columns(tmp_path: Path, file_format: str) -> None:
    rows = [{"sku": "a", "name": "Alpha lamp", "cost": 10.0}]
    path = tmp_path / f"shop.{file_format}"
    if file_format == "csv":
        path.write_text("sku,name,cost\na,Alpha lamp,10\n")
    elif file_format == "jsonl":
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(LoadError, match=r"brand=Maker .*'?columns are: sku, name, cost") as raised:
        load_products(path, {"id": "sku", "title": "name", "price": "cost", "brand": "Maker"})
    assert str(path) in str(raised.value)
    assert load_products(path, {"id": "sku", "title": "name", "price": "cost"}).records[0].price == 10.0


def test_a_constant_gives_every_product_one_value(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("title,price\nBasmati rice 1 kg,120\nGhee 500 ml,Rs. 310\nTea,₹99\n")
    result = load_products(path, constants={"currency": "INR", "category": "Grocery"})
    assert result.errors == []
    assert {(p.price, p.currency, p.category) for p in result.records} == {
        (120.0, "INR", "Grocery"),
        (310.0, "INR", "Grocery"),
        (99.0, "INR", "Grocery"),
    }
    # A price whose own sign contradicts the file's currency is an error for that row, never a silent pick.
    path.write_text("title,price\nRice,120\nImported tea,$5\n")
    mixed = load_products(path, constants={"currency": "INR"})
    assert [p.title for p in mixed.records] == ["Rice"]
    assert [(e.line, e.field) for e in mixed.errors] == [(3, "price")]
    assert "USD" in mixed.errors[0].message and "INR" in mixed.errors[0].message
    # "$" in a Canadian catalog means Canadian dollars.
    path.write_text("title,price\nMaple syrup,$12\n")
    assert load_products(path, constants={"currency": "CAD"}).records[0].currency == "CAD"


def test_bad_constants_fail_the_load_before_any_row(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("title,price,currency\nLamp,10,USD\n")
    with pytest.raises(LoadError, match="in_stock=maybe: cannot read 'maybe' as yes/no"):
        load_products(path, constants={"in_stock": "maybe", "brand": "Acme"})
    with pytest.raises(LoadError, match="its own 'currency' column"):
        load_products(path, constants={"currency": "EUR"})
    with pytest.raises(LoadError, match="both mapped"):
        load_products(path, {"brand": "title"}, constants={"brand": "Acme"})
    no_currency = tmp_path / "plain.csv"
    no_currency.write_text("title,price\nLamp,10\n")
    with pytest.raises(LoadError, match="currency=XYZ: unknown currency 'XYZ'"):
        load_products(no_currency, constants={"currency": "XYZ"})
    with pytest.raises(LoadError, match="cannot be one value"):
        parse_constants(["id=1"])
    assert parse_constants(["currency=INR", "attributes.origin=India"]) == {
        "currency": "INR",
        "attributes.origin": "India",
    }


def test_a_catalog_without_prices_loads_with_prices_not_listed(tmp_path: Path) -> None:
    path = tmp_path / "hardware.csv"
    path.write_text(
        "product_uid,title,description\n"
        "9001,Galvanised deck screws 2 in. (1 lb),Corrosion resistant\n"
        "9002,Cordless drill 18 V,\n"
    )
    result = load_products(path, {"id": "product_uid"})
    assert result.errors == []
    assert [(p.id, p.price) for p in result.records] == [("9001", None), ("9002", None)]
    assert "price" not in result.records[0].vector_metadata()
    # With a price column, a missing or unreadable price is still the row's error.
    priced = tmp_path / "priced.csv"
    priced.write_text("title,price\nA,\nB,about ten\nC,1" + "0" * 400 + "\n")
    assert [(e.line, e.field) for e in load_products(priced).errors] == [(2, "price"), (3, "price"), (4, "price")]


@pytest.mark.skipif(not (SHARED_DATA / "homedepot").is_dir(), reason="evaluation data not present")
def test_home_depot_products_load_without_prices() -> None:
    result = load_products(SHARED_DATA / "homedepot" / "products.csv", {"id": "product_uid"})
    assert result.errors == []
    assert len(result.records) > 50_000 and all(product.price is None for product in result.records)


@pytest.mark.skipif(not (SHARED_DATA / "bigbasket").is_dir(), reason="evaluation data not present")
def test_bigbasket_loads_in_rupees_with_a_currency_constant() -> None:
    path = SHARED_DATA / "bigbasket" / "products.csv"
    mapping = {"id": "product_id", "price": "sale_price", "attributes.sub_category": "sub_category"}
    with pytest.raises(LoadError, match="currency=INR names a column"):
        load_products(path, {**mapping, "currency": "INR"})
    result = load_products(path, mapping, constants={"currency": "INR"})
    assert result.errors == []
    assert len(result.records) > 6000 and {product.currency for product in result.records} == {"INR"}
