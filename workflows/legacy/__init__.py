"""Workflow versions kept only to finish runs started before their replacements; frozen."""
