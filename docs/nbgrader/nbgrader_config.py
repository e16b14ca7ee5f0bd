# nbgrader's configuration for the Gradflow course: copy it into your nbgrader
# course folder (docs/grading.md, "With nbgrader"). The masters in solutions/
# carry nbgrader's cell metadata (written by `python -m course build`); this
# file makes nbgrader release exactly the course's exercise notebooks and
# grade them as the course does.
# Needs the course package importable by nbgrader's Python:
#   pip install -e '.[nbgrader]'   (in the course checkout)

from nbconvert.preprocessors import TagRemovePreprocessor
from nbgrader.converters import GenerateAssignment

from course.authoring.build import STUB

c = get_config()  # noqa: F821  (defined by traitlets when it loads this file)

# An exercise's solution region becomes the course's one-line stub (nbgrader's
# default is two lines), so the released code is exercises/'s.
c.ClearSolutions.code_stub = {"python": STUB}

# Cells tagged `solution-only` (notes for the instructor, demonstrations that
# call the solved functions) are not released, as `course build` leaves them out.
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = {"solution-only"}
c.GenerateAssignment.preprocessors = [TagRemovePreprocessor, *GenerateAssignment.preprocessors.default()]

# A check cell the learner deleted is put back before grading (its source
# comes from the gradebook, like every locked cell's), as `course grade` does.
c.OverwriteCells.add_missing_cells = True

# Seconds per cell and for a kernel to start: generous, as in `course grade`
# (a busy machine is not a slow notebook; each check has its own, shorter,
# time limit for the learner's function).
c.Execute.timeout = 120
c.Execute.startup_timeout = 120
