"""Package layout only (the metadata is in pyproject.toml). The repository keeps the back end in
kernels/ and the benchmarks in benchmarks/; they install as the subpackages jitgrad._kernels and
jitgrad.benchmarks, so `jitgrad` is the only top-level name the distribution puts in
site-packages (`kernels` is another project's name on the package index)."""
from setuptools import find_packages, setup

FOLDERS = {"jitgrad._kernels": "kernels", "jitgrad.benchmarks": "benchmarks"}

packages = find_packages(include=["jitgrad", "jitgrad.*"])
for name, folder in FOLDERS.items():
    packages += [name + sub[len(folder):] for sub in find_packages(include=[folder, folder + ".*"])]

setup(packages=packages, package_dir=FOLDERS)
