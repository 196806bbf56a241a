#!/usr/bin/env python
"""The Fashion-MNIST demo behind `make demo`: train CE and LS models, evaluate, write runs/demo/report/report.md.

    python scripts/demo.py [--out runs/demo] [--data data] [--alphas 0 0.1 0.2 0.3] [--force 1] [--overrides epochs=2]
"""
from lsfix.demo import main

if __name__ == "__main__": main()
