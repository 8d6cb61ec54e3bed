"""Read products and FAQ entries from CSV, JSONL, Parquet (and YAML for FAQ) with a column mapping.

Bad rows never abort a load silently: each becomes a :class:`RowError` naming file, line and field.
Callers decide (``strict``) whether one bad row fails the whole load.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from retrieval._parsing import brand_from_title, canonical_spellings, parse_price, parse_rating
from retrieval.errors import LoadError, RowError
from retrieval.models import FaqEntry, Product
from retrieval.money import currency_code

FileFormat = Literal["csv", "jsonl", "parquet", "yaml", "json"]
_SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}
PRODUCT_FIELDS = tuple(Product.model_fields)
_TRUE = {"true", "yes", "y", "1", "in stock", "available"}
_FALSE = {"false", "no", "n", "0", "out of stock", "unavailable", "sold out"}


@dataclass
class LoadResult:
    """Valid records plus every rejected row, and the ids of rejected rows where they could be read."""

    records: list[Any]
    errors: list[RowError] = field(default_factory=list)
    rejected_ids: set[str] = field(default_factory=set)

    def raise_if_errors(self, source: Path) -> None:
        if self.errors:
            raise LoadError(f"{source}: {len(self.errors)} bad row(s), nothing was loaded (strict mode)", self.errors)


def _field_pairs(pairs: list[str], kind: str, form: str) -> dict[str, str]:
    """``field=text`` pairs as a dict, rejecting malformed pairs and unknown target fields."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        target, sep, text = pair.partition("=")
        target, text = target.strip(), text.strip()
        if not sep or not target or not text:
            raise LoadError(f"{kind} {pair!r} is not of the form {form}")
        if target not in PRODUCT_FIELDS and not target.startswith("attributes."):
            raise LoadError(f"{kind} {pair!r}: unknown field {target!r}; fields are {', '.join(PRODUCT_FIELDS)}")
        parsed[target] = text
    return parsed


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """Turn CLI ``field=Column`` pairs into a mapping, rejecting unknown target fields."""
    return _field_pairs(pairs, "mapping", "field=Column")


def parse_constants(pairs: list[str]) -> dict[str, str]:
    """Turn CLI ``field=value`` pairs (one value for every product of a file) into a dict."""
    constants = _field_pairs(pairs, "constant", "field=value")
    for target in ("id", "attributes"):
        if target in constants:
            raise LoadError(f"{target} cannot be one value for the whole file; map it to a column instead")
    return constants


def detect_format(path: Path, declared: str | None = None) -> FileFormat:
    if declared:
        if declared not in _SUFFIX_FORMATS.values():
            raise LoadError(f"{path}: unknown format {declared!r}")
        return declared  # type: ignore[return-value]
    try:
        return _SUFFIX_FORMATS[path.suffix.lower()]
    except KeyError:
        raise LoadError(f"{path}: cannot tell the format from the suffix {path.suffix!r}; pass --format") from None


@dataclass
class _Table:
    """The columns a file has (its header, schema, or every key its records use) and its numbered rows."""

    columns: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]


def _read_table(path: Path, file_format: FileFormat) -> _Table:
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    if file_format == "csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None) or []
        return _Table(header, _csv_rows(path, header))
    if file_format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return _Table(table.column_names, enumerate(table.to_pylist(), start=1))
    rows = list(_jsonl_rows(path) if file_format == "jsonl" else _read_document_rows(path, file_format))
    columns = dict.fromkeys(key for _, row in rows for key in row if key != "__error__")
    return _Table(list(columns), iter(rows))


def _csv_rows(path: Path, header: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        line = reader.line_num + 1
        for values in reader:
            yield line, dict(zip(header, values, strict=False))
            line = reader.line_num + 1


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                row = {"__error__": f"invalid JSON: {error.msg}"}
            yield line, row if isinstance(row, dict) else {"__error__": "not a JSON object"}


def _read_document_rows(path: Path, file_format: FileFormat) -> Iterator[tuple[int, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    try:
        if file_format == "json":
            items = json.loads(text)
            numbered = list(enumerate(items if isinstance(items, list) else [], start=1))
        else:
            root = yaml.compose(text)
            nodes = root.value if isinstance(root, yaml.SequenceNode) else []
            if isinstance(root, yaml.MappingNode):
                for key, value in root.value:
                    if key.value in ("entries", "faq", "products") and isinstance(value, yaml.SequenceNode):
                        nodes = value.value
            numbered = [(node.start_mark.line + 1, yaml.safe_load(yaml.serialize(node))) for node in nodes]
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise LoadError(f"{path}: not valid {file_format}: {error}") from error
    if not numbered:
        raise LoadError(f"{path}: expected a list of entries (or a mapping with an 'entries' list)")
    for line, item in numbered:
        yield line, item if isinstance(item, dict) else {"__error__": "entry is not a mapping"}


def _validation_errors(error: ValidationError, source: str, line: int) -> list[RowError]:
    return [
        RowError(source, line, ".".join(str(part) for part in detail["loc"]) or "row", detail["msg"])
        for detail in error.errors()
    ]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value != value  # NaN


def derive_product_id(category: str, title: str) -> str:
    """Stable id for catalogs without one: the same category and title always give the same id
    (repeats of a pair in one file get ``-2``, ``-3`` … in file order)."""
    digest = hashlib.sha1(f"{category.strip().casefold()}\x1f{title.strip().casefold()}".encode()).hexdigest()
    return f"p-{digest[:12]}"


@dataclass(frozen=True)
class _Sources:
    """Where each field of a file's rows comes from: a mapped column, a constant, or a column named like it."""

    mapping: Mapping[str, str]
    constants: Mapping[str, str]
    priced: bool  # the file lists prices at all; without a price column every product is "price not listed"


class _ProductRow:
    """Turns one raw row into Product fields, collecting every problem rather than stopping at the first."""

    def __init__(self, raw: Mapping[str, Any], sources: _Sources, source: str, line: int) -> None:
        self.raw, self.sources, self.source, self.line = raw, sources, source, line
        self.errors: list[RowError] = []
        self.id_derived = False

    def value(self, target: str) -> Any:
        if target in self.sources.constants:
            return self.sources.constants[target]
        value = self.raw.get(self.sources.mapping.get(target, target))
        return None if _missing(value) else value

    def error(self, target: str, message: str) -> None:
        self.errors.append(RowError(self.source, self.line, target, message))

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        attributes: dict[str, str | float] = {}
        raw_attributes = self.value("attributes")
        if isinstance(raw_attributes, str):
            try:
                raw_attributes = json.loads(raw_attributes)
            except json.JSONDecodeError:
                self.error("attributes", "not a JSON object")
        if isinstance(raw_attributes, dict):
            attributes.update({str(k): v for k, v in raw_attributes.items() if isinstance(v, str | int | float)})
        for target in (*self.sources.mapping, *self.sources.constants):
            if target.startswith("attributes."):
                value = self.value(target)
                if value is not None:
                    attributes[target.removeprefix("attributes.")] = value
        for name in ("title", "category", "description", "url", "image", "brand", "id"):
            value = self.value(name)
            if value is not None:
                fields[name] = str(value)
        if "title" not in fields:
            self.error("title", "missing")
        currency = self.value("currency")
        if currency is not None:
            code = currency_code(str(currency))
            if code is None:
                self.error("currency", f"unknown currency {currency!r}")
            else:
                fields["currency"] = code
        if self.sources.priced:
            self._price(fields, attributes)
        self._rating(fields, attributes)
        stock = self.value("in_stock")
        if stock is not None:
            text = str(stock).strip().casefold()
            if text not in _TRUE | _FALSE:
                self.error("in_stock", f"cannot read {stock!r} as yes/no")
            fields["in_stock"] = text in _TRUE
        self.id_derived = "id" not in fields
        fields.setdefault("id", derive_product_id(fields.get("category", ""), fields.get("title", "")))
        fields.setdefault("brand", brand_from_title(fields.get("title", "")))
        fields["attributes"] = attributes
        return fields

    def _price(self, fields: dict[str, Any], attributes: dict[str, str | float]) -> None:
        price = self.value("price")
        if price is None:
            self.error("price", "missing")
        elif isinstance(price, int | float) and not isinstance(price, bool):
            fields["price"] = float(price)
        else:
            declared = fields.get("currency")
            try:
                amount, upper, currency = parse_price(str(price), declared or "USD")
            except ValueError as error:
                self.error("price", str(error))
                return
            if currency and declared and currency != declared:
                self.error("price", f"{price!r} is in {currency}, but the row's currency is {declared}")
                return
            fields["price"] = amount
            if upper is not None:
                attributes["price_to"] = upper
            if currency:
                fields["currency"] = currency

    def _rating(self, fields: dict[str, Any], attributes: dict[str, str | float]) -> None:
        rating = self.value("rating")
        if rating is None:
            return
        try:
            value, reviews = parse_rating(str(rating))
        except ValueError as error:
            self.error("rating", str(error))
            return
        if value is not None:
            fields["rating"] = value
        if reviews is not None:
            attributes["review_count"] = reviews


def _sources(path: Path, columns: list[str], mapping: Mapping[str, str], constants: Mapping[str, str]) -> _Sources:
    """Check the mapping and the constants against the file's columns, and each constant's value."""
    listed = ", ".join(columns) or "none"
    for target, column in mapping.items():
        if column not in columns:
            raise LoadError(
                f"{path}: mapping {target}={column} names a column the file does not have; its columns are: "
                f"{listed} (for one value for every product, set a constant: {target}={column})"
            )
        if target in constants:
            raise LoadError(
                f"{path}: {target} is both mapped to the column {column!r} and set to {constants[target]!r}"
            )
    for target in constants:
        if target in columns and target not in mapping:
            raise LoadError(
                f"{path}: {target} is set to {constants[target]!r}, but the file has its own {target!r} column"
            )
    priced = "price" in mapping or "price" in constants or "price" in columns
    probe = _ProductRow({}, _Sources({}, constants, priced="price" in constants), str(path), 0)
    probe.fields()
    problems = [
        f"{error.field}={constants[error.field]}: {error.message}" for error in probe.errors if error.field in constants
    ]
    if problems:
        raise LoadError(f"{path}: bad constant " + "; ".join(problems))
    return _Sources(mapping, constants, priced)


def load_products(
    path: Path,
    mapping: Mapping[str, str] | None = None,
    file_format: str | None = None,
    constants: Mapping[str, str] | None = None,
) -> LoadResult:
    """Read a product file. Columns named like Product fields need no mapping.

    ``constants`` give one value to every product (``{"currency": "INR"}`` for a catalog whose prices
    carry no currency). A file without a price column loads with every price "not listed" (None).
    """
    source = str(path)
    table = _read_table(path, detect_format(path, file_format))
    sources = _sources(path, table.columns, dict(mapping or {}), dict(constants or {}))
    result = LoadResult(records=[])
    first_line_of: dict[str, int] = {}
    products: list[Product] = []
    for line, raw in table.rows:
        if "__error__" in raw:
            result.errors.append(RowError(source, line, "row", raw["__error__"]))
            continue
        row = _ProductRow(raw, sources, source, line)
        fields = row.fields()
        product_id = fields["id"]
        if row.id_derived:
            # Same category and title twice (e.g. two configurations): number the repeats, in file order.
            repeat = 2
            while fields["id"] in first_line_of:
                fields["id"] = f"{product_id}-{repeat}"
                repeat += 1
            product_id = fields["id"]
        elif product_id in first_line_of:
            row.error("id", f"duplicate id {product_id!r} (first on line {first_line_of[product_id]})")
        if not row.errors:
            try:
                products.append(Product(**fields))
                first_line_of[product_id] = line
                continue
            except ValidationError as error:
                row.errors.extend(_validation_errors(error, source, line))
        result.errors.extend(row.errors)
        if product_id not in first_line_of:
            result.rejected_ids.add(product_id)
    spellings = canonical_spellings(product.brand for product in products)
    result.records = [
        product.model_copy(update={"brand": spellings.get(product.brand.casefold(), product.brand)})
        for product in products
    ]
    return result


def load_faq(path: Path, file_format: str | None = None) -> LoadResult:
    """Read FAQ entries (YAML list, JSON list or JSONL) with fields of :class:`FaqEntry`."""
    return _load_models(path, FaqEntry, file_format)


def _load_models(path: Path, model: type[BaseModel], file_format: str | None) -> LoadResult:
    source = str(path)
    result = LoadResult(records=[])
    seen: dict[str, int] = {}
    for line, raw in _read_table(path, detect_format(path, file_format)).rows:
        if "__error__" in raw:
            result.errors.append(RowError(source, line, "row", raw["__error__"]))
            continue
        record_id = str(raw.get("id", ""))
        if record_id in seen:
            result.errors.append(
                RowError(source, line, "id", f"duplicate id {record_id!r} (first on line {seen[record_id]})")
            )
            continue
        try:
            result.records.append(model.model_validate(raw))
            seen[record_id] = line
        except ValidationError as error:
            result.errors.extend(_validation_errors(error, source, line))
            if record_id:
                result.rejected_ids.add(record_id)
    return result
