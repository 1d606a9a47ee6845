import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bayesimpute.cli import main
from bayesimpute.model_file import load_model_file

ROOT = Path(__file__).resolve().parents[1]


def test_popmis_model_file_parses():
    model = load_model_file(ROOT / "models" / "popmis.toml")
    assert model.cluster == "school"
    assert model.method["popular"] == "2l.pmm"
    row = model.predictor_matrix.loc["popular"]
    assert row["school"] == -2 and row["sex"] == 2 and row["texp"] == 1 and row["teachpop"] == 0
    assert model.settings == {"m": 5, "maxit": 10, "seed": 123}


def test_cli_run_writes_outputs(tmp_path):
    code = main(["run", str(ROOT / "models" / "popmis.toml"), "--out", str(tmp_path),
                 "--m", "2", "--maxit", "3"])
    assert code == 0
    for name in ("imputation.nc", "trace.png", "pooled.csv", "variance_components.csv"):
        assert (tmp_path / name).stat().st_size > 0
    pooled = pd.read_csv(tmp_path / "pooled.csv", index_col=0)
    assert list(pooled.index) == ["Intercept", "texp", "sex"]


def test_bad_model_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[data]\ndataset = "popmis"\n[imputation.method]\nnope = "2l.pmm"\n')
    assert main(["run", str(bad), "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "bayesimpute.cli", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout


@pytest.mark.parametrize("name", ["popmis", "impact", "obesity", "brandsma"])
def test_every_case_study_model_file_is_valid(name):
    import bayesimpute as bi
    from bayesimpute.engine.spec import build_spec

    model = load_model_file(ROOT / "models" / f"{name}.toml")
    spec = build_spec(model.data, **{k: v for k, v in model.impute_kwargs().items()
                                     if k != "n_jobs"})
    assert spec.imputed, name
    assert model.analysis["formula"]
    assert bi.available_methods()  # registry loaded


def test_cli_imputes_brandsma_den_as_a_school_level_factor(tmp_path):
    """brandsma through the CLI with the default methods (models/brandsma.toml's [data] and
    defaults, on fewer columns to keep the test short): den is constant within every
    school in every completed dataset of the file the CLI writes."""
    import bayesimpute as bi

    model = tmp_path / "brandsma.toml"
    model.write_text(
        '[data]\ndataset = "brandsma"\ncluster = "sch"\n'
        'columns = ["sch", "iqv", "ses", "lpo", "den", "ssi"]\n'
        '[imputation]\ndefaults = "make_method"\nseed = 5\n'
    )
    code = main(["run", str(model), "--out", str(tmp_path), "--m", "2", "--maxit", "2"])
    assert code == 0
    imp = bi.MultipleImputation.from_netcdf(tmp_path / "imputation.nc")
    assert imp.method["den"] == "2lonly.polyreg" and imp.method["ssi"] == "2lonly.pmm"
    for i in range(imp.m):
        completed = imp.complete(i)
        assert completed["den"].notna().all()
        assert (completed.groupby("sch")[["den", "ssi"]].nunique() == 1).all().all(), i
