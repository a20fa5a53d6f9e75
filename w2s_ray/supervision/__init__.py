"""Supervision sets of controlled quality (He et al. 2024; METHODS.md section 3), for the
supervision_mix recipe: the sets (subtasks.py) and their errors, planted and measured (error_control.py).

Its own layer: it reads step structure with the step checker (score/) and builds SFT rows with
select/'s sft_row, and selection functions must not import scorers (tests/test_layering.py).
"""
