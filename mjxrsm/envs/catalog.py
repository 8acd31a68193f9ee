"""The task names of each source (and the engines they run on), kept free of JAX: checking a
config's env name (and listing the valid ones) must not import JAX, Brax or MuJoCo, so that bad
input is refused at once. The task
modules (toy.py, brax_mjx.py, playground.py) take their names from here."""

from __future__ import annotations

TOY_TASKS: tuple[str, ...] = ("point_mass", "pendulum")

# The lower-case names of the paper's tasks are the Gymnasium-faithful tasks (what the paper ran,
# on the fastest engine of the machine); Brax's own versions of them keep a `brax_` prefix.
ALIASES: dict[str, str] = {
    "humanoid": "Humanoid-v5",
    "ant": "Ant-v5",
    "halfcheetah": "HalfCheetah-v5",
    "hopper": "Hopper-v5",
    "walker2d": "Walker2d-v5",
    "swimmer": "Swimmer-v5",
}
BRAX_PREFIX = "brax_"

BRAX_TASKS: tuple[str, ...] = (
    "brax_humanoid",
    "brax_ant",
    "brax_halfcheetah",
    "brax_hopper",
    "brax_walker2d",
    "reacher",
    "pusher",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "humanoidstandup",
)

BRAX_UNSUPPORTED: dict[str, str] = {
    "brax_swimmer": (
        "Brax's 'swimmer' does not support the MJX backend (brax raises 'Unsupported backend: "
        "mjx'; it only runs on Brax's 'generalized' pipeline). Use 'Swimmer-v5' from the "
        "Gymnasium-faithful tasks ('swimmer')."
    ),
}

# The physics engines each source's tasks run on (mjxrsm/envs/engines; the first is `auto`'s choice
# where `c` is not among them): the Gymnasium-faithful tasks are written against the engine seam,
# Brax's tasks are MJX code, Playground's take MJX's `impl`, the toy tasks are plain JAX.
ENGINES: dict[str, tuple[str, ...]] = {
    "toy": ("jax",),
    "brax": ("jax",),
    "gymnasium": ("jax", "warp", "c"),
    "playground": ("jax", "warp"),
}

PLAYGROUND_TASKS: tuple[str, ...] = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)
_OFFLINE_REASON = ("a Playground robot task: its model comes from MuJoCo Menagerie, which "
                   "Playground clones from GitHub at run time (no network here)")
PLAYGROUND_UNAVAILABLE: dict[str, str] = {
    name: _OFFLINE_REASON
    for name in (
        "ApolloJoystickFlatTerrain", "BarkourJoystick", "BerkeleyHumanoidJoystickFlatTerrain",
        "BerkeleyHumanoidJoystickRoughTerrain", "G1JoystickFlatTerrain", "G1JoystickRoughTerrain",
        "Go1JoystickFlatTerrain", "Go1JoystickRoughTerrain", "Go1Getup", "Go1Handstand",
        "Go1Footstand", "H1InplaceGaitTracking", "H1JoystickGaitTracking", "Op3Joystick",
        "SpotFlatTerrainJoystick", "SpotGetup", "SpotJoystickGaitTracking",
        "T1JoystickFlatTerrain", "T1JoystickRoughTerrain", "AlohaHandOver",
        "AlohaSinglePegInsertion", "PandaPickCube", "PandaPickCubeOrientation",
        "PandaPickCubeCartesian", "PandaOpenCabinet", "PandaRobotiqPushCube",
        "LeapCubeReorient", "LeapCubeRotateZAxis", "AeroCubeRotateZAxis",
    )
}
