"""Build the rANS entropy coder as a C extension (no numpy headers: it uses the buffer protocol)."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "edgecodec.codec.entropy._rans",
            sources=["edgecodec/codec/entropy/_rans.c"],
            extra_compile_args=["-O3", "-std=c99"],
        )
    ]
)
