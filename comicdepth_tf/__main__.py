import sys

from comicdepth_tf.cli import main

sys.exit(main())
