"""Replay (Roscow et al. 2021): prioritised experience replay, prioritised memory access on mazes,
continual-learning replay and DQN with uniform vs prioritised replay."""
