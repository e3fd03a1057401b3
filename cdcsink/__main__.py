import sys

from cdcsink.cli import main

sys.exit(main())
