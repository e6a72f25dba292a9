import sys

from crmsync.cli import main

sys.exit(main())
