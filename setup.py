"""The project's C extension modules (everything else is in pyproject.toml).

Each is code where a per-event cost in Python would dominate a stage: the capture
ring-buffer reader, decode's value renderer, snapshots of simple probes and message
summaries, the check of its output against the schema, and irgen's scan of line
programs for a line probe. They build in place with
``pip install -e .`` (bootstrap).
"""

from setuptools import Extension, setup

CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]

setup(
    ext_modules=[
        Extension(
            "stages.capture._ringbuf",
            ["stages/capture/_ringbuf.c"],
            depends=["stages/_crc32.h"],
            extra_compile_args=CFLAGS,
        ),
        Extension(
            "stages.irgen._lines",
            ["stages/irgen/_lines.c"],
            extra_compile_args=CFLAGS,
        ),
        Extension(
            "stages._schemacheck",
            ["stages/_schemacheck.c"],
            extra_compile_args=CFLAGS,
        ),
        Extension(
            "stages.decode._render",
            [
                "stages/decode/_render.c",
                "stages/decode/_runtime.c",
                "stages/decode/_snapshots.c",
                "stages/decode/_summary.c",
            ],
            depends=["stages/decode/_render.h", "stages/_crc32.h"],
            extra_compile_args=CFLAGS,
        ),
    ],
)
