"""The labs this kit grades, one package each, whose ``LAB`` (``grader.lab.Lab``) names its parts,
files and functions: the grader's core reads them from there."""
