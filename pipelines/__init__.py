"""The app's diffusion tasks, one module each, over diffusers and torch.

torch's CPU kernels run on an OpenMP pool (libgomp) whose idle workers spin 300,000 times, by
default, before they sleep. On a small shared machine a spinning worker takes the core that another
process, or the web server's own threads, need, and a worker descheduled in the middle of a parallel
region makes the other spin until it returns: one default run through the server beside a one-thread
training job took 52.7 s with the default and 9.5 s with a spin count of 10,000 (`python -m
bench.load --students 1`, the same minute; docs/serving.md). A short spin keeps a quiet machine's
speed, where not spinning at all (OMP_WAIT_POLICY=PASSIVE) made the default run 3x slower; beside a
busy process, a text-to-image run took 27.6 s with the default, 2.3 s with the app's setting, 0.7 s
not spinning (`python -m bench.spin [--busy 1]`, bench/results-spin.md). libgomp reads it when
torch loads, hence here, where every import of the app's torch code starts; an operator's own
setting wins.
"""

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")
