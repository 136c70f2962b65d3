"""Builds the gridflow package with its gRPC stubs generated from the checkout's proto/ directory
(protoc and grpc_python_plugin: Debian's protobuf-compiler and protobuf-compiler-grpc). The stubs
are never committed: every build makes them from the contract they speak."""
import pathlib
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate_stubs(pathlib.Path(self.build_lib))


def generate_stubs(out):
    protos = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "gridflow" / "v1").glob("*.proto"))
    if not protos:
        raise SystemExit(f"gridflow: no .proto files under {PROTO}; build from a Gridflow checkout")
    plugin = shutil.which("grpc_python_plugin")
    if plugin is None:
        raise SystemExit("gridflow: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)")
    subprocess.run(["protoc", f"--proto_path={PROTO}", f"--python_out={out}", f"--grpc_python_out={out}",
                    f"--plugin=protoc-gen-grpc_python={plugin}", *protos], check=True)
    (out / "gridflow" / "v1" / "__init__.py").touch()


setup(cmdclass={"build_py": BuildWithStubs})
