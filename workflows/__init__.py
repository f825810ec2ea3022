"""Deterministic workflow code only: `AnalysisRunV4` drives one analysis run;
`legacy` holds the frozen earlier types this build still hosts (`swath.temporal.versions`)."""
