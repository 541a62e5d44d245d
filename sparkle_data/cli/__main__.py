import sys

from sparkle_data.cli import main

sys.exit(main())
