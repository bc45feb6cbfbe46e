"""The seeded demo data set behind ``fieldline demo`` (and ``make run``)."""

from server.demo.generator import DemoData, generate
from server.demo.loader import DEMO_PASSWORD, DemoError, DemoResult, Login, load_demo, run_demo

__all__ = [
    "DEMO_PASSWORD",
    "DemoData",
    "DemoError",
    "DemoResult",
    "Login",
    "generate",
    "load_demo",
    "run_demo",
]
