#!/usr/bin/env python3
"""A tiny CRI client: the RuntimeService calls scripts/containerd-e2e.sh makes.

    client.py --sock PATH --gen DIR COMMAND [ARGS]

DIR holds cri_api_pb2.py and cri_api_pb2_grpc.py, generated from
tests/cri/cri_api.proto with grpcio-tools. Commands (results as JSON on
stdout, errors on stderr with exit 1):

    wait-ready [SECONDS]   Version answers and Status says RuntimeReady and
                           NetworkReady (the CNI config is loaded)
    run NAME UID NAMESPACE RunPodSandbox with its own network namespace
                           (NamespaceOption network=POD); prints {"id": ...}
    status ID              PodSandboxStatus (verbose): state, ip,
                           additional_ips, the pod's netns path, CNI result
    stop ID                StopPodSandbox
    remove ID              RemovePodSandbox
    list                   ListPodSandbox: ids and states
"""

import argparse
import json
import sys
import time


def load_stubs(gen_dir):
    sys.path.insert(0, gen_dir)
    import cri_api_pb2 as pb  # noqa: E402  (generated at run time)
    import cri_api_pb2_grpc as pb_grpc  # noqa: E402
    return pb, pb_grpc


def netns_path(info):
    """The pod's network namespace path from containerd's verbose info."""
    spec = info.get("runtimeSpec") or {}
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == "network":
            return ns.get("path", "")
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--timeout", type=float, default=60.0, help="per call, seconds")
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()

    import grpc
    pb, pb_grpc = load_stubs(a.gen)
    channel = grpc.insecure_channel("unix://" + a.sock)
    rt = pb_grpc.RuntimeServiceStub(channel)
    t = a.timeout

    try:
        if a.command == "wait-ready":
            deadline = time.monotonic() + float(a.args[0] if a.args else 30)
            last = ""
            while True:
                try:
                    v = rt.Version(pb.VersionRequest(version="v1"), timeout=5)
                    st = rt.Status(pb.StatusRequest(), timeout=5)
                    conds = {c.type: c for c in st.status.conditions}
                    if all(k in conds and conds[k].status for k in ("RuntimeReady", "NetworkReady")):
                        print(json.dumps({"runtime": v.runtime_name, "version": v.runtime_version,
                                          "api": v.runtime_api_version}))
                        return 0
                    last = "; ".join(f"{c.type}={c.status} {c.reason} {c.message}".strip()
                                     for c in st.status.conditions)
                except grpc.RpcError as e:
                    last = f"{e.code().name}: {e.details()}"
                if time.monotonic() > deadline:
                    print(f"runtime not ready: {last}", file=sys.stderr)
                    return 1
                time.sleep(0.2)

        elif a.command == "run":
            name, uid, namespace = a.args
            config = pb.PodSandboxConfig(
                metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
                hostname=name,
                labels={"app": "hostdev-e2e"},
                linux=pb.LinuxPodSandboxConfig(
                    security_context=pb.LinuxSandboxSecurityContext(
                        namespace_options=pb.NamespaceOption(
                            network=pb.POD, pid=pb.POD, ipc=pb.POD))))
            r = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config), timeout=t)
            print(json.dumps({"id": r.pod_sandbox_id}))

        elif a.command == "status":
            r = rt.PodSandboxStatus(
                pb.PodSandboxStatusRequest(pod_sandbox_id=a.args[0], verbose=True), timeout=t)
            info = json.loads(r.info.get("info", "{}") or "{}")
            s = r.status
            print(json.dumps({
                "id": s.id,
                "state": pb.PodSandboxState.Name(s.state),
                "ip": s.network.ip,
                "additional_ips": [p.ip for p in s.network.additional_ips],
                "netns": netns_path(info),
                "netns_closed": info.get("netNamespaceClosed"),
                "pid": info.get("pid"),
                "cni_result": info.get("cniResult"),
            }))

        elif a.command == "stop":
            rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=a.args[0]), timeout=t)
            print("{}")

        elif a.command == "remove":
            rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=a.args[0]), timeout=t)
            print("{}")

        elif a.command == "list":
            r = rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=t)
            print(json.dumps([{"id": p.id, "state": pb.PodSandboxState.Name(p.state)}
                              for p in r.items]))

        else:
            print(f"unknown command {a.command!r}", file=sys.stderr)
            return 2
    except grpc.RpcError as e:
        print(f"{a.command}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
