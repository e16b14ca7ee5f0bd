"""Grading a class: the canonical notebooks, nbval, an independent judge, reports.

- ``collect``: which notebooks belong to which learner, and their masters;
- ``canonical``: a learner's notebook rebuilt on its master's structure;
- ``judge``: verdicts from a clean process the learner's code cannot forge;
- ``session``: one nbval session over many canonical notebooks;
- ``grade``: the two combined into one row per learner and exercise;
- ``report``: grades.csv, report.html and one feedback file per learner;
- ``progress``: a learner's own table of done and not-yet exercises.
"""
