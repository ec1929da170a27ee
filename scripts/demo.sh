#!/usr/bin/env bash
# The main job end to end on embedded defaults: demo data -> ingest -> dataset -> train (baseline and
# transformer) -> register -> promote -> score -> report. Local MLflow (SQLite) in the working directory.
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
