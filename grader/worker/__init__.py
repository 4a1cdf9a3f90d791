"""The code that runs inside the student's process.

It imports the submission, calls its functions on seeded inputs (the probes) and writes back
plain data. It knows nothing about points, checks or the reference, and imports nothing from
the judging side of the grader: only ``grader.worker.*``, the standard library, NumPy and torch.
"""
