# The native addon (native/). The eBPF part is built when clang, bpftool and libbpf are present
# (native/build-bpf.sh check); otherwise the addon builds without it and says so.
{
  "variables": {
    "numa_bpf%": "<!(sh native/build-bpf.sh check)"
  },
  "targets": [
    {
      "target_name": "cri_rebalancer",
      "sources": [
        "native/binding.cc",
        "native/perf_counters.cc",
        "native/page_migration.cc",
        "native/numa_bpf.cc",
        "native/durable_file.cc",
        "native/file_lock.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["numa_bpf==1", {
          "defines": ["HAVE_NUMA_BPF"],
          "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/numa_bpf"],
          "libraries": ["-lbpf"],
          "actions": [
            {
              "action_name": "numa_events_skeleton",
              "inputs": ["native/numa_events.bpf.c", "native/numa_events.h", "native/build-bpf.sh"],
              "outputs": ["<(SHARED_INTERMEDIATE_DIR)/numa_bpf/numa_events.skel.h"],
              "action": ["sh", "native/build-bpf.sh", "<(SHARED_INTERMEDIATE_DIR)/numa_bpf"],
              "message": "eBPF: vmlinux.h, numa_events.bpf.o, skeleton"
            }
          ]
        }]
      ]
    }
  ]
}
