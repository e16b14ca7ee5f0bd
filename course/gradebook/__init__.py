"""The gradebook: from verdict rows to scores, reports, feedback and every export (docs/grading.md).

- ``totals``: the one way scores are counted (per learner, per concept, pass rates);
- ``report``: grades.csv, the feedback file per learner, and ``report_html``
  (its styles in ``report_style``): the class report;
- ``roster``: the class list a report and the exports are matched against;
- ``canvas``: the gradebook file Canvas imports;
- ``gradescope``: the autograder archive Gradescope runs, and its run there;
- ``progress``: a learner's own table of done and not-yet exercises;
- ``shards``: a class graded in parts (``--shard K/N``) and the parts merged;
- ``cli``: ``course grade`` and ``course progress`` (``bar``: their progress bar).

A new export (Moodle, say) is one module here that reads rows
(``course.safe_run.verdicts.Row``) and ``totals``. This room imports
``course.safe_run`` (to grade) and the layers below it; nothing but the command
line imports this room (tests/test_architecture.py).
"""
