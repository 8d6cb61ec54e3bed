"""The one configuration object of shopassist.

Values come, highest priority first, from keyword arguments, ``SHOPASSIST_*`` environment variables,
a ``shopassist.toml`` file (path in ``SHOPASSIST_CONFIG``, default ``./shopassist.toml``) and the
defaults below. It lives in the lowest package so every layer reads the same object.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
# A rate in the `limits` package's notation: "30/minute", "10 per hour", "5/10 seconds".
_RATE = r"^\d+ ?(/|per) ?(\d+ )?(second|minute|hour|day)s?$"
# One CSP source expression: an origin, optionally with a wildcard subdomain or port; nothing that ends the directive.
_CSP_SOURCE = r"^(https?://)?(\*\.)?[A-Za-z0-9.-]+(:(\d+|\*))?$"


def _config_file() -> Path:
    return Path(os.environ.get("SHOPASSIST_CONFIG", "shopassist.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPASSIST_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Chroma persistent dir, SQLite files and models.")
    chroma_url: str | None = Field(
        None, description="http(s)://host:port of a Chroma server; unset = embedded Chroma in data_dir."
    )
    collection_prefix: str = Field("shopassist", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,40}$")

    embedding_model: str = Field(
        BUNDLED_MODEL_NAME,
        description="sentence-transformers model name or local path; the default is bundled (offline).",
    )
    embedding_device: Literal["auto", "cpu", "cuda"] = "auto"
    embedding_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description="auto = the backend that built the existing index; for a new one PyTorch (fp16) on CUDA and "
        "onnx-int8 on the CPU. onnx-int8 = ONNX Runtime with quantised weights: 1.4–2.3× faster CPU encoding, "
        "vectors at cosine ≈0.99 to the model's, retrieval measured equal. onnx = ONNX Runtime at full precision "
        "(the model's own vectors). Switching an existing index between int8 and full precision needs a re-index.",
    )
    embedding_batch_size: int = Field(64, ge=1, le=4096)

    search_candidates: int = Field(50, ge=1, le=1000, description="Candidates per signal before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    spelling_correction: bool = Field(
        True,
        description="Correct product-search words the catalog never uses to the nearest word it does "
        '("condiut" → "conduit", "windowair" → "window air") before retrieval and ranking.',
    )
    faq_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="FAQ answer probability below which the assistant declines. The probability comes from a "
        "decision fitted on the loaded FAQ itself after each ingest (not on the demo); 0.5 weighs a wrong answer "
        "and a missed one the same.",
    )
    faq_answer_weight: float = Field(
        0.5,
        ge=0.0,
        le=2.0,
        description="Weight of answer similarity when ranking FAQ entries: a property of the embedding model, "
        "chosen on dev paraphrases of the demo and Bitext FAQs (benchmarks/faq.py --split dev), not per FAQ.",
    )

    cards_per_reply: int = Field(5, ge=1, le=20)
    search_min_similarity: float = Field(
        0.4,
        ge=-1.0,
        le=1.0,
        description="A request whose product word no listing uses gets “we don't carry …” when the nearest "
        "product to that word alone is less similar than this (MiniLM cosine between one word and a title; it "
        "only decides for words the catalog never uses, so it does not depend on the catalog's vocabulary).",
    )
    intent_threshold: float = Field(
        0.4, ge=0.0, le=1.0, description="Intent confidence below which a message counts as out of scope."
    )
    chat_model: str | None = Field(
        None,
        description="LangChain `init_chat_model` id (e.g. `openai:gpt-4o-mini`) that rephrases replies; "
        "unset = the built-in templates (complete, offline).",
    )

    host: str = Field("127.0.0.1", description="Where `shopassist serve` listens.")
    port: int = Field(8000, ge=0, le=65535)
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins of store pages allowed to call the API from a browser (CORS); the server's own "
        'pages always may. E.g. `["https://shop.example.com"]`.',
    )
    frame_ancestors: list[Annotated[str, Field(pattern=_CSP_SOURCE)]] = Field(
        default_factory=list,
        description="Origins whose pages may show shopassist's customer pages in a frame (CSP `frame-ancestors`), "
        'e.g. `["https://shop.example.com"]`; empty = only shopassist itself. The agent console is never framed.',
    )
    max_request_bytes: int = Field(
        64 * 1024, ge=1024, le=64 * 1024 * 1024, description="Larger request bodies get 413 before they are read."
    )
    rate_limiting: bool = Field(True, description="Throttle customers with the limits below (429 + Retry-After).")
    rate_limit_per_ip: str = Field(
        "120/minute", pattern=_RATE, description="Customer writes (messages, actions, new sessions) per client IP."
    )
    rate_limit_per_session: str = Field("30/minute", pattern=_RATE, description="Customer writes per session.")
    new_sessions_per_ip: str = Field("20/minute", pattern=_RATE, description="Conversations one client IP may start.")
    handoffs_per_ip: str = Field(
        "10/hour",
        pattern=_RATE,
        description="Conversations one client IP may hand to a person; past it, its writes to conversations not "
        "yet with a person get 429 until the window passes (the agents' queue cannot be flooded).",
    )
    agent_token: SecretStr | None = Field(
        None, description="Bearer token for the agent console and its API; `shopassist serve` makes one if unset."
    )
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("slack_bot_token", "shopassist_slack_bot_token"), description="xoxb-…"
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("slack_signing_secret", "shopassist_slack_signing_secret"),
        description="Verifies requests to /slack/events (HTTP mode); unset = the Slack endpoint is off.",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("slack_app_token", "shopassist_slack_app_token"),
        description="xapp-… for Socket Mode (`shopassist slack`).",
    )
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base; tests point it at a fake.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_config_file()),
        )

    @property
    def catalog_db_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def models_path(self) -> Path:
        return self.data_dir / "models"
