"""Catalog and FAQ ingestion and semantic + lexical retrieval (the bottom layer of shopassist)."""

from retrieval._document_index import IngestMode, IngestReport
from retrieval._onnx import OnnxEmbedder, export_onnx_transformer, onnx_mean_pooled, onnx_session
from retrieval.catalog import ProductIndex, Store
from retrieval.demo import DEMO_PRODUCT_MAPPING, demo_catalog_path, demo_faq_path
from retrieval.embeddings import Embedder, SentenceTransformerEmbedder, embedder_from_settings, pick_device
from retrieval.errors import DataDirBusyError, EmbeddingError, IndexMismatchError, LoadError, RetrievalError, RowError
from retrieval.faq import FaqIndex
from retrieval.ingest import IngestOutcome, ensure_demo_data, ingest_faq, ingest_products
from retrieval.lexicon import BrandMention, CatalogLexicon
from retrieval.loaders import LoadResult, load_faq, load_products, parse_constants, parse_mapping
from retrieval.models import FaqEntry, FaqHit, Product, ProductHit, SearchFilters
from retrieval.settings import Settings
from retrieval.spelling import CatalogSpeller
from retrieval.text import is_english_word, singular, words

__all__ = [
    "BrandMention",
    "CatalogLexicon",
    "CatalogSpeller",
    "DEMO_PRODUCT_MAPPING",
    "EmbeddingError",
    "Embedder",
    "FaqEntry",
    "FaqHit",
    "FaqIndex",
    "IndexMismatchError",
    "DataDirBusyError",
    "IngestMode",
    "IngestOutcome",
    "IngestReport",
    "LoadError",
    "LoadResult",
    "OnnxEmbedder",
    "export_onnx_transformer",
    "onnx_mean_pooled",
    "onnx_session",
    "Product",
    "ProductHit",
    "ProductIndex",
    "RetrievalError",
    "RowError",
    "SearchFilters",
    "SentenceTransformerEmbedder",
    "Settings",
    "Store",
    "demo_catalog_path",
    "demo_faq_path",
    "embedder_from_settings",
    "ensure_demo_data",
    "ingest_faq",
    "ingest_products",
    "is_english_word",
    "load_faq",
    "load_products",
    "parse_constants",
    "parse_mapping",
    "pick_device",
    "singular",
    "words",
]
