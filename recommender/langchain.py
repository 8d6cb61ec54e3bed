"""Any ranker as a standard LangChain document compressor, to rerank any retriever's product documents."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict

from recommender.ranking import Ranker
from retrieval import Product, ProductHit


class RankerCompressor(BaseDocumentCompressor):
    """Reorders documents whose metadata holds a product (as ``ProductRetriever`` emits) by ``ranker``.

    Documents without product metadata are kept, after the ranked ones, in their original order.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    ranker: Ranker
    top_n: int | None = None

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        products: list[tuple[Document, ProductHit]] = []
        others: list[Document] = []
        fields = set(Product.model_fields)
        for rank, document in enumerate(documents, start=1):
            try:
                product = Product.model_validate({k: v for k, v in document.metadata.items() if k in fields})
            except ValueError:
                others.append(document)
                continue
            score = float(document.metadata.get("score", 1.0 / rank))
            products.append((document, ProductHit(product=product, score=score)))
        by_id = {hit.product.id: document for document, hit in products}
        ranked = self.ranker.rank(query, [hit for _, hit in products])
        reordered = [
            by_id[item.hit.product.id].model_copy(
                update={"metadata": {**by_id[item.hit.product.id].metadata, "rank_score": item.score}}
            )
            for item in ranked
        ]
        result = [*reordered, *others]
        return result[: self.top_n] if self.top_n is not None else result
