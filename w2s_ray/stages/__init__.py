"""The stage library recipes compose: the stage bodies that go through the manifest (steps.py:
generate and score, select, train), given the run's context (run/context.py).

It sits below the recipes and knows none of them: a recipe imports stages, never the other way.
"""
