"""`python -m dancenow.synth ...` and `torchrun --nproc_per_node N -m dancenow.synth ...`: the
`dancenow train` command as a module, for launchers that take a module (torchrun -m)."""

import logging
import sys

from dancenow.commands.synth import train_cmd

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    train_cmd.main(sys.argv[1:], prog_name="python -m dancenow.synth")
