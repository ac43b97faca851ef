"""The team's trainer, as its image runs it (`python trainer.py ARGS`): a scikit-learn logistic
regression on a CSV, the model saved where Vertex AI says (`AIP_MODEL_DIR`).

It knows nothing of vtp. Locally, vtp maps the image to this command (`VTP_IMAGE_COMMANDS`);
`gs://` paths in its arguments arrive as paths on the local Cloud Storage root, as `/gcs/` paths
do on Vertex.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--label", default="target")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=500)
    args = parser.parse_args(argv)
    if args.C <= 0:
        print(f"--C must be positive, got {args.C}", file=sys.stderr)
        return 2
    frame = pd.read_csv(args.data)
    features = [c for c in frame.columns if c not in (args.label, "id")]
    train, test = train_test_split(frame, test_size=0.25, random_state=0)
    model = LogisticRegression(C=args.C, max_iter=args.max_iter)
    model.fit(train[features].values, train[args.label].values)
    auc = roc_auc_score(test[args.label].values, model.predict_proba(test[features].values)[:, 1])
    out = Path(os.environ["AIP_MODEL_DIR"].replace("gs://", "/gcs/"))
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    (out / "metrics.json").write_text(json.dumps({"auc": auc, "C": args.C, "features": features}))
    print(f"trained with C={args.C}: auc={auc:.4f}, model in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
