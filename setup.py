"""echo: pitch-aware speech recognition recipes (see README.md).

Dependencies are pinned in tools/requirements.txt and installed by tools/install.sh;
install_requires only names them so that `pip install -e .` into another environment works.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

version = re.search(r'__version__ = "([^"]+)"', Path("echo/__init__.py").read_text()).group(1)

setup(
    name="echo-asr",
    version=version,
    description="Pitch-aware rotary transformers for speech recognition, with Kaldi-style recipes",
    python_requires=">=3.10",
    packages=find_packages(include=["echo", "echo.*"]),
    install_requires=[
        "torch", "numpy", "sentencepiece", "kaldiio", "pyworld", "jiwer", "configargparse",
        "pyyaml", "soundfile", "soxr", "kaldi-native-fbank", "tqdm", "tensorboard", "matplotlib",
    ],
    entry_points={"console_scripts": ["echo-transcribe = echo.bin.transcribe:main"]},
)
