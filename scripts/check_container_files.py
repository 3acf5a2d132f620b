"""What hadolint and `docker compose config` do not check in the container and dev-loop
files: every file they reference exists, every service can be health-checked, Prometheus
scrapes services that exist, and the Tiltfile and skaffold.yaml point at real paths.

The Tiltfile is evaluated (starlark-rust) with recording stand-ins for Tilt's built-ins, so
the paths checked are the ones it really passes, in both of its modes. The kustomize
overlays are written separately: absent ones are noted, not failed; present ones are
rendered with `kubectl kustomize` and must hold what the Tiltfile and skaffold expect.

Run by scripts/check-container-files.sh, which installs the modules it imports.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import starlark
import yaml

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "ghcr.io/herald-dev/herald"
OVERLAY = re.compile(r"^k8s/overlays/[^/]+$")
# Built locally by the Tiltfile's compile step, so absent in a fresh checkout.
GENERATED = "target/"

failures: list[str] = []
notes: list[str] = []


def fail(message: str) -> None:
    failures.append(message)


def require_path(path: str, what: str) -> bool:
    """Whether `path` (relative to the repository) exists; an absent overlay is a note."""
    if (ROOT / path).exists():
        return True
    if OVERLAY.match(path.rstrip("/")):
        notes.append(f"{what}: {path} is absent (the overlays are written separately)")
    elif path.startswith(GENERATED):
        notes.append(f"{what}: {path} is made by the build, not checked in")
    else:
        fail(f"{what}: {path} does not exist")
    return False


def check_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for binary in ("herald-ingest", "herald-dispatcher", "herald-dlq", "herald-operator"):
        if f"--bin {binary}" not in text:
            fail(f"Dockerfile: does not build {binary}")
    final = text[text.rindex("\nFROM ") :]
    if not re.search(r"^USER \d+(:\d+)?$", final, re.M):
        fail("Dockerfile: the runtime stage needs a numeric non-root USER")
    if not re.search(r"^CMD \[", final, re.M):
        fail("Dockerfile: the runtime stage needs a default CMD")
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip().strip("/") for p in lines if p.strip() and not p.startswith(("#", "!"))]
    # Workspace members, and files embedded at compile time: the build fails without them.
    for needed in ("Cargo.lock", "migrations/x.sql", "docs/api-intro.md", "services/x", "operator/x", "chaos/x"):
        for pattern in patterns:
            if needed == pattern or needed.startswith(pattern + "/"):
                fail(f".dockerignore: {pattern} excludes {needed}, which the build needs")


def check_compose(rendered: Path) -> None:
    project = json.loads(rendered.read_text())
    services = project.get("services", {})
    for name, service in services.items():
        where = f"docker-compose.yml: service {name}"
        if "image" not in service and "build" not in service:
            fail(f"{where}: neither image nor build")
        if build := service.get("build"):
            context = Path(build["context"])
            if not context.is_dir():
                fail(f"{where}: build context {context} is missing")
            elif not (context / build.get("dockerfile", "Dockerfile")).is_file():
                fail(f"{where}: Dockerfile {build.get('dockerfile')} is missing")
        # Herald's image has no shell or HTTP client to probe with; Prometheus watches it.
        if "healthcheck" not in service and not service.get("image", "").startswith(IMAGE):
            fail(f"{where}: no healthcheck")
        for dependency, spec in service.get("depends_on", {}).items():
            if dependency not in services:
                fail(f"{where}: depends on unknown service {dependency}")
            elif spec.get("condition") == "service_healthy" and "healthcheck" not in services[dependency]:
                fail(f"{where}: waits for {dependency} to be healthy, which has no healthcheck")
        for volume in service.get("volumes", []):
            if volume.get("type") == "bind" and not Path(volume["source"]).exists():
                fail(f"{where}: bind mount source {volume['source']} is missing")
    for name, secret in project.get("secrets", {}).items():
        if "file" in secret and not Path(secret["file"]).is_file():
            fail(f"docker-compose.yml: secret {name} file {secret['file']} is missing")
    check_prometheus(services)
    dashboard = ROOT / "k8s/monitoring/dashboards/herald.json"
    json.loads(dashboard.read_text())


def check_prometheus(services: dict) -> None:
    path = ROOT / "compose/prometheus.yml"
    if not path.is_file():
        return  # reported as a missing bind mount
    config = yaml.safe_load(path.read_text())
    published = {
        (name, str(port["target"])) for name, s in services.items() for port in s.get("ports", [])
    }
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                if host not in services:
                    fail(f"compose/prometheus.yml: job {job['job_name']} scrapes unknown service {host}")
                elif (host, port) not in published:
                    fail(f"compose/prometheus.yml: {target} is not a port service {host} exposes")


class Tilt:
    """Stand-ins for the Tilt built-ins the Tiltfile uses, recording what they are given."""

    def __init__(self, flags: dict):
        self.flags = flags
        self.images: list[str] = []
        self.resources: list[str] = []
        self.objects: list[dict] = []

    def module(self) -> starlark.Module:
        m = starlark.Module()
        m.add_callable("_define_bool", lambda *a, **k: None)
        m.add_callable("_parse", lambda: dict(self.flags))
        m.add_callable("docker_build", self.docker_build)
        m.add_callable("local_resource", self.local_resource)
        m.add_callable("local", lambda cmd, **k: "")
        m.add_callable("sync", lambda src, dest: require_path(src, "Tiltfile sync") and None)
        m.add_callable("kustomize", lambda path, **k: require_path(path, "Tiltfile kustomize") and path)
        m.add_callable("decode_yaml_stream", lambda path: render(path) if path else [])
        m.add_callable("encode_yaml_stream", self.encode_yaml_stream)
        m.add_callable("k8s_yaml", lambda *a, **k: None)
        m.add_callable("k8s_resource", self.k8s_resource)
        return m

    def docker_build(self, ref, context, dockerfile="Dockerfile", **kwargs):
        self.images.append(ref)
        require_path(context, "Tiltfile docker_build context")
        require_path(dockerfile, "Tiltfile docker_build dockerfile")

    def local_resource(self, name, cmd, deps=(), **kwargs):
        for dep in deps:
            require_path(dep, f"Tiltfile local_resource {name} deps")

    def k8s_resource(self, workload, **kwargs):
        self.resources.append(workload)

    def encode_yaml_stream(self, objects):
        self.objects = objects
        return ""


def check_tiltfile() -> list[str]:
    source = (ROOT / "Tiltfile").read_text()
    globals_ = starlark.Globals.extended_by([starlark.LibraryExtension.StructType])
    dialect = starlark.Dialect.extended()
    workloads: set[str] = set()
    for flags in ({"full-build": False}, {"full-build": True}):
        tilt = Tilt(flags)
        module = tilt.module()
        prelude = "config = struct(define_bool = _define_bool, parse = _parse)"
        starlark.eval(module, starlark.parse("prelude", prelude, dialect), globals_)
        try:
            starlark.eval(module, starlark.parse("Tiltfile", source, dialect), globals_)
        except starlark.StarlarkError as error:
            fail(f"Tiltfile ({flags}): {error}")
            continue
        if tilt.images != [IMAGE]:
            fail(f"Tiltfile ({flags}): builds {tilt.images}, expected exactly {IMAGE}")
        read_only = [
            c["name"] for c in herald_containers(tilt.objects) if c.get("securityContext", {}).get("readOnlyRootFilesystem")
        ]
        if read_only and not flags["full-build"]:
            fail(f"Tiltfile: live update cannot write into read-only containers {read_only}")
        workloads.update(tilt.resources)
    return sorted(workloads)


def check_skaffold() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    if not str(config.get("apiVersion", "")).startswith("skaffold/v4beta"):
        fail(f"skaffold.yaml: apiVersion {config.get('apiVersion')} is not skaffold/v4beta*")
    profiles = {p["name"]: p for p in config.get("profiles", [])}
    for wanted in ("dev", "prod"):
        if wanted not in profiles:
            fail(f"skaffold.yaml: no {wanted} profile")
    for where, section in [("base", config)] + [(f"profile {n}", p) for n, p in profiles.items()]:
        for artifact in section.get("build", {}).get("artifacts", []):
            if artifact["image"] != IMAGE:
                fail(f"skaffold.yaml {where}: builds {artifact['image']}, expected {IMAGE}")
            context = artifact.get("context", ".")
            require_path(str(Path(context) / artifact.get("docker", {}).get("dockerfile", "Dockerfile")), f"skaffold.yaml {where}")
        for path in section.get("manifests", {}).get("kustomize", {}).get("paths", []):
            require_path(path, f"skaffold.yaml {where} kustomize")
    prod = profiles.get("prod", {})
    if not prod.get("build", {}).get("local", {}).get("push"):
        fail("skaffold.yaml: the prod profile must push its image")
    if "k8s/overlays/prod" not in prod.get("manifests", {}).get("kustomize", {}).get("paths", []):
        fail("skaffold.yaml: the prod profile must deploy k8s/overlays/prod")


def render(path: str) -> list[dict]:
    """The objects `kubectl kustomize` makes of an overlay; none when it cannot."""
    if not (ROOT / path).is_dir() or not shutil.which("kubectl"):
        return []
    rendered = subprocess.run(["kubectl", "kustomize", str(ROOT / path)], capture_output=True, text=True)
    if rendered.returncode != 0:
        fail(f"{path}: kubectl kustomize failed: {rendered.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(rendered.stdout) if d]


def pod_containers(documents: list[dict]) -> list[dict]:
    return [c for d in documents for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])]


def herald_containers(documents: list[dict]) -> list[dict]:
    return [c for c in pod_containers(documents) if c.get("image", "").split(":")[0] == IMAGE]


def check_overlay(name: str, workloads: list[str]) -> None:
    """Renders an overlay that exists; it must run Herald's image and the Tiltfile's workloads."""
    path = f"k8s/overlays/{name}"
    if not (ROOT / path).is_dir():
        return
    if not shutil.which("kubectl"):
        notes.append(f"{path}: kubectl absent, overlay not rendered")
        return
    documents = render(path)
    if not documents:
        return
    names = {d["metadata"]["name"] for d in documents if d.get("kind") in ("Deployment", "StatefulSet")}
    images = [c["image"] for c in pod_containers(documents)]
    if not any(i.split(":")[0] == IMAGE for i in images):
        fail(f"{path}: no container runs {IMAGE}")
    if name == "prod" and any(i.endswith(":latest") or ":" not in i.rsplit("/", 1)[-1] for i in images):
        fail(f"{path}: an image is untagged or `latest`: {images}")
    if name == "dev":
        for workload in workloads:
            if workload not in names:
                fail(f"{path}: no workload {workload}, which the Tiltfile configures")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compose-json", type=Path, required=True, help="`docker compose config --format json` output")
    args = parser.parse_args()
    check_dockerfile()
    check_compose(args.compose_json)
    workloads = check_tiltfile()
    check_skaffold()
    for overlay in ("dev", "prod"):
        check_overlay(overlay, workloads)
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    for failure in dict.fromkeys(failures):
        print(f"FAIL: {failure}", file=sys.stderr)
    if failures:
        return 1
    print("Dockerfile, docker-compose.yml, Tiltfile, skaffold.yaml: references hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
