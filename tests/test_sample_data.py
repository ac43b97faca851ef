"""`sample://NAME`: the datasets shipped in the vtp package, the pipelines' default data source,
read from wherever vtp is installed (a checkout, the wheel, the component image), whatever the
working directory."""

from pathlib import Path

import pytest

from vtp import catalog, params
from vtp.components.data.sources import list_sources
from vtp.components.data.split_reader import read_split
from vtp.components.data.splitting import SPLITS, split_dataset
from vtp.errors import DataError
from vtp.shipped import SAMPLE_DATA_SOURCE, sample_data_dir, sample_datasets

#: Rows of the breast cancer sample (scikit-learn's copy of the UCI data set).
BREAST_CANCER_ROWS = 569


def test_the_sample_is_read_from_the_package_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    out = [tmp_path / s for s in SPLITS]
    summary = split_dataset(SAMPLE_DATA_SOURCE, *map(str, out))
    assert sum(len(read_split(str(p))) for p in out) == BREAST_CANCER_ROWS
    assert summary.files == [SAMPLE_DATA_SOURCE]


def test_sample_names_and_wildcards_list_as_sample_uris():
    assert {"breast_cancer.csv", "wine.csv", "diabetes.csv"} <= set(sample_datasets())
    (only,) = list_sources("sample://breast_cancer.csv")
    assert only.name == "sample://breast_cancer.csv"
    assert Path(only.local_path) == sample_data_dir() / "breast_cancer.csv"
    assert "sample://breast_cancer.csv" in [f.name for f in list_sources("sample://*.csv")]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sample://nope.csv", "no such sample dataset; shipped: sample://breast_cancer.csv"),
        ("sample://", "must be sample://NAME"),
        ("sample://../pyproject.toml", "must be sample://NAME"),
        ("sample:///etc/passwd", "must be sample://NAME"),
    ],
)
def test_bad_sample_uris_name_the_shipped_samples(uri, message):
    with pytest.raises(DataError, match=message.replace("?", r"\?")):
        list_sources(uri)


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_every_pipeline_defaults_to_the_shipped_sample(name):
    inputs = params.declared_inputs(catalog.pipeline_module(name).build())
    assert inputs["data_source"].default == SAMPLE_DATA_SOURCE
