"""The stage library recipes compose: what a run needs (context.py), the stage bodies that go through
the manifest (steps.py: generate and score, select, train), built-in model builds (model_builds.py).

It sits below the recipes and knows none of them: a recipe imports stages, never the other way.
"""
