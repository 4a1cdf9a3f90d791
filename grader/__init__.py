"""reglab's grader. Subpackage ``grader.worker`` runs inside the student's process; the rest judges."""
