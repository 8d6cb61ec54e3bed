"""Our indexes as standard LangChain retrievers, so they plug into any chain."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.catalog import FaqIndex, ProductIndex
from retrieval.models import SearchFilters


class ProductRetriever(BaseRetriever):
    """Fused dense + lexical product search; each document's metadata holds the full product."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: ProductIndex
    filters: SearchFilters = SearchFilters()
    k: int = 10

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(
                page_content=hit.product.embedding_texts()[0],
                id=hit.product.id,
                metadata={**hit.product.model_dump(mode="json"), "score": hit.score},
            )
            for hit in self.index.search(query, self.filters, self.k)
        ]


class FaqRetriever(BaseRetriever):
    """FAQ entries at or above ``min_score`` (calibrated); the answer is the page content."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: FaqIndex
    k: int = 3
    min_score: float = 0.0

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(
                page_content=hit.entry.answer,
                id=hit.entry.id,
                metadata={"question": hit.entry.question, "tags": hit.entry.tags, "score": hit.score},
            )
            for hit in self.index.search(query, self.k)
            if hit.score >= self.min_score
        ]
