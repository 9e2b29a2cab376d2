"""Helpers shared by the deploy tests (compose_check.py, k8s_test.py).

Run under Debian's /usr/bin/python3, whose `yaml` module is Debian's python3-yaml.
"""

import importlib
import os
import re
import subprocess
import sys

OWNERS = ("gateway", "core-service", "both")


class Failures:
    """Collects failed checks, so that one run reports all of them."""

    def __init__(self, name):
        self.name = name
        self.items = []
        self.passed = 0

    def check(self, condition, message):
        if condition:
            self.passed += 1
        else:
            self.items.append(message)
        return condition

    def fail(self, message):
        self.items.append(message)

    def finish(self):
        for item in self.items:
            print(f"FAIL {self.name}: {item}", file=sys.stderr)
        print(f"{self.name}: {self.passed} checks passed, {len(self.items)} failed")
        return 1 if self.items else 0


def import_yaml():
    """Debian's python3-yaml; installed with apt-get when missing (as root)."""
    try:
        return importlib.import_module("yaml")
    except ImportError:
        if os.geteuid() != 0:
            sys.exit("error: python3-yaml is missing (apt-get install python3-yaml)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                        "python3-yaml"], check=True, env=env)
    return importlib.import_module("yaml")


def environment_name(key):
    """The TCHATATOR_<KEY> variable of a configuration key (common/settings.cc)."""
    return "TCHATATOR_" + key.replace("-", "_").upper()


def config_keys(core_bin):
    """{TCHATATOR_NAME: owner} from `tchatator-core --print-config`, the key table's
    own rendering: `# ---- OWNER` section lines, then `key=default` lines."""
    out = subprocess.run([core_bin, "--print-config"], check=True, capture_output=True,
                         text=True).stdout
    keys = {}
    owner = None
    for line in out.splitlines():
        section = re.match(r"^# ---- (\S+)$", line)
        if section:
            owner = section.group(1)
            continue
        entry = re.match(r"^([a-z0-9-]+)=", line)
        if entry:
            keys[environment_name(entry.group(1))] = owner
    if len(keys) < 10 or any(owner not in OWNERS for owner in keys.values()):
        sys.exit(f"error: cannot read the configuration keys from {core_bin} --print-config")
    return keys


def keys_read_by(keys, daemon):
    """Variables a daemon ('gateway' or 'core-service') reads."""
    return {name for name, owner in keys.items() if owner in (daemon, "both")}
