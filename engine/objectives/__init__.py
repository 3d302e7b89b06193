"""Objectives: catalogue functions, typed formulas and dataset models."""
