"""Training: a checkpointed loop (``codeclens.training.loop.Trainer``), models by name
(``codeclens.training.models``), the Friedland experiment (``codeclens.training.friedland``) and the
``codeclens train`` commands (``codeclens.training.commands``, imported without torch)."""
