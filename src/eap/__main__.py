"""`python -m eap`: the eap command line."""

from eap.cli import main

if __name__ == "__main__":
    main()
