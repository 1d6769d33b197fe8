"""`python -m keras_dcgan`: the `keras-dcgan` command."""

import sys

from keras_dcgan.cli import main

if __name__ == "__main__":
    sys.exit(main())
