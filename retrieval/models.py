"""Catalog and FAQ records, search filters and search hits."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MetadataValue = str | float | int | bool
_FAQ_VECTOR_LAYOUT = 2


def _stable_hash(payload: Any) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Product(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1)
    brand: str = ""
    category: str = ""
    price: float | None = Field(None, ge=0, allow_inf_nan=False, description="None: the listing shows no price.")
    currency: str = "USD"
    rating: float | None = Field(None, ge=0, le=5)
    description: str = ""
    attributes: dict[str, str | float] = Field(default_factory=dict)
    url: str | None = None
    image: str | None = None
    in_stock: bool = True

    @field_validator("id", "title", "brand", "category", "description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return " ".join(value.split())

    def content_hash(self) -> str:
        return _stable_hash(self.model_dump(mode="json"))

    def embedding_texts(self) -> list[str]:
        # Title first: MiniLM truncates at 256 word pieces and the title carries most of the signal.
        parts = [self.title, self.brand, self.category, self.description[:500]]
        return [" · ".join(part for part in parts if part)]

    def lexical_text(self) -> str:
        attributes = " ".join(str(value) for value in self.attributes.values())
        return " ".join([self.title, self.brand, self.category, self.description, attributes])

    def vector_metadata(self) -> dict[str, MetadataValue]:
        metadata: dict[str, MetadataValue] = {
            "category": self.category,
            "brand": self.brand,
            "in_stock": self.in_stock,
        }
        # Chroma metadata holds no None; an absent key fails every range filter, as SQL's NULL does.
        if self.price is not None:
            metadata["price"] = self.price
        if self.rating is not None:
            metadata["rating"] = self.rating
        return metadata


class FaqEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list, description="Other phrasings of the question.")

    def content_hash(self) -> str:
        # The layout of embedding_texts() is part of the content: a layout change re-embeds on the next ingest.
        return _stable_hash({"layout": _FAQ_VECTOR_LAYOUT, **self.model_dump(mode="json")})

    def embedding_texts(self) -> list[str]:
        """The question, its other phrasings, and last the answer (see :meth:`answer_position`)."""
        return [self.question, *self.alternatives, self.answer]

    def answer_position(self) -> int:
        return len(self.alternatives) + 1

    def lexical_text(self) -> str:
        return " ".join([self.question, *self.alternatives, " ".join(self.tags), self.answer])

    def vector_metadata(self) -> dict[str, MetadataValue]:
        return {}


class SearchFilters(BaseModel):
    """Hard constraints on product search, applied identically to the dense and the lexical signal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    price_min: float | None = None
    price_max: float | None = None
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    exclude_brands: tuple[str, ...] = ()
    rating_min: float | None = None
    in_stock: bool | None = None

    def is_empty(self) -> bool:
        return self == SearchFilters()

    def _conditions(self) -> list[tuple[str, str, Any]]:
        conditions: list[tuple[str, str, Any]] = []
        if self.price_min is not None:
            conditions.append(("price", "$gte", self.price_min))
        if self.price_max is not None:
            conditions.append(("price", "$lte", self.price_max))
        if self.categories:
            conditions.append(("category", "$in", list(self.categories)))
        if self.brands:
            conditions.append(("brand", "$in", list(self.brands)))
        if self.exclude_brands:
            conditions.append(("brand", "$nin", list(self.exclude_brands)))
        if self.rating_min is not None:
            conditions.append(("rating", "$gte", self.rating_min))
        if self.in_stock is not None:
            conditions.append(("in_stock", "$eq", self.in_stock))
        return conditions

    def to_chroma_where(self) -> dict[str, Any] | None:
        clauses = [{field: {operator: value}} for field, operator, value in self._conditions()]
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def to_sql(self, body_column: str) -> tuple[str, list[Any]]:
        """The same conditions as a SQL fragment over the JSON product body (``1`` when empty)."""
        sql_operators = {"$gte": ">=", "$lte": "<=", "$eq": "="}
        fragments: list[str] = []
        params: list[Any] = []
        for field, operator, value in self._conditions():
            column = f"json_extract({body_column}, '$.{field}')"
            if operator in ("$in", "$nin"):
                negation = "NOT " if operator == "$nin" else ""
                fragments.append(f"{column} {negation}IN ({', '.join('?' * len(value))})")
                params.extend(value)
            else:
                fragments.append(f"{column} {sql_operators[operator]} ?")
                params.append(int(value) if isinstance(value, bool) else value)
        return (" AND ".join(fragments) or "1"), params


class ProductHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    product: Product
    score: float = Field(description="Fused score (reciprocal rank fusion); higher is better.")
    dense_similarity: float | None = Field(None, description="Cosine similarity to the query, if retrieved.")
    dense_rank: int | None = None
    lexical_rank: int | None = None


class FaqHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    entry: FaqEntry
    score: float = Field(description="Calibrated probability that this entry answers the question.")
    similarity: float = Field(description="Best cosine similarity between the question and the entry.")
