#!/usr/bin/env bash
# The main job end to end on embedded defaults: demo data -> ingest -> dataset -> train (baseline and
# ensemble) -> register -> promote -> score -> report. Local MLflow (SQLite) in the working directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$PWD/mlflow.db}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "MLflow tracking: $MLFLOW_TRACKING_URI (browse with: mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI)"
dvc repro
dvc metrics show || true
if [ -f data/report/report.html ]; then
  echo "Report: $PWD/data/report/report.html"
fi
# The review workspace on the demo's scored run: a demo admin account, its random password printed once.
DB="sqlite:///$PWD/data/review.db"
if ! occ users list --db "$DB" 2>/dev/null | grep -q '^demo-admin '; then
  PASSWORD="$(python -c 'import secrets; print(secrets.token_urlsafe(12))')"
  echo "$PASSWORD" | occ users add demo-admin --role admin --password-stdin --db "$DB" >/dev/null
  echo "Review workspace account: demo-admin / $PASSWORD  (shown once; change it with: occ users set-password demo-admin --db $DB)"
fi
echo "Open the review workspace with:"
echo "  occ serve --scored data/scored --report data/report      # then http://127.0.0.1:8765/"
