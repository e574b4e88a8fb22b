"""Training, evaluation, model artifacts and prediction."""
