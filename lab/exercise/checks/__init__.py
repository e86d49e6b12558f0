"""One judge per exercise: ``check(ctx)`` runs the student's program against the lab and
records expectations from what the services saw."""
