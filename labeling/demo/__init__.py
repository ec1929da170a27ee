"""The synthetic demo corpus (`occ demo-data`): posts, annotations and the ground truth they were written from."""
