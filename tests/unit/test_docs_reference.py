"""docs/CONFIG.md is generated from schema.json and must not go stale (issue 7)."""

from pathlib import Path

from qbitrr_mqtt.config.reference import reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_config_reference_is_current():
    committed = (ROOT / "docs" / "CONFIG.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/CONFIG.md is stale: run `.venv/bin/python -m qbitrr_mqtt.config.reference > docs/CONFIG.md`"
    )


def test_reference_lists_every_policy_key():
    from qbitrr_mqtt.config.schema import load_schema

    text = reference_markdown()
    policy = load_schema()["properties"]["settings"]["properties"]["policy"]["properties"]
    for key in policy:
        assert f"`settings.policy.{key}`" in text


def test_packaged_schema_matches_top_level():
    """The wheel ships schema.json inside the package; an editable install reads the top-level file."""
    import json

    from qbitrr_mqtt.config.schema import load_schema

    assert load_schema() == json.loads((ROOT / "schema.json").read_text(encoding="utf-8"))


def test_api_reference_is_current() -> None:
    from qbitrr_mqtt.webui.reference import reference_markdown

    committed = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/API.md is stale: run `.venv/bin/python -m qbitrr_mqtt.webui.reference > docs/API.md`"
    )
