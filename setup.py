"""Installs ``mesabench-gymnasium.pth`` beside the packages (everything else is in pyproject.toml).

The file makes ``gymnasium.make("MesaBench/...")`` work without ``import envs``:
Gymnasium 1.x has no plugin entry points any more (see
``benchmark/gymnasium_plugin.py``). A ``.pth`` file must lie at the root of the
wheel, in both a regular and an editable (``pip install -e``) build.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_FILE = "mesabench-gymnasium.pth"
PTH_LINE = "import benchmark.gymnasium_plugin; benchmark.gymnasium_plugin.install()\n"


class BuildPyWithPth(build_py):
    def run(self) -> None:
        super().run()
        # An editable build packs the install directory, not build_lib, into its wheel.
        root = self.get_finalized_command("install").install_lib if self.editable_mode else None
        target = Path(root or self.build_lib) / PTH_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(PTH_LINE)
        self._pth_output = str(target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        pth = getattr(self, "_pth_output", None)
        return [*outputs, pth] if pth and not self.editable_mode else outputs


setup(cmdclass={"build_py": BuildPyWithPth})
