from pathlib import Path

import pytest

from bot.domain.questions import QuestionSetError, load_question_set
from bot.settings import BUNDLED_PROMPTS


def test_bundled_set_has_ten_questions_with_provenance() -> None:
    qs = load_question_set(BUNDLED_PROMPTS)
    assert qs.ids == tuple(f"Q{n}" for n in range(1, 11))
    assert {q.provenance for q in qs.questions} == {"quoted", "paraphrased"}
    quoted = [q for q in qs.questions if q.provenance == "quoted"]
    assert len(quoted) == 5
    assert all(q.source_url.startswith("https://") for q in qs.questions)
    assert qs.get("q4") is qs.questions[3]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "set.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD_HEAD = 'edition = "x"\ntitle = "t"\nsource_url = "https://example.org/"\n'
Q = (
    '[[questions]]\nid = "{id}"\ntext = "{text}"\ntheme = "Cyber"\n'
    'provenance = "quoted"\nsource = "s s"\n'
)


def test_error_names_the_file_and_the_field(tmp_path: Path) -> None:
    body = GOOD_HEAD + Q.format(id="Q1", text="A proper question?") + Q.format(id="Q2", text="x")
    path = _write(tmp_path, body)
    with pytest.raises(QuestionSetError) as err:
        load_question_set(path)
    message = str(err.value)
    assert str(path) in message
    assert "questions[1] (Q2).text" in message


def test_duplicate_ids_bad_toml_and_missing_file(tmp_path: Path) -> None:
    dup = GOOD_HEAD + Q.format(id="Q1", text="A proper question?") * 2
    with pytest.raises(QuestionSetError, match="duplicate question id Q1"):
        load_question_set(_write(tmp_path, dup))
    with pytest.raises(QuestionSetError, match="not valid TOML"):
        load_question_set(_write(tmp_path, "edition = "))
    with pytest.raises(QuestionSetError, match="no such question set file"):
        load_question_set(tmp_path / "missing.toml")


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    body = GOOD_HEAD + Q.format(id="Q1", text="A proper question?") + 'colour = "red"\n'
    body += Q.format(id="Q2", text="Another proper question?")
    with pytest.raises(QuestionSetError, match=r"questions\[0\] \(Q1\)\.colour"):
        load_question_set(_write(tmp_path, body))


def test_welsh_wording_is_optional_and_validated(tmp_path) -> None:
    path = tmp_path / "set.toml"
    path.write_text(
        'edition = "x"\ntitle = "T"\nsource_url = "https://example.org/"\n'
        '[[questions]]\nid = "Q1"\ntext = "An English question?"\ntheme = "Theme"\n'
        'provenance = "quoted"\nsource = "here"\ntext_cy = "Cwestiwn Cymraeg?"\n'
        '[[questions]]\nid = "Q2"\ntext = "Another question here?"\ntheme = "Theme"\n'
        'provenance = "quoted"\nsource = "here"\n',
        encoding="utf-8",
    )
    q1, q2 = load_question_set(path).questions
    assert q1.text_for("cy") == "Cwestiwn Cymraeg?" and q1.text_for("en") == "An English question?"
    assert q2.text_for("cy") == "Another question here?"  # no Welsh: the English
    path.write_text(path.read_text().replace("Cwestiwn Cymraeg?", "Byr"), encoding="utf-8")
    with pytest.raises(QuestionSetError, match=r"questions\[0\] \(Q1\)\.text_cy"):
        load_question_set(path)


def test_the_bundled_set_has_welsh_for_every_question() -> None:
    questions = load_question_set(BUNDLED_PROMPTS)
    assert all(q.text_cy and q.theme_cy for q in questions.questions)
    assert questions.title_cy
