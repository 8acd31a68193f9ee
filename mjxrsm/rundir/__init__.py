"""The run directory: checkpoints, logs and progress lines, the rules for --workdir and
--resume, loading a trained policy, videos and the stall watchdog."""
