"""The 2D toy's data sets and field (`pipelines/toy2d.py`), and the Train tab's settings and points
(`pipelines/toy_training.py`, `pipelines/toy_points.py`)."""

from pipelines.defaults.forward_process import SCHEDULES

DATA_SETS = ("two moons", "ring", "word")
WORD = "HI"  # the letters of the "word" data set: few and large, so that they read at a glance
TOY_SCHEDULES = tuple(name for name, settings in SCHEDULES.items() if settings is not None)  # not "model"
PARTICLES = 1000  # points shown and sampled
GRID_LIMIT, GRID_POINTS = 2.0, 21  # the score field's arrows: a 21x21 grid over [-2, 2]²

STEPS_RANGE = (50, 5000)  # of a training
DEFAULT_STEPS = 1500
WIDTHS = (32, 64, 128)  # of the network's three hidden layers
DEFAULT_WIDTH = 64
MIN_POINTS, MAX_POINTS = 20, 5000  # points a training takes
CANVAS_LIMIT = GRID_LIMIT  # typed points must lie in the square the field is drawn on, [-2, 2]²
