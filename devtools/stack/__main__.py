import sys

from devtools.stack.stack import main

if __name__ == "__main__":
    sys.exit(main())
