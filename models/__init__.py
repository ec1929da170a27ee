"""Models: the model families and the servable artifact contract.

Imports nothing else from the project: label names arrive as `TaskSpec` arguments, never from a file.
"""
