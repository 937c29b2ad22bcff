"""Design-space sweeps: report recipes expanded into points, run in parallel, cached, resumable."""

from accelsim.sweep.recipe import Recipe, RecipeSpec, expand, load_recipe
from accelsim.sweep.run import run_sweep

__all__ = ["Recipe", "RecipeSpec", "expand", "load_recipe", "run_sweep"]
