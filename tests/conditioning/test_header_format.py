"""The header format a model carries: read back from the run spec and the exported settings, checked, and
rendering the same header as the templates the training data was written with."""

from __future__ import annotations

import pytest

from condpt_dagster.conditioning.headers import TEMPLATES, HeaderFormat


def test_round_trip_keeps_seen_values_and_renders_like_the_template():
    fmt = HeaderFormat("laion", ["rating", "topics"]).with_seen({"rating": {"PG": 3}})
    again = HeaderFormat.from_json(fmt.to_json(), "spec")
    assert again == fmt and list(fmt.to_json()) == ["template", "fields", "seen_values"]
    labels = {"rating": "PG", "topics": ["politics"]}
    assert again.header(labels) == TEMPLATES["laion"](labels, ["rating", "topics"]) == "[ PG, politics ]\n"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"template": "jinja", "fields": ["rating"]}, "unknown template 'jinja'"),
        ({"template": "laion"}, "missing required field `fields`"),
        ({"template": "laion", "fields": "rating"}, r"Expected `array`, got `str`"),
    ],
)
def test_a_bad_header_format_is_refused_naming_its_source(data, reason):
    with pytest.raises(ValueError, match=reason) as exc:
        HeaderFormat.from_json(data, "checkpoints/x/hf/condpt.json")
    assert "checkpoints/x/hf/condpt.json" in str(exc.value)
