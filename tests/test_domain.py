import pytest

from labelwise.domain import Dataset, LabelwiseError, parse_dataset, validate_class_name


@pytest.mark.parametrize(
    "name", ["Billing", "card_arrival", "a" * 50, "Déjà vu", "x-y.z", "a,b", " padded "]
)
def test_valid_class_names(name: str) -> None:
    assert validate_class_name(name) == name.strip()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a" * 51, "51 characters"),
        *[(f"x{ch}y", ch) for ch in ":$&%*()+~#/?"],
        ("tab\there", "control"),
    ],
)
def test_invalid_class_names(name: str, reason: str) -> None:
    with pytest.raises(LabelwiseError, match=reason if reason not in "$*()+?" else None) as info:
        validate_class_name(name)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Train", Dataset.TRAIN), ("test", Dataset.TEST), (" TEST ", Dataset.TEST)],
)
def test_parse_dataset(raw: str, expected: Dataset) -> None:
    assert parse_dataset(raw) is expected


def test_parse_dataset_rejects_other_values() -> None:
    with pytest.raises(LabelwiseError, match="neither 'train' nor 'test'"):
        parse_dataset("dev", "rows.csv:3")
