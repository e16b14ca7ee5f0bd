"""Grading a class, as a pipeline of stages (``grade`` chains them; docs/grading.md):

- ``collect``: which notebooks belong to which learner, and their masters;
- ``canonical``: a learner's notebook rebuilt on its master's structure;
- ``run``: one nbval session over all canonical notebooks, each kernel started
  by ``sandbox`` (bubblewrap, limits), the ``judge`` answering the check cells
  from outside (``client`` is ``check()`` inside the sandbox, ``wire`` what
  crosses between them);
- ``verdicts``: one row per learner, notebook and exercise;
- ``report``: grades.csv, report.html and one feedback file per learner;
- ``progress``: a learner's own table of done and not-yet exercises;
- ``shards``: a class graded in parts (``--shard K/N``) and the parts merged;
- ``gradescope``: the autograder archive Gradescope runs, and its run.
"""
