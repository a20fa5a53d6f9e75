"""The run record: the manifest (every stage, its inputs and outputs by sha256), stage IO, stage
tags, the run directory's lock and atomic writes (below every stage); and above the stage library, the
run's context (context.py, model_builds.py) and the driver that hands a run to its recipe."""
