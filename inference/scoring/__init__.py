"""Batch scoring (`occ score`): the row pipeline plus one pinned model version, local (`run`) or on Spark
(`spark`), writing the scored-output contract (`outputs`)."""
