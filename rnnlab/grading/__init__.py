"""Graded exercises: the glue around otter-grader (``build`` makes student copies and autograders,
``cli`` grades a folder of submissions into a gradebook)."""
