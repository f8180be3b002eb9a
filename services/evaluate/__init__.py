"""Evaluate: prompt files with test data and evaluators, run on 1 to 4 targets with honest statistics."""
