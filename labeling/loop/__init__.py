"""The labeling loop: what to label next, agreement, adjudication, label errors, Label Studio exchange."""
