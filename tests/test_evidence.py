"""An evidence check that can fail: quotes are verbatim, or they are "not found", with a reason."""

from __future__ import annotations

import pytest

from horizonscan.analysis.analyzer import check_item
from horizonscan.analysis.evidence import candidate_quotes, verify
from tests.conftest import SEED_DE, SEED_FR, needs_seeds

pytestmark = needs_seeds


def _fr() -> str:
    return SEED_FR.read_text(encoding="utf-8")


def _de() -> str:
    return SEED_DE.read_text(encoding="utf-8")


TRUE_FR = [
    # Verbatim, with the article's own curly apostrophes.
    "Amazon a confirmé lundi qu’elle prévoyait de licencier plusieurs centaines de travailleurs",
    # Straight quotes and apostrophes, other case, doubled spaces, guillemets dropped.
    "plusieurs centaines de postes sont concernés,  soit une proportion relativement faible",
    "AMAZON A CONFIRMÉ LUNDI QU'ELLE PRÉVOYAIT DE LICENCIER",
    # Digit grouping as written, with a non-breaking space.
    "faisaient partie des 18\u00a0000 emplois supprimés par Amazon au début de 2023",
    # A line-end hyphenation and an elision.
    "L’application est alimen-\ntée par un grand modèle de langage (LLM) … pour prendre en charge "
    "l’assistant personnel Alexa",
    # The negation kept as written.
    "ce n’est pas la première fois que l’équipe de périphériques et de services d’Amazon",
]


@pytest.mark.parametrize("quote", TRUE_FR)
def test_true_quotes_are_found(quote: str) -> None:
    result = verify(quote, _fr(), text_language="fr")
    assert result.found, result.note
    assert result.score >= 0.95


def test_true_german_quote_with_hyphenated_compound_is_found() -> None:
    assert verify("Mehrere hundert Alexa-Stellen sollen wegfallen", _de()).found
    assert verify(
        "Die genauen Details zu den betroffenen Initiativen wurden jedoch nicht offengelegt", _de()
    ).found


def test_translated_quote_is_not_found() -> None:
    # The French seed's sentence, translated into English as a hosted model did.
    quote = (
        "Amazon confirmed on Monday that it planned to lay off several hundred workers from its "
        "Alexa division due to a change of focus towards generative AI."
    )
    result = verify(quote, _fr(), text_language="fr")
    assert not result.found
    assert result.note is not None and "English" in result.note and "French" in result.note


def test_invented_quote_is_not_found() -> None:
    result = verify(
        "Amazon va investir massivement dans la robotique et les entrepôts automatisés en Europe",
        _fr(),
        text_language="fr",
    )
    assert not result.found and result.note is not None and "not in the article" in result.note


@pytest.mark.parametrize(
    ("quote", "why"),
    [
        # 18 000 → 18 001: one digit changed in an otherwise verbatim sentence.
        ("Les employés de ce département faisaient partie des 18 001 emplois supprimés par Amazon", "number"),
        (
            "plus de cinq milliards de périphériques Alexa chez les clients au cours des 13 derniers mois",
            "number",
        ),
        ("Amazon a déjà entrepris plusieurs rounds de licenciements au cours des 21 derniers mois", "number"),
    ],
)
def test_changed_digit_is_not_found(quote: str, why: str) -> None:
    result = verify(quote, _fr(), text_language="fr")
    assert not result.found
    assert result.note is not None and why in result.note


def test_negation_flips_are_not_found() -> None:
    dropped_fr = verify("et c’est la première fois que l’équipe de périphériques et de services", _fr())
    assert not dropped_fr.found and dropped_fr.note is not None and "negation" in dropped_fr.note
    dropped_de = verify("Die genauen Details zu den betroffenen Initiativen wurden jedoch offengelegt", _de())
    assert not dropped_de.found and dropped_de.note is not None and "nicht" in dropped_de.note
    added_de = verify(
        "Bereits im Vorjahr hatte Amazon im Rahmen umfangreicher Unternehmenskürzungen keine Stellen "
        "in seiner Geräte- und Servicesparte abgebaut",
        _de(),
    )
    assert not added_de.found and added_de.note is not None and "negation" in added_de.note
    added_en = verify(
        "The city did not approve the plan to build forty new charging stations",
        "The city did approve the plan to build forty new charging stations near the station.",
    )
    assert not added_en.found and "negation" in (added_en.note or "")


def test_altered_words_and_short_quotes_are_not_found() -> None:
    altered = verify(
        "Die genauen Details zu den betroffenen Projekten wurden jedoch nicht offengelegt", _de()
    )
    assert not altered.found and "Projekten".lower() in (altered.note or "")
    dropped = verify(
        "Amazon a confirmé qu’elle prévoyait de licencier plusieurs centaines de travailleurs", _fr()
    )
    assert not dropped.found and "lundi" in (dropped.note or "")
    short = verify("Amazon a confirmé lundi", _fr())
    assert not short.found and short.note == "too short (4 words; at least 5)"


def test_every_candidate_sentence_a_local_model_may_pick_is_found() -> None:
    for text, lang in ((_fr(), "fr"), (_de(), "de")):
        quotes = candidate_quotes(text)
        assert len(quotes) >= 8
        assert all(verify(q, text, text_language=lang).found for q in quotes)


def test_checked_item_keeps_an_unfound_quote_with_its_reason() -> None:
    data = {
        "name": "Shift to generative AI",
        "description": "Companies move staff from assistants to generative AI.",
        "relevancy": 4,
        "dimension": "technological",
        "evidence": "Amazon confirmed on Monday that it planned to lay off several hundred workers",
    }
    item = check_item("behavior", dict(data), _fr(), language="fr")
    assert not item.evidence_found and item.evidence_mode == "quote"
    assert item.evidence_note and "translated" in item.evidence_note
    assert any(p.startswith("evidence not found") for p in item.problems)
    picked = check_item(
        "behavior",
        {**data, "evidence": candidate_quotes(_fr())[1], "dimension": None},
        _fr(),
        language="fr",
        mode="picked",
    )
    assert picked.evidence_found and picked.evidence_mode == "picked"
    assert picked.problems == ["no STEEP+V dimension"]
