"""Write `data/breast_cancer.csv` from the copy of the data set that scikit-learn ships.

Deterministic: the same scikit-learn data gives the same bytes. Run from the repository root:

    python data/make_breast_cancer.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

OUT = Path(__file__).resolve().parent / "breast_cancer.csv"


def snake_case(name: str) -> str:
    """`'mean concave points'` -> `'mean_concave_points'`."""
    return "_".join(name.lower().split())


def build() -> pd.DataFrame:
    """The table: `id` (0..568), 30 numeric features, `target` (1 = benign, 0 = malignant)."""
    bunch = load_breast_cancer()
    features = pd.DataFrame(bunch.data, columns=[snake_case(str(n)) for n in bunch.feature_names])
    frame = pd.concat(
        [
            pd.DataFrame({"id": range(len(features))}),
            features,
            pd.DataFrame({"target": bunch.target.astype("int64")}),
        ],
        axis=1,
    )
    return frame


def main(out: Path = OUT) -> int:
    frame = build()
    frame.to_csv(out, index=False, lineterminator="\n", float_format="%.10g")
    print(f"wrote {out}: {len(frame)} rows, {frame.shape[1]} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
