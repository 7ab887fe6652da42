import sys

from sgtm.cli import main

sys.exit(main())
