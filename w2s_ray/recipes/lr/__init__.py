"""Parts of the LightReasoner recipe that are not stages of every method: its contrast stage and the
questions both it and its rejection-sampling baseline sample."""
