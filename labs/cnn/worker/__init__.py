"""What of the CNN lab runs in the student's process: its probes (``probes.py``) and the training probe
(``experiment.py``). The grader copies this folder into every worker's package as ``grader.worker.lab``;
nothing here knows points, checks, the reference or the known mistakes."""
