from pathlib import Path

from eap.derive.docs import derivations_markdown


def test_derivations_doc_is_generated_from_the_code() -> None:
    doc = Path(__file__).parents[2] / "docs" / "derivations.md"
    assert doc.read_text().rstrip("\n") == derivations_markdown().rstrip("\n"), (
        "docs/derivations.md is stale: run python -m eap.derive.docs > docs/derivations.md"
    )
