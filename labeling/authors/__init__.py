"""Who is speaking: per-author type and specialty, and which accounts on different platforms are one person."""
