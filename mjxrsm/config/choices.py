"""The names of the options the numerical modules implement (diffusion schedules and samplers,
Q normalisations, activations), kept free of JAX so that the config can be checked against them
before JAX is imported. The modules that implement them import these tuples."""

SCHEDULES = ("linear", "cosine", "vp")
SAMPLERS = ("ddpm", "ddim", "langevin")
VARIANCES = ("posterior", "beta", "exact_diag")
Q_NORMS = ("official", "standardize", "none")
POLICY_SAMPLES = ("td_next", "particles")  # DPMD's policy-step samples
ACTIVATIONS = ("mish", "relu", "silu", "tanh", "gelu", "elu")
ACT_WITH = ("target", "online")
