"""Recipes: one folder per method of METHODS.md (recipes/base.py says what a folder holds). A folder
registers its recipe by existing: no list elsewhere names it."""
from w2s_ray.recipes.base import Recipe, recipe, recipe_config, recipe_names, register_recipe

__all__ = ["Recipe", "recipe", "recipe_config", "recipe_names", "register_recipe"]
