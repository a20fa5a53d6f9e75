"""The round driver: stages in order, recorded in the manifest, resumable."""
