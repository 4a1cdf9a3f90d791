"""The lab's four parts: penalties, model, data, train (and the experiment that uses them)."""
