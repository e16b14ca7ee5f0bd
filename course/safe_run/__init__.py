"""The safe run of a learner's notebooks: from submissions to verdict rows (docs/grading.md, docs/sandbox.md).

Stages, in the order the data passes (``grade`` chains them):

- ``collect``: which notebooks belong to which learner, and their masters;
- ``canonical``: a learner's notebook rebuilt on its master's structure (its
  first cell caps the output, ``outputcap``, and plugs the judge's client in);
- ``run``: one nbval session over all canonical notebooks (``nbval_log`` its
  plugin, ``startup`` what it skips at start-up), each kernel started by
  ``sandbox`` (bubblewrap, limits), warm from a learner's fork server
  (``pool`` outside, ``forkserver`` inside, ``launcher`` in between);
- ``judge``: answers the check cells from outside the sandbox; ``client`` is
  ``check()`` inside it (plugged in through ``course.assess.seams``), ``wire``
  what crosses between them;
- ``verdicts``: one row per learner, notebook and exercise, scored with the
  master's points (``course.assess.points``);
- ``grade``: the whole chain, retries included: submissions in, rows out.

This room imports the layers below it (``course.compute``, ``course.assess``,
``course.authoring``), never ``course.gradebook``, which reads its rows
(tests/test_architecture.py).
"""
