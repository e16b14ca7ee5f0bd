"""One module per concept, each with a list EXERCISES (see course.assess.registry)."""
