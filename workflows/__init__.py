"""Deterministic workflow code only: `AnalysisRunWorkflow` drives one analysis run."""
