"""The task names of each source, kept free of JAX: checking a config's env name (and listing the
valid ones) must not import JAX, Brax or MuJoCo, so that bad input is refused at once. The task
modules (toy.py, brax_mjx.py, playground.py) take their names from here."""

from __future__ import annotations

TOY_TASKS: tuple[str, ...] = ("point_mass", "pendulum")

BRAX_TASKS: tuple[str, ...] = (
    "humanoid",
    "ant",
    "halfcheetah",
    "hopper",
    "walker2d",
    "reacher",
    "pusher",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "humanoidstandup",
)

BRAX_UNSUPPORTED: dict[str, str] = {
    "swimmer": (
        "Brax's 'swimmer' does not support the MJX backend (brax raises 'Unsupported backend: "
        "mjx'; it only runs on Brax's 'generalized' pipeline). Use 'Swimmer-v5' from the "
        "Gymnasium-faithful MJX tasks if available."
    ),
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
