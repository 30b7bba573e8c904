"""Fitting, cross-validation and fine-tuning of the triage models: imported only by `socialdesk train`."""
