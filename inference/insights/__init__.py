"""Insights over a scored run (`occ report`): evidence gaps and their priority (`gaps`), opinion leaders
(`network`), and the self-contained HTML report (`report`, `templates/`)."""
