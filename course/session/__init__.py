"""A live class view for instructor-led sessions.

Learners' check cells report each verdict (exercise, passed, hint code, time;
never code or answers) to a small server on the instructor's machine, and the
instructor's page shows the class live. Beside the grading packages, above
``course.assess`` (whose ``events`` seam it listens to); it imports nothing
of the grader.

- ``catalog``: what the server knows of the course (exercise ids, hint codes and texts);
- ``store``: the events in SQLite, each stored once;
- ``rules``: what a valid event is, and the per-learner rate limit;
- ``server``: the tornado server and the instructor's page (``page/``);
- ``client``: ``course.join`` / ``course.leave`` in a learner's kernel.
"""
