"""The question set: the ten Socitm key questions, loaded from a data file and validated."""

from __future__ import annotations

import contextlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Provenance = Literal["quoted", "paraphrased"]


class QuestionSetError(ValueError):
    """A question set file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    theme: str
    provenance: Provenance
    source: str
    source_url: str
    # Welsh wording; None: the set has none, and Welsh channels get the English.
    text_cy: str | None = None
    theme_cy: str | None = None

    def text_for(self, language: str) -> str:
        """The question in `language` ("cy" or "en"), English when there is no Welsh."""
        return (self.text_cy or self.text) if language == "cy" else self.text

    def theme_for(self, language: str) -> str:
        return (self.theme_cy or self.theme) if language == "cy" else self.theme


@dataclass(frozen=True, slots=True)
class QuestionSet:
    edition: str
    title: str
    source_url: str
    questions: tuple[Question, ...]
    title_cy: str | None = None

    def title_for(self, language: str) -> str:
        return (self.title_cy or self.title) if language == "cy" else self.title

    def get(self, question_id: str) -> Question | None:
        wanted = question_id.strip().upper()
        return next((q for q in self.questions if q.id == wanted), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)


class _QuestionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=r"^Q([1-9]|[1-9][0-9])$")
    text: str = Field(min_length=10, max_length=500)
    theme: str = Field(min_length=2, max_length=100)
    provenance: Provenance
    source: str = Field(min_length=2, max_length=500)
    source_url: str | None = None
    text_cy: str | None = Field(default=None, min_length=10, max_length=500)
    theme_cy: str | None = Field(default=None, min_length=2, max_length=100)

    @field_validator("source_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class _SetModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    edition: str = Field(min_length=1, max_length=50)
    title: str = Field(min_length=1, max_length=200)
    source_url: str = Field(pattern=r"^https?://")
    title_cy: str | None = Field(default=None, min_length=1, max_length=200)
    questions: list[_QuestionModel] = Field(min_length=2, max_length=99)

    @model_validator(mode="after")
    def _unique_ids(self) -> _SetModel:
        seen: set[str] = set()
        for question in self.questions:
            if question.id in seen:
                raise ValueError(f"duplicate question id {question.id}")
            seen.add(question.id)
        return self


def _field_path(loc: tuple[int | str, ...], raw: dict) -> str:
    """Name the field the way a person editing the file would find it: questions[3] (Q4).text."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            label = f"[{part}]"
            if loc[:i] == ("questions",):
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    label += f" ({raw['questions'][part]['id']})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(top level)"


def load_question_set(path: Path) -> QuestionSet:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QuestionSetError(f"{path}: no such question set file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise QuestionSetError(f"{path}: not valid TOML: {exc}") from None
    try:
        model = _SetModel.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(tuple(first["loc"]), raw)
        raise QuestionSetError(f"{path}: field {field}: {first['msg']}") from None
    return QuestionSet(
        edition=model.edition,
        title=model.title,
        source_url=model.source_url,
        questions=tuple(
            Question(
                id=q.id,
                text=q.text,
                theme=q.theme,
                provenance=q.provenance,
                source=q.source,
                source_url=q.source_url or model.source_url,
                text_cy=q.text_cy,
                theme_cy=q.theme_cy,
            )
            for q in model.questions
        ),
        title_cy=model.title_cy,
    )
