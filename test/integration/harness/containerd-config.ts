// The configuration (version 2) of a throwaway containerd: everything under one directory of its
// own, its own sockets, nothing pulled, no network port, settings these machines need (see
// ../shared/reference/real-runtime-offline.md).
import { join } from 'node:path';

export interface ContainerdLayout {
  readonly config: string;
  readonly root: string;
  readonly state: string;
  readonly socket: string;
  readonly log: string;
}

export function planContainerdLayout(dir: string): ContainerdLayout {
  return {
    config: join(dir, 'containerd.toml'),
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    socket: join(dir, 'containerd.sock'),
    log: join(dir, 'containerd.log'),
  };
}

/** TOML basic strings: quotes and backslashes escaped. */
function quote(value: string): string {
  return JSON.stringify(value);
}

export function formatContainerdConfig(layout: ContainerdLayout, sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${quote(layout.root)}
state = ${quote(layout.state)}
# Snapshotters and tracing the sandbox never uses: less to load at start.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${quote(layout.socket)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${quote(join(layout.root, 'opt'))}

[${cri}]
  sandbox_image = ${quote(sandboxImage)}
  # Root here lacks CAP_SYS_RESOURCE: without this every RunPodSandbox fails.
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # Exec/attach streaming on loopback, on a port the kernel picks (never the fixed default).
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
  # PID 1 is not systemd on these machines: the cgroupfs driver, as kubelet's.
  SystemdCgroup = false
  Root = ${quote(join(layout.state, 'runc'))}

# Tests use host-network pods: an empty CNI configuration of the sandbox's own.
[${cri}.cni]
  bin_dir = ${quote(join(layout.root, 'cni', 'bin'))}
  conf_dir = ${quote(join(layout.root, 'cni', 'conf'))}
`;
}
