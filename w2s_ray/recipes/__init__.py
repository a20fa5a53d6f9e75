"""Recipes: one file per method of METHODS.md, each composing the shared stages top to bottom."""
