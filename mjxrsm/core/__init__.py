"""The jitted core: the fused training chunk, the replay ring, the device mesh, the update
schedule, observation statistics and the evaluation episodes. Everything here runs inside jit."""
