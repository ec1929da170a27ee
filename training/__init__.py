"""Training: datasets into models, evaluation, MLflow tracking, registration and promotion."""
