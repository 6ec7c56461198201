"""Puts pip into an empty virtual environment, as the get-pip.py that ansible-test expects.

ansible-test creates each sanity test's environment without pip and runs a cached
get_pip_<version>.py in it, downloading that script from a host outside the package
registries when the cache lacks it. scripts/sanity.sh places this file in that cache instead:
pip comes from the interpreter's own ensurepip, then moves to the version ansible-test pins
through the package index, like every other requirement of the sanity tests.

Called as get-pip.py is: python get_pip_X.py [pip options] pip==X [--no-setuptools] [--no-wheel]
"""

import subprocess
import sys

# get-pip.py's own flags; everything else goes to `pip install` as it would there.
OWN_FLAGS = {"--no-setuptools": "setuptools", "--no-wheel": "wheel"}


def main(argv: list[str]) -> int:
    unwanted = [OWN_FLAGS[arg] for arg in argv if arg in OWN_FLAGS]
    install_args = [arg for arg in argv if arg not in OWN_FLAGS]
    pip = [sys.executable, "-m", "pip"]
    steps = [
        [sys.executable, "-m", "ensurepip", "--default-pip"],
        [*pip, "install", *install_args],
    ]
    # ensurepip of this Python also brings setuptools; the environment must hold only pip.
    if unwanted:
        # -qq: a package that ensurepip did not bring is no news.
        steps.append([*pip, "uninstall", "-qq", "--yes", "--disable-pip-version-check", *unwanted])
    for step in steps:
        done = subprocess.run(step, check=False, stdout=subprocess.DEVNULL)
        if done.returncode:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
