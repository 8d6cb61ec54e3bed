from langchain_core.documents import Document

from retrieval import SearchFilters, Store
from retrieval.langchain import FaqRetriever, ProductRetriever


def test_product_retriever_is_a_standard_langchain_retriever(loaded_store: Store) -> None:
    retriever = ProductRetriever(index=loaded_store.products, filters=SearchFilters(categories=("Headphones",)), k=2)
    documents = retriever.invoke("wireless noise cancelling")
    assert len(documents) == 2
    assert all(isinstance(document, Document) for document in documents)
    assert all(document.metadata["category"] == "Headphones" for document in documents)
    assert documents[0].id in {"hp-1", "hp-2"}
    assert documents[0].metadata["score"] >= documents[1].metadata["score"]


def test_faq_retriever_drops_entries_below_min_score(loaded_store: Store) -> None:
    retriever = FaqRetriever(index=loaded_store.faq, k=3, min_score=0.5)
    documents = retriever.invoke("how much does delivery cost")
    assert documents and documents[0].id == "shipping"
    assert documents[0].page_content.startswith("Shipping is free")
    assert retriever.invoke("what is the capital of France") == []
