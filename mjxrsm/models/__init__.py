"""The maths: diffusion schedules and samplers, the networks, the RSM losses, best-of-N acting
and DACER's entropy estimate. Pure functions of arrays; the agents compose them."""
