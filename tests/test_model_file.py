"""Model files: every section and key checked, factors and levels declared, defaults."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesimpute.model_file import KEYS, ModelFileError, load_model_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def csv(tmp_path) -> Path:
    """A small two-level CSV: den numeric with missing values (read as 1.0, 2.0, ...)."""
    rng = np.random.default_rng(2)
    school = np.repeat(np.arange(8), 5)
    frame = pd.DataFrame({
        "sch": school,
        "y": rng.normal(size=40),
        "den": np.repeat(rng.integers(1, 4, 8), 5).astype(float),
        "grade": rng.choice(["low", "mid", "high"], 40),
        "unused": "text",
    })
    frame.loc[frame["sch"] == 2, "den"] = np.nan
    frame.loc[[3, 17], "y"] = np.nan
    frame.loc[[5], "grade"] = np.nan
    path = tmp_path / "school.csv"
    frame.to_csv(path, index=False, na_rep="NA")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.toml"
    path.write_text(textwrap.dedent(text))
    return path


def model(tmp_path, csv, data_extra="", rest=""):
    return write(tmp_path, f"""
        [data]
        path = "{csv.name}"
        cluster = "sch"
        {data_extra}
        {rest}
    """)


def test_factors_levels_and_reference(tmp_path, csv):
    path = model(tmp_path, csv, data_extra=textwrap.dedent("""
        columns = ["sch", "y", "den", "grade"]
        categorical = ["den"]
        ordered = ["grade"]
        [data.levels]
        grade = ["low", "mid", "high"]
        [data.reference]
        den = 2
    """))
    parsed = load_model_file(path)
    assert list(parsed.data.columns) == ["sch", "y", "den", "grade"]
    den, grade = parsed.data["den"], parsed.data["grade"]
    assert list(den.cat.categories) == [2, 1, 3] and not den.cat.ordered
    assert list(grade.cat.categories) == ["low", "mid", "high"] and grade.cat.ordered
    assert int(den.isna().sum()) == 5 and int(grade.isna().sum()) == 1


def test_defaults_fill_the_methods_not_listed(tmp_path, csv):
    path = model(tmp_path, csv, data_extra='columns = ["sch", "y", "den", "grade"]\n'
                                           'categorical = ["den", "grade"]', rest="""
        [imputation]
        defaults = "make_method"
        [imputation.method]
        y = "2l.norm"
    """)
    method = load_model_file(path).method
    assert method.to_dict() == {"sch": "", "y": "2l.norm", "den": "2lonly.polyreg",
                                "grade": "2l.polyreg"}
    without = load_model_file(model(tmp_path, csv, rest='[imputation.method]\ny = "2l.norm"'))
    assert without.method["den"] == ""  # no defaults: only the listed columns are imputed


@pytest.mark.parametrize("data_extra, rest, fragment", [
    ('colums = ["y"]', "", r"\[data\] unknown key\(s\) \['colums'\]; valid keys: \["),
    ("", "[imputaton]\nm = 2", r"unknown section\(s\) \['imputaton'\]"),
    ("", "[imputation]\niterations = 3", r"\[imputation\] unknown key\(s\) \['iterations'\]"),
    ("", '[analysis]\nformula = "y ~ 1"\nfamliy = "gaussian"',
     r"\[analysis\] unknown key\(s\) \['famliy'\]"),
    ("", '[analysis]\nformula = "y ~ 1"\nfamily = "gamma"', r"family must be one of .*got 'gamma'"),
    ('dataset = "popmis"', "", r"needs exactly one of dataset .* got \['dataset', 'path'\]"),
    ('categorical = ["dem"]', "", r"categorical / ordered: 'dem' is not a column of data"),
    ('categorical = ["den"]\nordered = ["den"]', "", r"\['den'\] listed in both"),
    ("[data.levels]\nden = [1, 2]", "", r"den: the data have value\(s\) \['3'\] that are not "
                                        r"among the levels"),
    ("[data.reference]\nden = 7", "", r"\[data.reference\] den = 7 is not a level"),
    ('columns = "y"', "", r"\[data\] cluster: 'sch' is not a column of data"),
    ("", "[imputation]\nm = 2.5", r"\[imputation\] m must be an integer, got 2.5"),
    ("", "[imputation]\nseed = true", r"seed must be an integer, got True"),
    ("", '[imputation]\ndefaults = "mice"', r"\[imputation\] defaults must be one of .*got 'mice'"),
    ("", '[imputation.method]\ny = 3', r"\[imputation.method\] y must be a string"),
    ("", '[imputation.method]\nyy = "pmm"', r"'yy' is not a column of data"),
    ("", '[imputation.method]\ny = "pmm"\n[imputation.predictors.y]\nden = "fixd"',
     r"\[imputation.predictors.y\] den = 'fixd': unknown role"),
    ("", '[imputation.method]\ny = "pmm"\n[imputation.predictors.y]\nden = 1.0',
     r"\[imputation.predictors.y\] den must be an integer, got 1.0"),
    ("", '[imputation.method]\ny = "pmm"\n[imputation.predictors.grade]\nden = 1',
     r"\[imputation.predictors.grade\] 'grade' has no method"),
    ("", '[imputation.options.y]\ndonors = 3', r"\[imputation.options.y\] 'y' has no method"),
])
def test_every_section_and_key_is_checked(tmp_path, csv, data_extra, rest, fragment):
    with pytest.raises(ModelFileError, match=fragment):
        load_model_file(model(tmp_path, csv, data_extra=data_extra, rest=rest))


def test_missing_csv_and_bad_toml_are_named(tmp_path):
    with pytest.raises(ModelFileError, match=r"path 'nope.csv': no such file"):
        load_model_file(write(tmp_path, '[data]\npath = "nope.csv"\n'))
    with pytest.raises(ModelFileError, match=r"model.toml: not valid TOML"):
        load_model_file(write(tmp_path, '[data\npath = "x.csv"\n'))


def test_readme_documents_every_key():
    """The README's model-file table lists every key the loader accepts."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Model files"):]
    for section, keys in KEYS.items():
        for key in keys:
            assert f"`{key}`" in table or f"`[{section}.{key}" in table, (section, key)


@pytest.mark.parametrize("name", ["popmis", "impact", "obesity", "brandsma"])
def test_case_study_model_files_parse(name):
    parsed = load_model_file(ROOT / "models" / f"{name}.toml")
    assert parsed.method.str.len().gt(0).any() and parsed.analysis["formula"]
