"""Write `data/wine.csv` (multi-class) and `data/diabetes.csv` (regression) from the copies of
these data sets that scikit-learn ships.

Deterministic: the same scikit-learn data gives the same bytes. Run from the repository root:

    python data/make_datasets.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_diabetes, load_wine

HERE = Path(__file__).resolve().parent


def snake_case(name: str) -> str:
    """`'od280/od315_of_diluted_wines'` -> `'od280_od315_of_diluted_wines'`."""
    return "_".join(name.lower().replace("/", " ").split())


def wine() -> pd.DataFrame:
    """`id`, 13 chemical measurements, `target` (cultivar 0, 1 or 2)."""
    bunch = load_wine()
    features = pd.DataFrame(bunch.data, columns=[snake_case(str(n)) for n in bunch.feature_names])
    target = pd.DataFrame({"target": bunch.target.astype("int64")})
    return pd.concat([pd.DataFrame({"id": range(len(features))}), features, target], axis=1)


def diabetes() -> pd.DataFrame:
    """`id`, 10 baseline variables in their original units, `target` (disease progression)."""
    bunch = load_diabetes(scaled=False)
    features = pd.DataFrame(bunch.data, columns=[str(n) for n in bunch.feature_names])
    target = pd.DataFrame({"target": bunch.target.astype("int64")})
    return pd.concat([pd.DataFrame({"id": range(len(features))}), features, target], axis=1)


def main(out: Path = HERE) -> int:
    for name, frame in (("wine", wine()), ("diabetes", diabetes())):
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")
        print(f"wrote {path}: {len(frame)} rows, {frame.shape[1]} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
