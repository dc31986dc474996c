import sys

from fraud_mlops.local_stack.stack import main

if __name__ == "__main__":
    sys.exit(main())
