"""What of the regularization lab runs in the student's process: its probes (``probes.py``, which
imports the rest), the probes' own networks, the stand-in penalties and the training probe. The grader
copies this folder into every worker's package as ``grader.worker.lab``; nothing here knows points,
checks, the reference or the known mistakes."""
