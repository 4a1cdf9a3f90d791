"""The labs this kit grades, one package each, whose ``LAB`` (``grader.lab.Lab``) names its parts,
files and functions: the grader's core reads them from there."""

# The course's lab when neither --lab, REGLAB_LAB nor reglab.toml names one and several are here (a
# student release or an autograder ships one lab, which needs no default).
DEFAULT = "regularization"
